/**
 * Rate limits that hold across instances: one token bucket per key in Redis,
 * taken by a script (atomic, timed by Redis's clock, so instances' clocks do
 * not matter). Keys expire once their bucket would be full again: Redis keeps
 * nothing that matters. While Redis is unreachable each instance falls back
 * to its own bucket, so a limit is never lifted, only no longer shared.
 */
import type { KeyedRateLimiter, Rate, RateLimit } from "../security/rate";

/** What the shared limit needs of Redis: one command (null while Redis is unreachable). */
export type RedisCommand = (command: string, args: string[]) => Promise<unknown> | null;

// KEYS[1]: the bucket. ARGV: tokens per ms, burst. Returns 0, or the ms to wait.
const TAKE = `
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local saved = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(saved[1]) or burst, tonumber(saved[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
if tokens < 1 then return math.max(1, math.ceil((1 - tokens) / rate)) end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - 1), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate))
return 0`;

export class SharedRate<K extends string | number> implements RateLimit<K> {
  constructor(
    /** Names the limit in its keys (`<prefix>rate:<name>:<key>`). */
    private readonly name: string,
    private readonly rate: Rate,
    private readonly redis: RedisCommand,
    /** This instance's own limit, used while Redis is unreachable. */
    private readonly fallback: KeyedRateLimiter<K>,
    /** The deployment's key prefix (`teahouse:<epoch>:`). */
    private readonly prefix: () => string = () => "teahouse:",
  ) {}

  async take(key: K): Promise<number> {
    const perMs = this.rate.perSecond / 1000;
    if (perMs <= 0) return this.fallback.take(key);
    const answer = this.redis("EVAL", [
      TAKE,
      "1",
      `${this.prefix()}rate:${this.name}:${key}`,
      String(perMs),
      String(this.rate.burst),
    ]);
    if (!answer) return this.fallback.take(key);
    try {
      return Number(await answer);
    } catch {
      return this.fallback.take(key);
    }
  }
}
