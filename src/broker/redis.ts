/**
 * The Redis broker: several teahouse instances share one Redis.
 *
 * - Messages: one Lua script assigns the id (INCR), drops a duplicate `cid`,
 *   appends the frame to the room's (or both users') stream, and PUBLISHes it
 *   on one channel. Scripts run atomically, so ids are delivered in order on
 *   every instance; each instance, the sender's included, delivers what comes
 *   back from Redis — exactly once per instance.
 * - Presence: per-scope hashes of user id → socket count across the cluster,
 *   plus each instance's own contribution, so the contribution of an instance
 *   that died without saying goodbye is removed (by any other instance) once
 *   its heartbeat key expires.
 * - History: Redis Streams with entry ids `<message id>-1`, capped (MAXLEN ~).
 *
 * Only a single Redis (or a primary) is supported: scripts touch keys they
 * compute, which Redis Cluster does not allow.
 */
import { RedisClient } from "bun";
import type { User } from "../protocol";
import type { Logger } from "../log";
import { roomTopic } from "../chat/topics";
import {
  encodeMessage,
  ONLINE_SCOPE,
  type Broker,
  type Gap,
  type OutgoingMessage,
  type Page,
  type RoomCount,
  type SendResult,
  type StoredFrame,
} from "./broker";

/** Prefix of every key and channel. */
export const KEY_PREFIX = "teahouse:";
const K = {
  msgId: `${KEY_PREFIX}msgid`,
  cid: (senderId: number, cid: string) => `${KEY_PREFIX}cid:${senderId}:${cid}`,
  roomStream: (room: string) => `${KEY_PREFIX}room:${room}`,
  privateStream: (userId: number) => `${KEY_PREFIX}private:${userId}`,
  rooms: `${KEY_PREFIX}rooms`,
  presence: (scope: string) => `${KEY_PREFIX}presence:${scope}`,
  users: `${KEY_PREFIX}users`,
  instances: `${KEY_PREFIX}instances`,
  instancePresence: (id: string) => `${KEY_PREFIX}instance:${id}:presence`,
  instanceAlive: (id: string) => `${KEY_PREFIX}instance:${id}:alive`,
  deliver: `${KEY_PREFIX}deliver`,
  control: `${KEY_PREFIX}control`,
};

/** How often an instance renews its heartbeat and looks for dead ones. */
export const HEARTBEAT_INTERVAL_MS = 2000;
/** An instance whose heartbeat is older than this is dead: its users leave. Bound: this + one interval. */
export const HEARTBEAT_TTL_MS = 6000;
/** How long a `cid` is remembered for deduplication. */
const CID_TTL_SECONDS = 24 * 3600;
/** Time between reconnection attempts while Redis is down. */
const RECONNECT_INTERVAL_MS = 1000;
/** Most entries scanned to find one conversation in a user's private stream. */
const PRIVATE_SCAN = 2000;

const SEND_SCRIPT = `
if KEYS[2] ~= '' then
  local existing = redis.call('GET', KEYS[2])
  if existing then return {tonumber(existing), 1} end
end
local id = redis.call('INCR', KEYS[1])
local frame = '{"id":' .. id .. string.sub(ARGV[1], 8)
local maxlen = tonumber(ARGV[4])
if maxlen >= 0 then
  for i = 3, #KEYS do
    if maxlen > 0 then
      redis.call('XADD', KEYS[i], 'MAXLEN', '~', maxlen, id .. '-1', 'f', frame, 'o', ARGV[3 + i])
    else
      redis.call('XADD', KEYS[i], id .. '-1', 'f', frame, 'o', ARGV[3 + i])
    end
  end
end
if KEYS[2] ~= '' then redis.call('SET', KEYS[2], id, 'EX', ARGV[5]) end
redis.call('PUBLISH', ARGV[2], 'm' .. id .. '\\n' .. ARGV[3] .. frame)
return {id, 0}`;

const JOIN_SCRIPT = `
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
return n`;

const LEAVE_SCRIPT = `
local mine = tonumber(redis.call('HGET', KEYS[2], ARGV[2]) or '0')
if mine <= 0 then return -1 end
if mine == 1 then redis.call('HDEL', KEYS[2], ARGV[2]) else redis.call('HINCRBY', KEYS[2], ARGV[2], -1) end
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if n <= 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
  -- No socket anywhere any more: the user's entry (kept for member lists) goes too.
  if ARGV[3] == '1' then redis.call('HDEL', KEYS[3], ARGV[1]) end
  return 0
end
return n`;

