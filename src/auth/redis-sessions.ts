/**
 * Sessions in Redis, for a cluster: any instance can check any cookie, names
 * are unique across the cluster, and sign-out revokes everywhere (the broker
 * closes the user's sockets on every instance). Each session's keys expire
 * after the idle time; instances renew the keys of sessions with open sockets.
 */
import type { RedisClient } from "bun";
import { AVATAR_COUNT, type User } from "../protocol";
import { guestName } from "./names";
import type { CreateResult, Session, Sessions } from "./sessions";
import { KEY_PREFIX } from "../broker/redis";

const K = {
  session: (sid: string) => `${KEY_PREFIX}session:${sid}`,
  name: (nameKey: string) => `${KEY_PREFIX}name:${nameKey}`,
  user: (userId: number) => `${KEY_PREFIX}user:${userId}`,
  userId: `${KEY_PREFIX}userid`,
};

/** Renew a session's keys at most this often per request; sessions with sockets are renewed by `sweep`. */
const TOUCH_PERSIST_MS = 60_000;

// Takes the name unless a live session holds it; then writes the session, name and user keys with one TTL.
const CREATE_SCRIPT = `
local holder = redis.call('GET', KEYS[1])
if holder and redis.call('EXISTS', ARGV[4] .. 'session:' .. holder) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[3])
return 1`;

// Deletes a session's keys (the name key only if it still points to this session).
const END_SCRIPT = `
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
redis.call('DEL', KEYS[1], KEYS[3])
return 1`;

let instances = 0;

interface Stored {
  user: User;
  nameKey: string;
}

export class RedisSessions implements Sessions {
  readonly instanceId = 1_000_000 + ++instances;
  /** Sessions this instance holds objects for (so socket counts stay on one object). */
  private readonly local = new Map<string, Session>();
  private guestCursor = 0;

  constructor(
    /** The broker's command connection (throws a 503 error while Redis is down). */
    private readonly redis: () => RedisClient,
    private readonly idleMs: number,
  ) {}

  async resolve(sid: string | undefined): Promise<Session | undefined> {
    if (!sid) return undefined;
    const json = (await this.redis().get(K.session(sid))) as string | null;
    if (!json) {
      const stale = this.local.get(sid);
      if (stale) stale.ended = true;
      this.local.delete(sid);
      return undefined;
    }
    const known = this.local.get(sid);
    if (known) return known;
    const stored = JSON.parse(json) as Stored;
    const now = Date.now();
    const session: Session = {
      sid,
      user: stored.user,
      nameKey: stored.nameKey,
      lastSeen: now,
      savedSeen: now,
      sockets: 0,
    };
    this.local.set(sid, session);
    return session;
  }

  async create(name: string, nameKey: string): Promise<CreateResult> {
    const redis = this.redis();
    const id = Number(await redis.incr(K.userId));
    const sid = crypto.randomUUID();
    const user: User = { type: "guest", id, name, image: Math.floor(Math.random() * AVATAR_COUNT) };
    const created = (await redis.send("EVAL", [
      CREATE_SCRIPT,
      "3",
      K.name(nameKey),
      K.session(sid),
      K.user(id),
      sid,
      JSON.stringify({ user, nameKey } satisfies Stored),
      String(this.idleMs),
      KEY_PREFIX,
    ])) as number;
    if (created !== 1) return { ok: false, error: "name_taken" };
    const now = Date.now();
    const session: Session = { sid, user, nameKey, lastSeen: now, savedSeen: now, sockets: 0 };
    this.local.set(sid, session);
    return { ok: true, session };
  }

  async end(sid: string): Promise<Session | undefined> {
    const session = this.local.get(sid) ?? (await this.resolve(sid));
    if (!session) return undefined;
    session.ended = true;
    this.local.delete(sid);
    await this.redis().send("EVAL", [
      END_SCRIPT,
      "3",
      K.session(sid),
      K.name(session.nameKey),
      K.user(session.user.id),
      sid,
    ]);
    return session;
  }

  touch(session: Session, persist = false): void {
    const now = Date.now();
    session.lastSeen = now;
    if (!persist && now - session.savedSeen < TOUCH_PERSIST_MS) return;
    session.savedSeen = now;
    this.renew(session);
  }

  knowsUser(userId: number, done: (known: boolean) => void): void {
    let redis: RedisClient;
    try {
      redis = this.redis();
    } catch {
      return done(false);
    }
    redis.exists(K.user(userId)).then(done, () => done(false));
  }

  async offerGuestName(keyOf: (name: string) => string): Promise<string> {
    const redis = this.redis();
    for (let tries = 0; ; tries++) {
      const name = guestName(this.guestCursor);
      this.guestCursor = (this.guestCursor + 1) % 100_000;
      const holder = (await redis.get(K.name(keyOf(name)))) as string | null;
      if (!holder || tries > 200 || !(await redis.exists(K.session(holder)))) return name;
    }
  }

  revoked(userId: number): void {
    for (const [sid, session] of this.local)
      if (session.user.id === userId) {
        session.ended = true;
        this.local.delete(sid);
      }
  }

  /** Renews the keys of sessions with open sockets (they never expire while connected); forgets idle objects. */
  sweep(): void {
    for (const [sid, session] of this.local) {
      if (session.sockets > 0) this.renew(session);
      else if (Date.now() - session.lastSeen > this.idleMs) this.local.delete(sid);
    }
  }

  private renew(session: Session): void {
    try {
      const redis = this.redis();
      const ttl = String(this.idleMs);
      void redis.send("PEXPIRE", [K.session(session.sid), ttl]).catch(() => {});
      void redis.send("PEXPIRE", [K.name(session.nameKey), ttl]).catch(() => {});
      void redis.send("PEXPIRE", [K.user(session.user.id), ttl]).catch(() => {});
    } catch {
      // Redis is down: the session is renewed on the next sweep after it returns.
    }
  }
}
