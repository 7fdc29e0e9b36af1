/**
 * Sessions: a signed-in user lives on the server, keyed by a random session id
 * that the (signed) cookie carries. A session ends on sign-out or after an
 * idle time, which frees its name. `Sessions` is the contract; SessionStore
 * keeps them in SQLite (one instance), auth/redis-sessions.ts in Redis (a cluster).
 */
import type { Database } from "bun:sqlite";
import { AVATAR_COUNT, type User } from "../protocol";
import { guestName } from "./names";

export interface Session {
  readonly sid: string;
  readonly user: User;
  /** Comparison key of the name (see nameKey). */
  readonly nameKey: string;
  /** Last request or socket activity, ms since the epoch. */
  lastSeen: number;
  /** Open sockets; a session with sockets never expires. */
  sockets: number;
  /** `lastSeen` as last written to the database. */
  savedSeen: number;
  /** Set when the session ends; a socket opening for it is closed at once. */
  ended?: boolean;
}

export type CreateResult = { ok: true; session: Session } | { ok: false; error: "name_taken" };

/** Where sessions live. Methods that may need a network round trip return promises. */
export interface Sessions {
  /** Distinguishes stores (and so the plugins built on them) when one process runs several apps. */
  readonly instanceId: number;
  /** The live session for a cookie's session id. */
  resolve(sid: string | undefined): Promise<Session | undefined>;
  /** Starts a session for a validated name, unless a live session holds a look-alike name. */
  create(name: string, nameKey: string): Promise<CreateResult>;
  /** Ends a session: its id stops working and its name is free. */
  end(sid: string): Promise<Session | undefined>;
  /** Records activity (a request, a socket opening or closing). */
  touch(session: Session, persist?: boolean): void;
  /** Whether a user id belongs to a live session. */
  knowsUser(userId: number, done: (known: boolean) => void): void;
  /** The next free guest name, rotating 路人甲 … 路人癸, 路人甲2, … */
  offerGuestName(keyOf: (name: string) => string): Promise<string>;
  /** Ends expired sessions (periodically). */
  sweep(): void;
  /** A user's sessions were ended elsewhere (another instance): forget them here too. */
  revoked(userId: number): void;
}

interface Row {
  user_id: number;
  sid: string;
  name: string;
  name_key: string;
  image: number;
  last_seen: number;
}

/** Guest names tried for a free one before falling back to a random one (bounds the work per page view). */
const GUEST_NAME_TRIES = 200;

/** Persist `lastSeen` at most this often per session (it is also kept in memory). */
const TOUCH_PERSIST_MS = 60_000;

let instances = 0;

export class SessionStore implements Sessions {
  /** Distinguishes stores (and so the plugins built on them) when one process runs several apps. */
  readonly instanceId = ++instances;
  private readonly bySid = new Map<string, Session>();
  private readonly byNameKey = new Map<string, Session>();
  private readonly byUserId = new Map<number, Session>();
  private guestCursor = 0;
  private readonly insert;
  private readonly remove;
  private readonly touchRow;

  constructor(
    db: Database,
    private readonly idleMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.insert = db.query<{ user_id: number }, [string, string, string, number, number, number]>(
      "INSERT INTO sessions (sid, name, name_key, image, created_at, last_seen) VALUES (?, ?, ?, ?, ?, ?) RETURNING user_id",
    );
    this.remove = db.query<unknown, [string]>("DELETE FROM sessions WHERE sid = ?");
    this.touchRow = db.query<unknown, [number, string]>("UPDATE sessions SET last_seen = ? WHERE sid = ?");
    db.query<unknown, [number]>("DELETE FROM sessions WHERE last_seen < ?").run(this.now() - idleMs);
    for (const row of db.query<Row, []>("SELECT user_id, sid, name, name_key, image, last_seen FROM sessions").all())
      this.remember({
        sid: row.sid,
        user: { type: "guest", id: row.user_id, name: row.name, image: row.image },
        nameKey: row.name_key,
        lastSeen: row.last_seen,
        sockets: 0,
        savedSeen: row.last_seen,
      });
  }