// Removes a dead (or, forced, this restarting) instance's presence; returns the
// (scope, user id) pairs whose last socket that was.
const REAP_SCRIPT = `
if ARGV[3] ~= 'force' and redis.call('EXISTS', KEYS[3]) == 1 then return {} end
local entries = redis.call('HGETALL', KEYS[1])
local left = {}
for i = 1, #entries, 2 do
  local field, count = entries[i], tonumber(entries[i + 1])
  local tab = string.find(field, '\\t', 1, true)
  local scope, user = string.sub(field, 1, tab - 1), string.sub(field, tab + 1)
  local key = ARGV[2] .. 'presence:' .. scope
  local n = redis.call('HINCRBY', key, user, -count)
  if n <= 0 then
    redis.call('HDEL', key, user)
    table.insert(left, scope)
    table.insert(left, user)
  end
end
redis.call('DEL', KEYS[1])
if ARGV[3] ~= 'force' then redis.call('SREM', KEYS[2], ARGV[1]) end
return left`;

export interface RedisBrokerDeps {
  url: string;
  /** Keep history (streams); false: relay only. */
  history: boolean;
  /** Stream cap per room and per user's private messages (0 = none). */
  maxPerStream: number;
  /** Bun's `server.publish`. */
  deliver: (topic: string, text: string) => void;
  /** Closes a user's sockets on this instance. */
  onRevoke: (userId: number) => void;
  /** Redis went away: close this instance's sockets with a retryable code. */
  onDown: () => void;
  /** Makes a `left` frame for a user whose last socket was on a dead instance. */
  encodeLeft: (user: User, room: string) => string;
  log: Logger;
  /** Identifies this instance (default: random). */
  instanceId?: string;
}

type StreamEntry = [string, string[]];

export class RedisBroker implements Broker {
  readonly instanceId: string;
  lastDeliveredId = 0;
  private pub: RedisClient | null = null;
  private sub: RedisClient | null = null;
  private up = false;
  private closing = false;
  private heartbeat: Timer | undefined;
  private reconnecting: Timer | undefined;
  private firstConnection: Promise<void> | undefined;
  /** SHA1 of SEND_SCRIPT as loaded into Redis (undefined: not loaded, send the script itself). */
  private sendScriptSha: string | undefined;
  /** Sends whose id came back before the message itself did: acknowledged once delivered here too. */
  private readonly awaitingDelivery = new Map<number, () => void>();

  constructor(private readonly deps: RedisBrokerDeps) {
    this.instanceId = deps.instanceId ?? crypto.randomUUID().slice(0, 12);
  }

  get history(): boolean {
    return this.deps.history;
  }

  /** The command connection, for other Redis-backed parts (sessions). Throws while Redis is down. */
  client(): RedisClient {
    if (!this.pub || !this.up) throw unavailable();
    return this.pub;
  }

  ready(): boolean {
    return this.up;
  }

  /**
   * Connects, and keeps reconnecting whenever Redis is unreachable. Resolves
   * on the first successful connection; until then the broker is not ready.
   */
  start(): Promise<void> {
    this.firstConnection ??= new Promise<void>((resolve) => {
      const attempt = () =>
        this.connect().then(resolve, (error) => {
          this.deps.log.warn("redis.connect_failed", { error: String((error as Error)?.message ?? error) });
          if (!this.closing) this.reconnecting = setTimeout(attempt, RECONNECT_INTERVAL_MS);
        });
      attempt();
    });
    return this.firstConnection;
  }

  /** Opens both connections, subscribes, clears what this instance left behind, and starts the heartbeat. */
  private async connect(): Promise<void> {
    const options = { autoReconnect: false, enableOfflineQueue: false, connectionTimeout: 3000 };
    const pub = new RedisClient(this.deps.url, options);
    let sub: RedisClient | undefined;
    try {
      await pub.connect();
      sub = await pub.duplicate();
      // Named, so `CLIENT LIST` tells which instance a connection belongs to.
      await pub.send("CLIENT", ["SETNAME", `teahouse-${this.instanceId}`]);
      await sub.send("CLIENT", ["SETNAME", `teahouse-${this.instanceId}-sub`]);
      await sub.subscribe([K.deliver, K.control], (message, channel) =>
        channel === K.deliver ? this.onDeliver(message) : this.onControl(message),
      );
    } catch (error) {
      pub.close();
      sub?.close();
      throw error;
    }
    this.pub = pub;
    this.sub = sub;
    pub.onclose = sub.onclose = () => this.down();
    // Anything this instance registered before (it restarted, or Redis blinked) is stale: its sockets are gone.
    await this.reap(this.instanceId, true);
    this.lastDeliveredId = Math.max(this.lastDeliveredId, Number((await pub.get(K.msgId)) ?? 0));
    this.sendScriptSha = (await pub.send("SCRIPT", ["LOAD", SEND_SCRIPT])) as string;
    await this.beat();
    this.up = true;
    this.heartbeat = setInterval(() => void this.beat().catch(() => {}), HEARTBEAT_INTERVAL_MS);
    this.deps.log.info("redis.connected", { instance: this.instanceId });
  }

