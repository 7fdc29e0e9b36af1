/**
 * Flood control for chat frames: a token bucket per connection and one per
 * user (shared by the user's tabs), and a third that counts refusals — a
 * client that keeps sending after being told to wait is closed as abusive.
 */
import { TokenBucket, type Rate } from "./rate";

export interface FloodLimits {
  /** Frames one socket may send. */
  perConnection: Rate;
  /** Frames one user may send over all their sockets. */
  perUser: Rate;
  /** Refused frames tolerated (burst) and forgiven per second; past that the socket is closed (4008). */
  strikes: Rate;
}

/** A frame is refused: wait `retryMs`; `abusive` means close the socket instead of answering. */
export type Verdict = { ok: true } | { ok: false; retryMs: number; abusive: boolean };

const ALLOWED: Verdict = { ok: true };

/** A user's bucket, and how many of its sockets share it. */
class UserBucket extends TokenBucket {
  sockets = 0;
}

/** Hands out one FloodGuard per socket; per-user buckets live while the user has a socket. */
export class FloodControl {
  private readonly users = new Map<number, UserBucket>();
  /** Frames refused and sockets closed for abuse so far (metrics). */
  readonly stats = { rateLimited: 0, abusiveClosed: 0 };

  constructor(
    readonly limits: FloodLimits,
    private readonly now: () => number = Date.now,
  ) {}

  /** A socket of `userId` opened; call `release()` on the guard when it closes. */
  guard(userId: number): FloodGuard {
    const nowMs = this.now();
    let user = this.users.get(userId);
    if (!user) this.users.set(userId, (user = new UserBucket(this.limits.perUser, nowMs)));
    user.sockets++;
    return new FloodGuard(this, userId, user, nowMs);
  }

  /** Users with a bucket (for tests: must return to 0 once everybody left). */
  get trackedUsers(): number {
    return this.users.size;
  }

  /** @internal */
  release(userId: number): void {
    const user = this.users.get(userId);
    if (user && --user.sockets <= 0) this.users.delete(userId);
  }

  /** @internal */
  clock(): number {
    return this.now();
  }
}

/**
 * One socket's guard: itself the socket's bucket (one object per socket, not one per bucket). The
 * strikes bucket is made at the first refusal: a bucket untouched since the socket opened would be
 * full then anyway, and most sockets are never refused.
 */
export class FloodGuard extends TokenBucket {
  private strikes: TokenBucket | undefined = undefined;
  private released = false;

  constructor(
    private readonly control: FloodControl,
    private readonly userId: number,
    private readonly user: TokenBucket,
    nowMs: number,
  ) {
    super(control.limits.perConnection, nowMs);
  }

  /** Spends `cost` tokens for one frame, or refuses it. */
  check(cost = 1): Verdict {
    const nowMs = this.control.clock();
    const retryMs = this.take(nowMs, cost) || this.user.take(nowMs, cost);
    if (retryMs === 0) return ALLOWED;
    this.control.stats.rateLimited++;
    this.strikes ??= new TokenBucket(this.control.limits.strikes, nowMs);
    const abusive = this.strikes.take(nowMs) > 0;
    if (abusive) this.control.stats.abusiveClosed++;
    return { ok: false, retryMs: Number.isFinite(retryMs) ? retryMs : 60_000, abusive };
  }

  /** The socket closed. Idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.control.release(this.userId);
  }
}
