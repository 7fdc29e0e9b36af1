/**
 * The connection registry of this instance: which accounts have sockets here,
 * through which sessions, and which conversations each online account is in
 * (its memberships, loaded when its first socket opens). Every socket of an
 * account is in all of that account's conversations: membership belongs to
 * the account, not to a tab. Sign-out (one session, or all), name holding
 * and presence read it; nothing else counts sockets per account.
 */
import type { ServerWebSocket } from "bun";
import type { User } from "../protocol";
import { SERVER_ROLES, type ServerRole } from "../domain/policy";
import type { Memberships } from "./memberships";

/** An online account: its sockets here and its conversations. */
export interface OnlineAccount {
  user: User;
  /** Its server role (domain/policy.ts), as of its latest socket open. */
  role: ServerRole;
  /**
   * Its open sockets here, oldest first: an array (most accounts have one, and a Set costs ~250 bytes
   * more), replaced rather than changed, so a loop over it that awaits is not disturbed.
   */
  sockets: readonly Socket[];
  /** Every membership (rooms and direct). */
  conversations: Memberships;
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
    load: () => Memberships,
    role: ServerRole = user.type,
  ): { account: OnlineAccount; first: boolean } {
    // The literal, not the store's copy of it: it is kept for every account online.
    role = SERVER_ROLES.find((known) => known === role) ?? role;
    let account = this.accounts.get(user.id);
    const first = account === undefined;
    if (!account) {
      account = { user, role, sockets: [], conversations: load() };
      this.accounts.set(user.id, account);
    }
    account.role = role;
    account.sockets = adding(account.sockets, ws);
    ws.data.account = account;
    return { account, first };
  }

  /** Unregisters a socket; `last`: the account has no socket left here. */
  remove(ws: Socket): { account: OnlineAccount; last: boolean } | undefined {
    const account = ws.data.account;
    if (!account?.sockets.includes(ws)) return undefined;
    account.sockets = account.sockets.filter((other) => other !== ws);
    if (account.sockets.length > 0) return { account, last: false };
    this.accounts.delete(account.user.id);
    return { account, last: true };
  }

  /**
   * Sessions with a socket open here. Found from the sockets (each knows its session) rather than
   * kept in a map, which would cost every socket ~120 bytes for what housekeeping asks once a minute.
   */
  sessionIds(): string[] {
    const sids = new Set<string>();
    for (const account of this.accounts.values()) for (const ws of account.sockets) sids.add(ws.data.sid);
    return [...sids];
  }

  /** Calls `visit` with every socket here (no iterator per account: the slow-consumer watch asks 4 times a second). */
  forEachSocket(visit: (ws: Socket) => void): void {
    for (const account of this.accounts.values()) for (const ws of account.sockets) visit(ws);
  }

  /** Sends an encoded frame to every open socket of an account here; returns how many it went to. */
  send(accountId: number, text: string): number {
    let sent = 0;
    for (const ws of this.accounts.get(accountId)?.sockets ?? [])
      if (ws.readyState === 1) {
        ws.send(text);
        sent++;
      }
    return sent;
  }

  /** Sends an encoded frame to every open socket here; returns how many it went to. */
  sendAll(text: string): number {
    let sent = 0;
    for (const accountId of this.accounts.keys()) sent += this.send(accountId, text);
    return sent;
  }

  /** Closes every socket of these sessions (one pass over the sockets, however many sessions). */
  closeSessions(sids: readonly string[], code: number, reason: string): void {
    const ending = new Set(sids);
    for (const account of [...this.accounts.values()])
      for (const ws of account.sockets) if (ending.has(ws.data.sid)) ws.close(code, reason);
  }

  /** Closes every socket of an account. */
  closeAccount(accountId: number, code: number, reason: string): void {
    for (const ws of this.accounts.get(accountId)?.sockets ?? []) ws.close(code, reason);
  }

  closeAll(code: number, reason: string): void {
    for (const account of [...this.accounts.values()]) for (const ws of account.sockets) ws.close(code, reason);
  }

  get connectionCount(): number {
    let count = 0;
    for (const account of this.accounts.values()) count += account.sockets.length;
    return count;
  }

  get usersOnline(): number {
    return this.accounts.size;
  }
}

/** The list with the socket added at its end (unless in it already). */
const adding = (sockets: readonly Socket[], ws: Socket): readonly Socket[] =>
  sockets.includes(ws) ? sockets : [...sockets, ws];