  private down(): void {
    if (!this.up && this.reconnecting) return;
    const wasUp = this.up;
    this.up = false;
    // Unacknowledged sends may or may not be stored: clients resend them with their cid.
    this.awaitingDelivery.clear();
    clearInterval(this.heartbeat);
    for (const client of [this.pub, this.sub]) {
      if (!client) continue;
      client.onclose = null;
      client.close();
    }
    this.pub = this.sub = null;
    if (this.closing) return;
    if (wasUp) {
      this.deps.log.error("redis.down", { instance: this.instanceId });
      this.deps.onDown();
    }
    this.reconnecting = setTimeout(() => {
      this.reconnecting = undefined;
      this.connect().catch((error) => {
        this.deps.log.warn("redis.reconnect_failed", { error: String((error as Error)?.message ?? error) });
        this.down();
      });
    }, RECONNECT_INTERVAL_MS);
  }

  private async beat(): Promise<void> {
    const pub = this.pub;
    if (!pub) return;
    await pub.send("SET", [K.instanceAlive(this.instanceId), String(Date.now()), "PX", String(HEARTBEAT_TTL_MS)]);
    const added = (await pub.send("SADD", [K.instances, this.instanceId])) as number;
    if (added === 1 && this.up) {
      // Another instance took this one for dead (it missed heartbeats) and removed its presence:
      // its users are "left" everywhere. Close the sockets so clients reconnect and register again.
      this.deps.log.warn("redis.presence_lost", { instance: this.instanceId });
      this.deps.onDown();
    }
    const instances = (await pub.send("SMEMBERS", [K.instances])) as string[];
    for (const id of instances) if (id !== this.instanceId) await this.reap(id, false);
  }

  /** Removes an instance's presence (if dead, or forced for this one) and announces who left. */
  private async reap(instanceId: string, force: boolean): Promise<void> {
    const pub = this.pub!;
    const left = (await pub.send("EVAL", [
      REAP_SCRIPT,
      "3",
      K.instancePresence(instanceId),
      K.instances,
      K.instanceAlive(instanceId),
      instanceId,
      KEY_PREFIX,
      force ? "force" : "",
    ])) as string[];
    for (let i = 0; i < left.length; i += 2) {
      const scope = left[i]!;
      if (scope === ONLINE_SCOPE) continue;
      const json = (await pub.send("HGET", [K.users, left[i + 1]!])) as string | null;
      if (!json) continue;
      const user = JSON.parse(json) as User;
      // Directly on this connection: on reconnect this runs before the broker is marked up.
      await pub.send("PUBLISH", [K.deliver, `e${header([roomTopic(scope)])}${this.deps.encodeLeft(user, scope)}`]);
    }
    if (left.length > 0 && !force)
      this.deps.log.warn("redis.instance_reaped", { instance: instanceId, left: left.length / 2 });
  }

  private onDeliver(payload: string): void {
    // `m<id>\n` (messages) or `e` (events), then `<n>\n`, n topic lines, and the frame.
    let at = 1;
    if (payload.charCodeAt(0) === 109 /* m */) {
      const end = payload.indexOf("\n");
      const id = Number(payload.slice(1, end));
      if (id > this.lastDeliveredId) this.lastDeliveredId = id;
      at = end + 1;
    }
    const countEnd = payload.indexOf("\n", at);
    const count = Number(payload.slice(at, countEnd));
    at = countEnd + 1;
    const topics: string[] = [];
    for (let i = 0; i < count; i++) {
      const end = payload.indexOf("\n", at);
      topics.push(payload.slice(at, end));
      at = end + 1;
    }
    const frame = payload.slice(at);
    for (const topic of topics) this.deps.deliver(topic, frame);
    if (this.awaitingDelivery.size > 0) {
      const done = this.awaitingDelivery.get(this.lastDeliveredId);
      if (done) {
        this.awaitingDelivery.delete(this.lastDeliveredId);
        done();
      }
    }
  }

  private onControl(message: string): void {
    const [command, argument] = message.split(" ");
    if (command === "revoke") this.deps.onRevoke(Number(argument));
  }

