/**
 * Token buckets: the one rate-limiting primitive. Pure (the caller passes the
 * time), so tests drive it with a fake clock.
 */

/** A rate: `perSecond` tokens refilled continuously, at most `burst` saved up. */
export interface Rate {
  perSecond: number;
  burst: number;
}

/**
 * `burst` tokens, refilled at `perSecond`. Each action takes tokens; an action
 * that finds too few is refused and told how long to wait.
 */
export class TokenBucket {
  private tokens: number;
  private updatedAtMs: number;

  constructor(
    readonly rate: Rate,
    nowMs: number,
  ) {
    this.tokens = rate.burst;
    this.updatedAtMs = nowMs;
  }

  /** Takes `cost` tokens and returns 0, or takes nothing and returns the milliseconds until it would succeed. */
  take(nowMs: number, cost = 1): number {
    this.refill(nowMs);
    if (this.tokens >= cost) {
      this.tokens -= cost;
      return 0;
    }
    if (this.rate.perSecond <= 0 || cost > this.rate.burst) return Number.POSITIVE_INFINITY;
    return Math.max(1, Math.ceil(((cost - this.tokens) / this.rate.perSecond) * 1000));
  }

  /** True when the bucket is full again: forgetting it changes nothing. */
  isFull(nowMs: number): boolean {
    this.refill(nowMs);
    return this.tokens >= this.rate.burst;
  }

  private refill(nowMs: number): void {
    const elapsedMs = nowMs - this.updatedAtMs;
    if (elapsedMs <= 0) return;
    this.tokens = Math.min(this.rate.burst, this.tokens + (elapsedMs / 1000) * this.rate.perSecond);
    this.updatedAtMs = nowMs;
  }
}

/**
 * One bucket per key (an IP address, a user id), with bounded memory: full
 * buckets are forgotten, and past `maxKeys` the oldest keys are dropped so a
 * flood of distinct keys cannot grow the map without bound.
 */
export class KeyedRateLimiter<K> {
  private readonly buckets = new Map<K, TokenBucket>();
  private lastSweepMs = 0;

  constructor(
    readonly rate: Rate,
    private readonly maxKeys = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes a token for `key`: 0 when allowed, else the milliseconds to wait. */
  take(key: K, cost = 1): number {
    const nowMs = this.now();
    let bucket = this.buckets.get(key);
    if (!bucket) {
      if (this.buckets.size >= this.maxKeys) this.sweep(nowMs);
      this.buckets.set(key, (bucket = new TokenBucket(this.rate, nowMs)));
    } else if (nowMs - this.lastSweepMs > SWEEP_INTERVAL_MS) this.sweep(nowMs);
    return bucket.take(nowMs, cost);
  }

  /** Number of keys remembered (for tests and metrics). */
  get size(): number {
    return this.buckets.size;
  }

  private sweep(nowMs: number): void {
    this.lastSweepMs = nowMs;
    for (const [key, bucket] of this.buckets) if (bucket.isFull(nowMs)) this.buckets.delete(key);
    // Still too many: drop the oldest (Map keeps insertion order).
    for (const key of this.buckets.keys()) {
      if (this.buckets.size < this.maxKeys) break;
      this.buckets.delete(key);
    }
  }
}

/** How often a KeyedRateLimiter forgets its full buckets. */
const SWEEP_INTERVAL_MS = 60_000;

/** A limit as the services ask it (one instance's, or shared by several through Redis: bus/rate.ts). */
export interface RateLimit<K> {
  /** Takes a token for a key: 0 when allowed, else the milliseconds to wait. */
  take(key: K): Promise<number>;
}

/** One instance's limit as a RateLimit. */
export const localRate = <K>(limiter: KeyedRateLimiter<K>): RateLimit<K> => ({
  take: async (key) => limiter.take(key),
});
