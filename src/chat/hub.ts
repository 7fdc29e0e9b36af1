/**
 * The chat room's core: who is connected, who is in which room, and what
 * each client frame does. Broadcasts go through Bun's pub/sub topics
 * (`publish`), never by looping over sockets; each frame is encoded once.
 * Ids, storage, fan-out, presence and history go through the Broker, so the
 * same hub serves one process or a cluster behind Redis. A message is stored
 * before it is broadcast or acknowledged.
 */
import type { ServerWebSocket } from "bun";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { CLIENT_FRAME_TYPES, ClientFrame, DEFAULT_ROOM, ErrorCode, type ServerFrame, type User } from "../protocol";
import type { Session, Sessions } from "../auth/sessions";
import { checkRoomName } from "../auth/names";
import type { IdSequence } from "../store/db";
import { ONLINE_SCOPE, type Broker, type Page } from "../broker/broker";
import { roomTopic, userTopic } from "./topics";
import type { Logger } from "../log";
import type { Metrics } from "../ops/metrics";

/** Limits the hub enforces on frames. */
export interface ChatLimits {
  maxMessageLength: number;
  /** Messages per `history` frame (on join, and the largest page). */
  historyPageSize: number;
  /** Rooms one user may be in at once over all their sockets, the lobby included. */
  maxRoomsPerUser: number;
}

export interface HubDeps {
  sessions: Sessions;
  /** Ids of the frames this server makes itself (presence, lists, errors); messages get theirs from the broker. */
  ids: IdSequence;
  broker: Broker;
  limits: ChatLimits;
  log: Logger;
  /** Counts refused frames (GET /metrics). */
  metrics?: Pick<Metrics, "frameRefused">;
  now?: () => number;
}

/** Where a reconnecting client was: the rooms it was in and the highest message id it received. */
export interface ResumePoint {
  since: number;
  rooms: string[];
}

/** Minimum time between two relayed `typing` frames of one socket. */
const TYPING_THROTTLE_MS = 1000;
/** Most messages replayed per room on resume; a larger gap gets the latest page and `recovered: false`. */
const RESUME_MAX_MESSAGES = 1000;
/** Most rooms a `rooms` frame lists. */
const ROOMS_LISTED = 200;

const clientFrame = TypeCompiler.Compile(ClientFrame);
const knownTypes = new Set<string>(CLIENT_FRAME_TYPES);

/**
 * Per-socket state, stored as the socket's `data`. Kept small on purpose (no
 * request object): it is multiplied by every open connection. Its methods are
 * the socket's event handlers (see chat/socket.ts).
 */
export class Connection {
  readonly rooms = new Set<string>();
  lastTypingAt = 0;
  constructor(
    readonly hub: ChatHub,
    readonly session: Session,
  ) {}
  // Bun ends the process when a WebSocket handler throws: a failure here (a full disk, say)
  // must cost one frame, not every connection.
  message(ws: Socket, message: string | Buffer): void {
    try {
      this.hub.message(ws, message);
    } catch (error) {
      this.hub.failed(ws, "message", error);
    }
  }
  close(ws: Socket): void {
    try {
      this.hub.close(ws);
    } catch (error) {
      this.hub.failed(ws, "close", error);
    }
  }
}

export type Socket = ServerWebSocket<Connection>;

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type Outgoing = DistributiveOmit<Exclude<ServerFrame, { type: "history" }>, "id" | "ts">;
const ignore = () => {};

export class ChatHub {
  /** Open sockets on this instance, by user id. */
  private readonly online = new Map<number, Set<Socket>>();
  private readonly now: () => number;

  constructor(private readonly deps: HubDeps) {
    this.now = deps.now ?? Date.now;
  }