  sendMessage(message: OutgoingMessage, done: (result: SendResult) => void, failed: (error: unknown) => void): void {
    let pub: RedisClient;
    try {
      pub = this.client();
    } catch (error) {
      return failed(error);
    }
    const streams: string[] = [];
    const others: string[] = [];
    if (message.room !== null) {
      streams.push(K.roomStream(message.room));
      others.push("");
    } else {
      streams.push(K.privateStream(message.senderId));
      others.push(String(message.toId));
      if (message.toId !== message.senderId) {
        streams.push(K.privateStream(message.toId!));
        others.push(String(message.senderId));
      }
    }
    const args = [
      String(2 + streams.length),
      K.msgId,
      message.cid === null ? "" : K.cid(message.senderId, message.cid),
      ...streams,
      // The script writes the id over the 0 (`{"id":0,` is 7 characters).
      encodeMessage(0, message.frame),
      K.deliver,
      header(message.topics),
      String(this.deps.history ? this.deps.maxPerStream : -1),
      String(CID_TTL_SECONDS),
      ...others,
    ];
    // EVALSHA sends 40 characters instead of the script (2–5 µs of Redis CPU a message, bench/redis-ops.ts);
    // a Redis that lost its script cache (restarted, SCRIPT FLUSH) answers NOSCRIPT: then EVAL it.
    const sha = this.sendScriptSha;
    const run = (
      sha === undefined ? pub.send("EVAL", [SEND_SCRIPT, ...args]) : pub.send("EVALSHA", [sha, ...args])
    ).catch((error: unknown) => {
      if (!String((error as Error)?.message ?? error).includes("NOSCRIPT")) throw error;
      this.sendScriptSha = undefined;
      return pub.send("EVAL", [SEND_SCRIPT, ...args]);
    });
    run
      .then(([id, duplicate]: [number, number]) => {
        // The script's answer and the published message travel on two connections: acknowledge
        // after the message was delivered here, as the in-process broker does.
        if (duplicate === 1 || id <= this.lastDeliveredId) done({ id, duplicate: duplicate === 1 });
        else this.awaitingDelivery.set(id, () => done({ id, duplicate: false }));
      }, failed)
      .catch(this.logError("send"));
  }

  publish(topic: string, text: string): void {
    if (!this.up) return;
    this.pub?.send("PUBLISH", [K.deliver, `e${header([topic])}${text}`]).catch(() => {});
  }

  revokeUser(userId: number): void {
    // This instance at once; the others through Redis (if it is down, their sockets were closed already).
    this.deps.onRevoke(userId);
    if (this.up) this.pub?.send("PUBLISH", [K.control, `revoke ${userId}`]).catch(() => {});
  }

  presenceJoin(scope: string, user: User, done: (first: boolean) => void): void {
    if (!this.up) return;
    this.pub!.send("EVAL", [
      JOIN_SCRIPT,
      "3",
      K.presence(scope),
      K.instancePresence(this.instanceId),
      K.users,
      String(user.id),
      `${scope}\t${user.id}`,
      JSON.stringify(user),
    ])
      .then((n: number) => done(n === 1))
      .catch(this.logError("presence_join"));
  }

  presenceLeave(scope: string, user: User, done: (last: boolean) => void): void {
    if (!this.up) return;
    this.pub!.send("EVAL", [
      LEAVE_SCRIPT,
      "3",
      K.presence(scope),
      K.instancePresence(this.instanceId),
      K.users,
      String(user.id),
      `${scope}\t${user.id}`,
      scope === ONLINE_SCOPE ? "1" : "0",
    ])
      .then((n: number) => done(n === 0))
      .catch(this.logError("presence_leave"));
  }

  isPresent(scope: string, userId: number, done: (present: boolean) => void): void {
    if (!this.up) return done(false);
    this.pub!.send("HEXISTS", [K.presence(scope), String(userId)])
      .then((n: number | boolean) => done(n === 1 || n === true))
      .catch(this.logError("is_present"));
  }

  members(scope: string, done: (users: User[]) => void): void {
    if (!this.up) return done([]);
    const pub = this.pub!;
    pub
      .send("HKEYS", [K.presence(scope)])
      .then(async (ids: string[]) => {
        if (ids.length === 0) return done([]);
        const users = (await pub.send("HMGET", [K.users, ...ids])) as (string | null)[];
        done(users.filter((json): json is string => json !== null).map((json) => JSON.parse(json) as User));
      })
      .catch(this.logError("members"));
  }

