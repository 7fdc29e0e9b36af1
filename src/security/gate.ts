/**
 * The door of the chat socket: how many sockets one user and one address may
 * hold, and how many users may be online at once. Checked before the upgrade
 * (so a refusal is a plain HTTP answer) and counted when the socket opens
 * (the check and the open are not atomic: two upgrades can pass the check
 * together, so `admit` checks again and the loser is closed with 1013).
 */
import { CloseCode } from "../protocol";

export interface GateLimits {
  /** Open sockets one user (one session) may have: tabs and devices. */
  maxSocketsPerUser: number;
  /** Open sockets from one address (see limitKey): a NAT holds many users. */
  maxSocketsPerIp: number;
  /** Users with at least one open socket; a user already online may always open another tab. */
  maxUsersOnline: number;
}

/** Why a socket is not let in: the HTTP answer before the upgrade, the close code after it. */
export interface Refusal {
  status: 429 | 503;
  error: "too_many_sockets" | "server_full";
  message: string;
  /** Close code when the refusal comes after the socket opened (a lost race). */
  closeCode: number;
  /** Seconds for `Retry-After`. */
  retryAfterSeconds: number;
}

/** What a refused client is told to wait, in seconds. */
const RETRY_AFTER_S = 30;

export class ConnectionGate {
  private readonly perUser = new Map<number, number>();
  private readonly perIp = new Map<string, number>();
  /** Sockets refused so far, by reason (a metric). */
  readonly refused = { tooManySockets: 0, serverFull: 0 };

  constructor(private readonly limits: GateLimits) {}

  /** Whether one more socket for this user from this address would be let in. Has no side effect. */
  check(userId: number, ipKey: string): Refusal | undefined {
    const userSockets = this.perUser.get(userId) ?? 0;
    if (userSockets === 0 && this.perUser.size >= this.limits.maxUsersOnline)
      return {
        status: 503,
        error: "server_full",
        message: "The server is full; try again later",
        closeCode: CloseCode.TryAgainLater,
        retryAfterSeconds: RETRY_AFTER_S,
      };
    if (userSockets >= this.limits.maxSocketsPerUser)
      return tooMany(`At most ${this.limits.maxSocketsPerUser} open sockets per user; close a tab`);
    if ((this.perIp.get(ipKey) ?? 0) >= this.limits.maxSocketsPerIp)
      return tooMany(`At most ${this.limits.maxSocketsPerIp} open sockets per address`);
    return undefined;
  }

  /** Counts a socket in, unless over a limit (then nothing is counted and the refusal says why). */
  admit(userId: number, ipKey: string): Refusal | undefined {
    const refusal = this.check(userId, ipKey);
    if (refusal) {
      this.count(refusal);
      return refusal;
    }
    this.perUser.set(userId, (this.perUser.get(userId) ?? 0) + 1);
    this.perIp.set(ipKey, (this.perIp.get(ipKey) ?? 0) + 1);
    return undefined;
  }

  /** Counts a refusal given before the upgrade. */
  count(refusal: Refusal): void {
    if (refusal.error === "server_full") this.refused.serverFull++;
    else this.refused.tooManySockets++;
  }

  /** An admitted socket closed. */
  release(userId: number, ipKey: string): void {
    decrement(this.perUser, userId);
    decrement(this.perIp, ipKey);
  }

  /** Users with an open socket. */
  get usersOnline(): number {
    return this.perUser.size;
  }

  /** Distinct addresses with an open socket. */
  get addresses(): number {
    return this.perIp.size;
  }
}

const tooMany = (message: string): Refusal => ({
  status: 429,
  error: "too_many_sockets",
  message,
  closeCode: CloseCode.TryAgainLater,
  retryAfterSeconds: RETRY_AFTER_S,
});

const decrement = <K>(map: Map<K, number>, key: K): void => {
  const count = map.get(key) ?? 0;
  if (count <= 1) map.delete(key);
  else map.set(key, count - 1);
};
