/**
 * The chat room's core: who is connected, who is in which room, and what
 * each client frame does. Broadcasts go through Bun's pub/sub topics
 * (`publish`), never by looping over sockets; each frame is encoded once.
 */
import type { ServerWebSocket } from "bun";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { CLIENT_FRAME_TYPES, ClientFrame, DEFAULT_ROOM, ErrorCode, type ServerFrame, type User } from "../protocol";
import type { Session, SessionStore } from "../auth/sessions";
import type { IdSequence } from "../store/db";
import { roomTopic, userTopic } from "./topics";
import type { Logger } from "../log";

/** Limits the hub enforces on frames. */
export interface ChatLimits {
  maxMessageLength: number;
}

export interface HubDeps {
  sessions: SessionStore;
  ids: IdSequence;
  /** Sends an encoded frame to every subscriber of a topic (Bun's `server.publish`). */
  publish: (topic: string, text: string) => void;
  limits: ChatLimits;
  log: Logger;
  now?: () => number;
}

/** Minimum time between two relayed `typing` frames of one socket. */
const TYPING_THROTTLE_MS = 1000;

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
  message(ws: Socket, message: string | Buffer): void {
    this.hub.message(ws, message);
  }
  close(ws: Socket): void {
    this.hub.close(ws);
  }
}

export type Socket = ServerWebSocket<Connection>;

type Outgoing = DistributiveOmit<ServerFrame, "id" | "ts">;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export class ChatHub {
  /** Open sockets by user id. */
  private readonly online = new Map<number, Set<Socket>>();
  /** Room name → user id → that user's sockets in the room. */
  private readonly rooms = new Map<string, Map<number, number>>();
  private readonly now: () => number;

  constructor(private readonly deps: HubDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** A socket of a signed-in session opened: it joins its user topic and the lobby. */
  open(ws: Socket): void {
    const { session } = ws.data;
    session.sockets++;
    this.deps.sessions.touch(session, true);
    const sockets = this.online.get(session.user.id);
    if (sockets) sockets.add(ws);
    else this.online.set(session.user.id, new Set([ws]));
    ws.subscribe(userTopic(session.user.id));
    this.joinRoom(ws, DEFAULT_ROOM);
  }

  /** A socket closed (for any reason): leave its rooms; the user leaves a room with their last socket. */
  close(ws: Socket): void {
    const { session } = ws.data;
    const userId = session.user.id;
    for (const room of ws.data.rooms) this.leaveRoom(ws, room);
    const sockets = this.online.get(userId);
    if (sockets?.delete(ws) && sockets.size === 0) this.online.delete(userId);
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

  /** Number of open sockets. */
  get connectionCount(): number {
    let count = 0;
    for (const sockets of this.online.values()) count += sockets.size;
    return count;
  }

  /** Number of users with at least one open socket. */
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

  private chat(ws: Socket, data: string, room: string, cid: string | undefined): void {
    const text = this.text(ws, data, cid);
    if (text === undefined) return;
    if (!ws.data.rooms.has(room)) return this.refuse(ws, ErrorCode.NotInRoom, `You are not in room "${room}"`, cid);
    this.broadcast(roomTopic(room), {
      type: "chat",
      user: ws.data.session.user,
      data: text,
      room,
      ...(cid ? { cid } : {}),
    });
  }

  private private(ws: Socket, to: number, data: string, cid: string | undefined): void {
    const text = this.text(ws, data, cid);
    if (text === undefined) return;
    const from = ws.data.session.user;
    if (!this.online.has(to)) {
      const known = this.deps.sessions.byUser(to) !== undefined;
      return known
        ? this.refuse(ws, ErrorCode.UserOffline, "That user is offline", cid)
        : this.refuse(ws, ErrorCode.UnknownUser, "No such user", cid);
    }
    const encoded = this.encode({ type: "private", user: from, data: text, to, ...(cid ? { cid } : {}) });
    this.deps.publish(userTopic(to), encoded);
    if (to !== from.id) this.deps.publish(userTopic(from.id), encoded);
  }

  private typing(ws: Socket, room: string): void {
    if (!ws.data.rooms.has(room)) return this.refuse(ws, ErrorCode.NotInRoom, `You are not in room "${room}"`);
    const now = this.now();
    if (now - ws.data.lastTypingAt < TYPING_THROTTLE_MS) return;
    ws.data.lastTypingAt = now;
    // ws.publish skips the sender: nobody needs to see their own typing indicator.
    ws.publish(roomTopic(room), this.encode({ type: "typing", user: ws.data.session.user, data: null, room }));
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

  private joinRoom(ws: Socket, room: string): void {
    const user = ws.data.session.user;
    let members = this.rooms.get(room);
    if (!members) this.rooms.set(room, (members = new Map()));
    ws.data.rooms.add(room);
    ws.subscribe(roomTopic(room));
    const count = members.get(user.id) ?? 0;
    members.set(user.id, count + 1);
    if (count === 0) this.broadcast(roomTopic(room), { type: "join", user, data: null, room });
    ws.send(this.encode({ type: "list", user, data: this.usersIn(members), room }));
  }

  private leaveRoom(ws: Socket, room: string): void {
    const user = ws.data.session.user;
    ws.data.rooms.delete(room);
    if (ws.readyState === 1) ws.unsubscribe(roomTopic(room));
    const members = this.rooms.get(room);
    const count = members?.get(user.id) ?? 0;
    if (!members || count === 0) return;
    if (count > 1) return void members.set(user.id, count - 1);
    members.delete(user.id);
    if (members.size === 0 && room !== DEFAULT_ROOM) this.rooms.delete(room);
    this.broadcast(roomTopic(room), { type: "left", user, data: null, room });
  }

  private usersIn(members: Map<number, number>): User[] {
    const users: User[] = [];
    for (const userId of members.keys()) {
      const session = this.deps.sessions.byUser(userId);
      if (session) users.push(session.user);
    }
    return users;
  }

  private broadcast(topic: string, frame: Outgoing): void {
    this.deps.publish(topic, this.encode(frame));
  }

  private refuse(ws: Socket, code: ErrorCode, message: string, cid?: string): void {
    ws.send(this.encode({ type: "error", user: null, data: { code, message, ...(cid ? { cid } : {}) } }));
  }

  /** Stamps id and time and encodes once, whatever the number of recipients. */
  private encode(frame: Outgoing): string {
    return JSON.stringify({ id: this.deps.ids.take(), ...frame, ts: this.now() });
  }
}