  async resolve(sid: string | undefined): Promise<Session | undefined> {
    return this.get(sid);
  }

  async create(name: string, nameKey: string): Promise<CreateResult> {
    return this.createNow(name, nameKey);
  }

  async end(sid: string): Promise<Session | undefined> {
    return this.endNow(sid);
  }

  async offerGuestName(keyOf: (name: string) => string): Promise<string> {
    return this.offerGuestNameNow(keyOf);
  }

  /** `create`, synchronously. */
  createNow(name: string, nameKey: string): CreateResult {
    const holder = this.byNameKey.get(nameKey);
    if (holder && this.alive(holder)) return { ok: false, error: "name_taken" };
    if (holder) this.endNow(holder.sid);
    const sid = crypto.randomUUID();
    const now = this.now();
    const image = Math.floor(Math.random() * AVATAR_COUNT);
    const { user_id } = this.insert.get(sid, name, nameKey, image, now, now)!;
    const session: Session = {
      sid,
      user: { type: "guest", id: user_id, name, image },
      nameKey,
      lastSeen: now,
      sockets: 0,
      savedSeen: now,
    };
    this.remember(session);
    return { ok: true, session };
  }

  /** The live session for a session id, or undefined (unknown, ended or expired). */
  get(sid: string | undefined): Session | undefined {
    if (!sid) return undefined;
    const session = this.bySid.get(sid);
    if (!session) return undefined;
    if (!this.alive(session)) {
      this.endNow(sid);
      return undefined;
    }
    return session;
  }

  /** The live session of a user id. */
  byUser(userId: number): Session | undefined {
    const session = this.byUserId.get(userId);
    return session ? this.get(session.sid) : undefined;
  }

  /** Whether a user id belongs to a live session (callback: the Redis store answers asynchronously). */
  knowsUser(userId: number, done: (known: boolean) => void): void {
    done(this.byUser(userId) !== undefined);
  }

  /** Records activity (a request, a socket opening or closing); written through at most every TOUCH_PERSIST_MS. */
  touch(session: Session, persist = false): void {
    const now = this.now();
    session.lastSeen = now;
    if (persist || now - session.savedSeen >= TOUCH_PERSIST_MS) {
      this.touchRow.run(now, session.sid);
      session.savedSeen = now;
    }
  }

  /** `end`, synchronously. */
  endNow(sid: string): Session | undefined {
    const session = this.bySid.get(sid);
    if (!session) return undefined;
    session.ended = true;
    this.bySid.delete(sid);
    this.byUserId.delete(session.user.id);
    if (this.byNameKey.get(session.nameKey) === session) this.byNameKey.delete(session.nameKey);
    this.remove.run(sid);
    return session;
  }

  /** Ends every expired session; returns how many. Called periodically. */
  sweep(): number {
    let ended = 0;
    for (const session of [...this.bySid.values()])
      if (!this.alive(session)) {
        this.endNow(session.sid);
        ended++;
      }
    return ended;
  }

  /** True when no live session holds a look-alike of this name key. */
  isNameFree(nameKey: string): boolean {
    const holder = this.byNameKey.get(nameKey);
    return !holder || !this.alive(holder);
  }

  /** `offerGuestName`, synchronously. */
  offerGuestNameNow(keyOf: (name: string) => string): string {
    for (let tries = 0; tries < GUEST_NAME_TRIES; tries++) {
      const name = guestName(this.guestCursor);
      this.guestCursor = (this.guestCursor + 1) % 100_000;
      if (this.isNameFree(keyOf(name))) return name;
    }
    // Every name tried is held (a very busy server, or someone hoarding them): a random one.
    return guestName(GUEST_NAME_TRIES * 100 + Math.floor(Math.random() * 1_000_000));
  }

  revoked(): void {
    // end() already marked the session; this store is the only one that holds it.
  }

  private alive(session: Session): boolean {
    return session.sockets > 0 || this.now() - session.lastSeen < this.idleMs;
  }

  private remember(session: Session): void {
    this.bySid.set(session.sid, session);
    this.byUserId.set(session.user.id, session);
    this.byNameKey.set(session.nameKey, session);
  }
}
