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

  constructor(
    private readonly limits: GateLimits,
    /** Other instances' sockets of an account (several instances: the limit holds across them). */
    private readonly elsewhere: (userId: number) => number = () => 0,
    /** Hears this instance's socket count of an account change. */
    private readonly changed: (userId: number, count: number) => void = () => {},
  ) {}

  /** Whether one more socket for this user from this address would be let in. Has no side effect. */
  check(userId: number, ipKey: string): Refusal | undefined {
    const here = this.perUser.get(userId) ?? 0;
    const userSockets = here + this.elsewhere(userId);
    if (here === 0 && this.perUser.size >= this.limits.maxUsersOnline)
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
    const count = (this.perUser.get(userId) ?? 0) + 1;
    this.perUser.set(userId, count);
    this.perIp.set(ipKey, (this.perIp.get(ipKey) ?? 0) + 1);
    this.changed(userId, count);
    return undefined;
  }

  /** Sockets per account here. */
  socketsPerUser(): Array<[number, number]> {
    return [...this.perUser];
  }

  /** Counts a refusal given before the upgrade. */
  count(refusal: Refusal): void {
    if (refusal.error === "server_full") this.refused.serverFull++;
    else this.refused.tooManySockets++;
  }

  /** An admitted socket closed. */
  release(userId: number, ipKey: string): void {
    decrement(this.perUser, userId);
    this.changed(userId, this.perUser.get(userId) ?? 0);
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