  roomCounts(limit: number, done: (rooms: RoomCount[]) => void): void {
    if (!this.up) return done([]);
    const pub = this.pub!;
    pub
      .send("ZREVRANGE", [K.rooms, "0", String(limit - 1)])
      .then(async (names: string[]) => {
        const ordered = ["lobby", ...names.filter((name) => name !== "lobby")].slice(0, limit);
        const counts = await Promise.all(
          ordered.map((name) => pub.send("HLEN", [K.presence(name)]) as Promise<number>),
        );
        done(ordered.map((name, i) => ({ name, members: counts[i] ?? 0 })));
      })
      .catch(this.logError("room_counts"));
  }

  ensureRoom(room: string): void {
    if (this.up) this.pub!.send("ZADD", [K.rooms, "NX", String(Date.now()), room]).catch(() => {});
  }

  roomPage(room: string, limit: number, before: number | undefined, done: (page: Page) => void): void {
    this.page(K.roomStream(room), limit, before, undefined, done);
  }

  privatePage(
    userId: number,
    limit: number,
    before: number | undefined,
    withId: number | undefined,
    done: (page: Page) => void,
  ): void {
    this.page(K.privateStream(userId), limit, before, withId, done);
  }

  private page(
    key: string,
    limit: number,
    before: number | undefined,
    other: number | undefined,
    done: (page: Page) => void,
  ): void {
    if (!this.up) return done({ messages: [], more: false });
    const count = other === undefined ? limit + 1 : PRIVATE_SCAN;
    this.pub!.send("XREVRANGE", [key, before === undefined ? "+" : `(${before}-0`, "-", "COUNT", String(count)])
      .then((entries: StreamEntry[]) => {
        const wanted = other === undefined ? entries : entries.filter(([, fields]) => fields[3] === String(other));
        done({ messages: wanted.slice(0, limit).map(toStored).reverse(), more: wanted.length > limit });
      })
      .catch(this.logError("history"));
  }

  roomSince(room: string, since: number, cap: number, done: (gap: Gap) => void): void {
    this.since(K.roomStream(room), since, cap, done);
  }

  privateSince(userId: number, since: number, cap: number, done: (gap: Gap) => void): void {
    this.since(K.privateStream(userId), since, cap, done);
  }

  private since(key: string, since: number, cap: number, done: (gap: Gap) => void): void {
    if (!this.up) return done({ messages: [], complete: false });
    const pub = this.pub!;
    Promise.all([
      pub.send("XRANGE", [key, `(${since}-1`, "+", "COUNT", String(cap + 1)]) as Promise<StreamEntry[]>,
      (pub.send("XINFO", ["STREAM", key]) as Promise<Record<string, unknown>>).catch(() => null),
    ])
      .then(([entries, info]) => {
        // Trimmed streams lose their oldest entries: complete only if nothing after `since` can have gone.
        const added = Number(info?.["entries-added"] ?? 0);
        const length = Number(info?.["length"] ?? 0);
        const first = Number(String(info?.["recorded-first-entry-id"] ?? "0-0").split("-")[0]);
        const trimmedAfterSince = added > length && since < first - 1;
        done({ messages: entries.slice(0, cap).map(toStored), complete: !trimmedAfterSince && entries.length <= cap });
      })
      .catch(this.logError("history_since"));
  }

  housekeeping(): number {
    // Streams are capped on every write (MAXLEN); age-based retention is not applied in Redis mode.
    return 0;
  }

  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.reconnecting);
    clearInterval(this.heartbeat);
    if (this.pub && this.up) {
      // Leave cleanly: our users' presence goes now rather than after the heartbeat expires.
      await this.reap(this.instanceId, true).catch(() => {});
      await this.pub.send("DEL", [K.instanceAlive(this.instanceId)]).catch(() => {});
      await this.pub.send("SREM", [K.instances, this.instanceId]).catch(() => {});
    }
    this.up = false;
    for (const client of [this.pub, this.sub]) {
      if (!client) continue;
      client.onclose = null;
      client.close();
    }
    this.pub = this.sub = null;
  }

  private logError(what: string) {
    return (error: unknown) =>
      this.deps.log.warn(`redis.${what}_failed`, { error: String((error as Error)?.message ?? error) });
  }
}

/** The topic header of a published payload: `<n>\n` and one line per topic. */
const header = (topics: readonly string[]): string =>
  `${topics.length}\n${topics.map((topic) => `${topic}\n`).join("")}`;

const toStored = ([id, fields]: StreamEntry): StoredFrame => ({ id: Number(id.split("-")[0]), frame: fields[1]! });

/** The error for work that needs Redis while it is down (HTTP 503). */
export const unavailable = (): Error =>
  Object.assign(new Error("Redis is unavailable; try again shortly"), { status: 503 });