  /**
   * A socket of a signed-in session opened: it joins its user topic and the
   * lobby (or, resuming, the rooms it was in, with what it missed).
   */
  open(ws: Socket, resume?: ResumePoint): void {
    const { session } = ws.data;
    session.sockets++;
    this.deps.sessions.touch(session, true);
    const sockets = this.online.get(session.user.id);
    if (sockets) sockets.add(ws);
    else this.online.set(session.user.id, new Set([ws]));
    this.deps.broker.presenceJoin(ONLINE_SCOPE, session.user, ignore);
    ws.subscribe(userTopic(session.user.id));
    if (!resume) {
      this.joinRoom(ws, DEFAULT_ROOM);
      this.sendPrivateHistory(ws);
      return;
    }
    const rooms = new Set([DEFAULT_ROOM]);
    for (const raw of resume.rooms) {
      const check = checkRoomName(raw);
      if (check.ok) rooms.add(check.name);
    }
    for (const room of rooms) {
      // A resume may not get around the room limit: the rooms past it are dropped (the lobby comes first).
      if (this.overRoomLimit(ws, room)) break;
      this.joinRoom(ws, room, resume.since);
    }
    this.sendPrivateHistory(ws, resume.since);
  }

  /** A socket closed (for any reason): leave its rooms; the user leaves a room with their last socket. */
  close(ws: Socket): void {
    const { session } = ws.data;
    const userId = session.user.id;
    for (const room of [...ws.data.rooms]) this.leaveRoom(ws, room);
    const sockets = this.online.get(userId);
    if (sockets?.delete(ws) && sockets.size === 0) this.online.delete(userId);
    this.deps.broker.presenceLeave(ONLINE_SCOPE, session.user, ignore);
    session.sockets = Math.max(0, session.sockets - 1);
    this.deps.sessions.touch(session, true);
  }

  /** Closes every socket of a user (sign-out, revoked session). */
  disconnectUser(userId: number, code: number, reason: string): void {
    for (const ws of [...(this.online.get(userId) ?? [])]) ws.close(code, reason);
  }

  /** Closes every socket, e.g. on shutdown. */
  disconnectAll(code: number, reason: string): void {
    for (const sockets of [...this.online.values()]) for (const ws of [...sockets]) ws.close(code, reason);
  }

  /** A `left` frame (for users whose last socket was on an instance that died). */
  leftFrame(user: User, room: string): string {
    return this.encode({ type: "left", user, data: null, room });
  }

  /** Number of open sockets on this instance. */
  get connectionCount(): number {
    let count = 0;
    for (const sockets of this.online.values()) count += sockets.size;
    return count;
  }

  /** Number of users with at least one open socket on this instance. */
  get usersOnline(): number {
    return this.online.size;
  }

  /** One client frame. Bad frames get an `error` frame; the socket stays open. */
  message(ws: Socket, raw: string | Buffer): void {
    if (typeof raw !== "string")
      return this.refuse(ws, ErrorCode.BinaryFrame, "Binary frames are not supported; send JSON text");
    const frame = this.parse(ws, raw);
    if (!frame) return;
    switch (frame.type) {
      case "chat":
        return this.chat(ws, frame.data, frame.room ?? DEFAULT_ROOM, frame.cid);
      case "private":
        return this.private(ws, frame.to, frame.data, frame.cid);
      case "typing":
        return this.typing(ws, frame.room ?? DEFAULT_ROOM);
      case "join":
        return this.join(ws, frame.room);
      case "leave":
        return this.leave(ws, frame.room);
      case "rooms":
        return this.listRooms(ws);
      case "history":
        return this.history(ws, frame.room, frame.with, frame.before, frame.limit);
    }
  }

