/**
 * The connection registry of this instance: which accounts have sockets here,
 * through which sessions, and which conversations each online account is in
 * (its memberships, loaded when its first socket opens). Every socket of an
 * account is in all of that account's conversations: membership belongs to
 * the account, not to a tab. Sign-out (one session, or all), name holding
 * and presence read it; nothing else counts sockets per account.
 */
import type { ServerWebSocket } from "bun";
import type { Conversation } from "../domain/model";
import type { User } from "../protocol";
import type { ServerRole } from "../domain/policy";

/** An online account: its sockets here and its conversations. */
export interface OnlineAccount {
  user: User;
  /** Its server role (domain/policy.ts), as of its latest socket open. */
  role: ServerRole;
  sockets: Set<Socket>;
  /** Conversation id → conversation, for every membership (rooms and direct). */
  conversations: Map<number, Conversation>;
  /** Room name → conversation id (the rooms among `conversations`). */
  rooms: Map<string, number>;
  /** Other account id → direct conversation id. */
  directs: Map<number, number>;
}

/** Per-socket state (the socket's `data`): small on purpose, it is multiplied by every connection. */
export interface ConnectionState {
  readonly sid: string;
  account: OnlineAccount | undefined;
  lastTypingAt: number;
  /** Frames of this socket are handled one after another: the last pending one (null: none). */
  queue: Promise<void> | null;
  /** Set once the socket closed: queued work for it stops. */
  closed: boolean;
  /** Its page said it is not in front of its reader (`visibility`): pushes may go to the account. */
  hidden: boolean;
}

export type Socket = ServerWebSocket<ConnectionState & { message(ws: Socket, m: string | Buffer): void }>;

export class ConnectionRegistry {
  private readonly accounts = new Map<number, OnlineAccount>();
  private readonly sessions = new Map<string, Set<Socket>>();

  /** The online account, if it has a socket here. */
  get(accountId: number): OnlineAccount | undefined {
    return this.accounts.get(accountId);
  }

  isOnline(accountId: number): boolean {
    return this.accounts.has(accountId);
  }

  /** Whether a socket of the account here has its page in front of its reader. */
  isVisible(accountId: number): boolean {
    for (const ws of this.accounts.get(accountId)?.sockets ?? []) if (!ws.data.hidden) return true;
    return false;
  }

  /**
   * Registers a socket. `load` gives the account's state when this is its first socket here.
   * Returns the account and whether this socket made it come online.
   */
  add(
    ws: Socket,
    user: User,
    load: () => Omit<OnlineAccount, "user" | "sockets" | "role">,
    role: ServerRole = user.type,
  ): { account: OnlineAccount; first: boolean } {
    let account = this.accounts.get(user.id);
    const first = account === undefined;
    if (!account) {
      account = { user, role, sockets: new Set(), ...load() };
      this.accounts.set(user.id, account);
    }
    account.role = role;
    account.sockets.add(ws);
    ws.data.account = account;
    const sockets = this.sessions.get(ws.data.sid);
    if (sockets) sockets.add(ws);
    else this.sessions.set(ws.data.sid, new Set([ws]));
    return { account, first };
  }

  /** Unregisters a socket; `last`: the account has no socket left here. */
  remove(ws: Socket): { account: OnlineAccount; last: boolean } | undefined {
    const account = ws.data.account;
    if (!account || !account.sockets.delete(ws)) return undefined;
    const sockets = this.sessions.get(ws.data.sid);
    if (sockets?.delete(ws) && sockets.size === 0) this.sessions.delete(ws.data.sid);
    if (account.sockets.size > 0) return { account, last: false };
    this.accounts.delete(account.user.id);
    return { account, last: true };
  }

  /** Sessions with a socket open here. */
  sessionIds(): string[] {
    return [...this.sessions.keys()];
  }

  /** Closes every socket of one session. */
  closeSession(sid: string, code: number, reason: string): void {
    for (const ws of [...(this.sessions.get(sid) ?? [])]) ws.close(code, reason);
  }

  /** Closes every socket of an account. */
  closeAccount(accountId: number, code: number, reason: string): void {
    for (const ws of [...(this.accounts.get(accountId)?.sockets ?? [])]) ws.close(code, reason);
  }

  closeAll(code: number, reason: string): void {
    for (const account of [...this.accounts.values()]) for (const ws of [...account.sockets]) ws.close(code, reason);
  }

  get connectionCount(): number {
    let count = 0;
    for (const account of this.accounts.values()) count += account.sockets.size;
    return count;
  }

  get usersOnline(): number {
    return this.accounts.size;
  }
}