  private parse(ws: Socket, raw: string): ClientFrame | undefined {
    // Only a JSON object with a string `type` is a structured frame; any other
    // text (the tutorial's client sends bare text) is a chat message to the lobby.
    if (raw.charCodeAt(0) !== 123 /* { */) return { type: "chat", data: raw };
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      return { type: "chat", data: raw };
    }
    const type = (parsed as { type?: unknown } | null)?.type;
    if (typeof type !== "string") return { type: "chat", data: raw };
    if (!knownTypes.has(type)) {
      this.refuse(ws, ErrorCode.UnknownType, `Unknown frame type "${type.slice(0, 40)}"`);
      return undefined;
    }
    if (!clientFrame.Check(parsed)) {
      const first = clientFrame.Errors(parsed).First();
      this.refuse(ws, ErrorCode.BadFrame, first ? `${first.path || "frame"}: ${first.message}` : "Malformed frame");
      return undefined;
    }
    return parsed;
  }

  // ------------------------------------------------------------ messages

  private chat(ws: Socket, data: string, room: string, cid: string | undefined): void {
    const text = this.text(ws, data, cid);
    if (text === undefined) return;
    if (!ws.data.rooms.has(room)) return this.refuse(ws, ErrorCode.NotInRoom, `You are not in room "${room}"`, cid);
    const user = ws.data.session.user;
    this.send(ws, { type: "chat", user, data: text, room, ...(cid ? { cid } : {}) }, room, null, [roomTopic(room)]);
  }

  private private(ws: Socket, to: number, data: string, cid: string | undefined): void {
    const text = this.text(ws, data, cid);
    if (text === undefined) return;
    const from = ws.data.session.user;
    const deliver = () => {
      const topics = to === from.id ? [userTopic(to)] : [userTopic(to), userTopic(from.id)];
      this.send(ws, { type: "private", user: from, data: text, to, ...(cid ? { cid } : {}) }, null, to, topics);
    };
    if (this.online.has(to)) return deliver();
    this.deps.broker.isPresent(ONLINE_SCOPE, to, (online) => {
      if (online) return deliver();
      this.deps.sessions.knowsUser(to, (known) =>
        known
          ? this.refuse(ws, ErrorCode.UserOffline, "That user is offline", cid)
          : this.refuse(ws, ErrorCode.UnknownUser, "No such user", cid),
      );
    });
  }

  /**
   * Stores a message and delivers it (through the broker), then acknowledges
   * it to the sending socket. A resend of a `cid` already stored is
   * acknowledged with its first id, not stored or delivered again.
   */
  private send(
    ws: Socket,
    frame: Outgoing & { type: "chat" | "private" },
    room: string | null,
    toId: number | null,
    topics: string[],
  ): void {
    const senderId = ws.data.session.user.id;
    const cid = frame.cid ?? null;
    const ts = this.now();
    this.deps.broker.sendMessage(
      { frame: { ...frame, ts }, room, senderId, toId, cid, ts, topics },
      ({ id }) => {
        if (cid !== null) this.ack(ws, cid, id);
      },
      (error) => {
        this.deps.log.error("store.write_failed", { userId: senderId, error: String(error) });
        this.refuse(ws, ErrorCode.NotStored, "The message could not be stored; try again", cid ?? undefined);
      },
    );
  }

  private ack(ws: Socket, cid: string, id: number): void {
    if (ws.readyState === 1) ws.send(this.encode({ type: "ack", user: null, data: { cid, id } }));
  }

  private typing(ws: Socket, room: string): void {
    if (!ws.data.rooms.has(room)) return this.refuse(ws, ErrorCode.NotInRoom, `You are not in room "${room}"`);
    const now = this.now();
    if (now - ws.data.lastTypingAt < TYPING_THROTTLE_MS) return;
    ws.data.lastTypingAt = now;
    // To the whole room on every instance; clients ignore their own.
    this.deps.broker.publish(
      roomTopic(room),
      this.encode({ type: "typing", user: ws.data.session.user, data: null, room }),
    );
  }

  /** The trimmed text of a message, or undefined after refusing it. */
  private text(ws: Socket, data: string, cid: string | undefined): string | undefined {
    const text = data.trim();
    if (text.length === 0) {
      this.refuse(ws, ErrorCode.EmptyMessage, "Empty message", cid);
      return undefined;
    }
    const max = this.deps.limits.maxMessageLength;
    if (text.length > max && [...text].length > max) {
      this.refuse(ws, ErrorCode.TooLong, `Messages are limited to ${max} characters`, cid);
      return undefined;
    }
    return text;
  }

  // ------------------------------------------------------------ rooms

  private join(ws: Socket, raw: string): void {
    const check = checkRoomName(raw);
    if (!check.ok) return this.refuse(ws, ErrorCode.InvalidRoom, check.message);
    if (ws.data.rooms.has(check.name)) return this.sendRoomState(ws, check.name, this.deps.broker.lastDeliveredId);
    if (this.overRoomLimit(ws, check.name))
      return this.refuse(
        ws,
        ErrorCode.TooManyRooms,
        `At most ${this.deps.limits.maxRoomsPerUser} rooms; leave one first`,
      );
    this.joinRoom(ws, check.name);
  }

  /** Whether joining `room` would put this socket's user in more rooms than allowed (all their sockets together). */
  private overRoomLimit(ws: Socket, room: string): boolean {
    const rooms = new Set<string>(ws.data.rooms);
    for (const other of this.online.get(ws.data.session.user.id) ?? [])
      for (const name of other.data.rooms) rooms.add(name);
    return !rooms.has(room) && rooms.size >= this.deps.limits.maxRoomsPerUser;
  }

  private leave(ws: Socket, room: string): void {
    if (!ws.data.rooms.has(room)) return this.refuse(ws, ErrorCode.NotInRoom, `You are not in room "${room}"`);
    this.leaveRoom(ws, room);
  }

  private listRooms(ws: Socket): void {
    this.deps.broker.roomCounts(ROOMS_LISTED, (data) => {
      if (ws.readyState === 1) ws.send(this.encode({ type: "rooms", user: null, data }));
    });
  }

  /** Joins a room: `join` to the room (the user's first socket in it), then `list` and `history` to this socket. */
  private joinRoom(ws: Socket, room: string, since?: number): void {
    const user = ws.data.session.user;
    ws.data.rooms.add(room);
    ws.subscribe(roomTopic(room));
    // Read now, not after the presence round trip: from here on messages reach this socket live.
    const upTo = this.deps.broker.lastDeliveredId;
    this.deps.broker.ensureRoom(room);
    this.deps.broker.presenceJoin(room, user, (first) => {
      if (first) this.deps.broker.publish(roomTopic(room), this.encode({ type: "join", user, data: null, room }));
      this.sendRoomState(ws, room, upTo, since);
    });
  }

  /**
   * `list` and `history` for a room this socket is subscribed to. History
   * stops at `upTo`, the last message delivered here when the socket
   * subscribed: every later one reaches the socket live, so none is missing
   * and none comes twice.
   */
  private sendRoomState(ws: Socket, room: string, upTo: number, since?: number): void {
    const { broker } = this.deps;
    broker.members(room, (users) => {
      if (ws.readyState !== 1) return;
      ws.send(this.encode({ type: "list", user: ws.data.session.user, data: users, room }));
      if (!broker.history) return;
      const pageSize = this.deps.limits.historyPageSize;
      const latest = (recovered?: boolean) =>
        broker.roomPage(room, pageSize, upTo + 1, (page) =>
          this.sendHistory(ws, page, { room, ...(recovered === undefined ? {} : { recovered }) }),
        );
      if (since === undefined) return latest();
      broker.roomSince(room, since, RESUME_MAX_MESSAGES, (gap) => {
        if (!gap.complete) return latest(false);
        const messages = gap.messages.filter((m) => m.id <= upTo);
        this.sendHistory(ws, { messages, more: since > 0 }, { room, recovered: true });
      });
    });
  }

  private leaveRoom(ws: Socket, room: string): void {
    const user = ws.data.session.user;
    ws.data.rooms.delete(room);
    if (ws.readyState === 1) ws.unsubscribe(roomTopic(room));
    this.deps.broker.presenceLeave(room, user, (last) => {
      if (last) this.deps.broker.publish(roomTopic(room), this.encode({ type: "left", user, data: null, room }));
    });
  }

  // ------------------------------------------------------------ history

  private history(
    ws: Socket,
    room: string | undefined,
    withId: number | undefined,
    before: number | undefined,
    limit: number | undefined,
  ): void {
    const { broker } = this.deps;
    const size = Math.min(limit ?? this.deps.limits.historyPageSize, this.deps.limits.historyPageSize);
    if (withId !== undefined)
      return broker.privatePage(ws.data.session.user.id, size, before, withId, (page) =>
        this.sendHistory(ws, page, { with: withId }),
      );
    const name = room ?? DEFAULT_ROOM;
    // History is for members: joining a room is open to all, but reading it requires being in it.
    if (!ws.data.rooms.has(name)) return this.refuse(ws, ErrorCode.NotInRoom, `You are not in room "${name}"`);
    broker.roomPage(name, size, before, (page) => this.sendHistory(ws, page, { room: name }));
  }

  private sendPrivateHistory(ws: Socket, since?: number): void {
    const { broker } = this.deps;
    if (!broker.history) return;
    const userId = ws.data.session.user.id;
    const upTo = broker.lastDeliveredId;
    const latest = (recovered?: boolean) =>
      broker.privatePage(userId, this.deps.limits.historyPageSize, upTo + 1, undefined, (page) =>
        this.sendHistory(ws, page, recovered === undefined ? {} : { recovered }),
      );
    if (since === undefined) return latest();
    broker.privateSince(userId, since, RESUME_MAX_MESSAGES, (gap) => {
      if (!gap.complete) return latest(false);
      const messages = gap.messages.filter((m) => m.id <= upTo);
      this.sendHistory(ws, { messages, more: since > 0 }, { recovered: true });
    });
  }

  /** Sends a `history` frame around already-encoded messages (spliced in, not re-encoded). */
  private sendHistory(ws: Socket, page: Page, extra: { room?: string; with?: number; recovered?: boolean }): void {
    if (ws.readyState !== 1) return;
    const head = JSON.stringify({
      id: this.deps.ids.take(),
      type: "history",
      user: null,
      data: 0,
      ts: this.now(),
      ...extra,
      more: page.more,
    });
    ws.send(head.replace('"data":0', `"data":[${page.messages.map((m) => m.frame).join(",")}]`));
  }

  // ------------------------------------------------------------ encoding

  private refuse(ws: Socket, code: ErrorCode, message: string, cid?: string): void {
    this.deps.metrics?.frameRefused(code);
    if (ws.readyState !== 1) return;
    ws.send(this.encode({ type: "error", user: null, data: { code, message, ...(cid ? { cid } : {}) } }));
  }

  /** A handler threw: log it and tell the client its frame was not handled (the socket stays open). */
  failed(ws: Socket, handler: string, error: unknown): void {
    this.deps.log.error("ws.handler_failed", {
      handler,
      user: ws.data.session.user.id,
      error: String((error as Error)?.message ?? error),
    });
    try {
      if (handler === "message") this.refuse(ws, ErrorCode.InternalError, "The server could not handle that frame");
    } catch {
      // Even the error frame failed (its id could not be reserved): the log line above must do.
    }
  }

  /** Tells a socket its frame was dropped by the rate limit, and when to try again. */
  rateLimited(ws: Socket, retryMs: number): void {
    this.deps.metrics?.frameRefused(ErrorCode.RateLimited);
    if (ws.readyState !== 1) return;
    const data = { code: ErrorCode.RateLimited, message: "Too many frames; slow down", retryMs };
    ws.send(this.encode({ type: "error", user: null, data }));
  }

  /** Stamps id and time and encodes once, whatever the number of recipients. */
  private encode(frame: Outgoing): string {
    return JSON.stringify({ id: this.deps.ids.take(), ...frame, ts: this.now() });
  }
}
