/**
 * The teahouse wire protocol: every frame a client may send, every frame the
 * server sends, the close codes and the error codes — as TypeBox schemas.
 *
 * This module is shared by the server, the browser client and the tests, so it
 * must not import Elysia or anything server-only. docs/protocol.md describes
 * the same contract in prose; keep the two in step.
 */
import { Type, type Static, type TSchema } from "@sinclair/typebox";

/** The room every socket is in unless it asks otherwise. */
export const DEFAULT_ROOM = "lobby";

/** Path of the chat WebSocket (under /ws/ so the tutorial's nginx block proxies it). */
export const CHAT_SOCKET_PATH = "/ws/chat";

/** Number of avatar images; `User.image` is in 0 … AVATAR_COUNT-1. */
export const AVATAR_COUNT = 10;

export const User = Type.Object(
  {
    type: Type.Literal("guest"),
    /** Unique per server, never reused (also after a restart). */
    id: Type.Integer({ minimum: 1 }),
    name: Type.String(),
    /** Avatar index. */
    image: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type User = Static<typeof User>;

/** A room name: 1–32 characters once trimmed and normalised. */
export const RoomName = Type.String({ minLength: 1, maxLength: 64 });

/** A client's id for a message it sends, echoed in `ack` so resends are not duplicated. */
export const ClientMessageId = Type.String({ minLength: 1, maxLength: 64 });

// ---------------------------------------------------------------- client → server

export const ChatIn = Type.Object({
  type: Type.Literal("chat"),
  data: Type.String(),
  room: Type.Optional(RoomName),
  cid: Type.Optional(ClientMessageId),
});
export const PrivateIn = Type.Object({
  type: Type.Literal("private"),
  to: Type.Integer({ minimum: 1 }),
  data: Type.String(),
  cid: Type.Optional(ClientMessageId),
});
export const TypingIn = Type.Object({
  type: Type.Literal("typing"),
  room: Type.Optional(RoomName),
});

/** Join a room (created on first join). The server answers with `list` and `history` for it. */
export const JoinIn = Type.Object({ type: Type.Literal("join"), room: RoomName });
/** Leave a room (the lobby too: bare text then gets `not_in_room`). */
export const LeaveIn = Type.Object({ type: Type.Literal("leave"), room: RoomName });
/** Ask for the list of rooms with their member counts (answered with `rooms`). */
export const RoomsIn = Type.Object({ type: Type.Literal("rooms") });
/**
 * Page back through history: a room's (`room`, default lobby) or the private
 * conversation with user `with`. Messages with id < `before` (default: the
 * newest), at most `limit` (default and maximum: the configured page size).
 */
export const HistoryIn = Type.Object({
  type: Type.Literal("history"),
  room: Type.Optional(RoomName),
  with: Type.Optional(Type.Integer({ minimum: 1 })),
  before: Type.Optional(Type.Integer({ minimum: 1 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
});

/**
 * Every structured client frame. A text frame that is not a JSON object with a
 * string `type` is a chat message to the lobby (the tutorial's client sends bare text).
 */
export const ClientFrame = Type.Union([ChatIn, PrivateIn, TypingIn, JoinIn, LeaveIn, RoomsIn, HistoryIn]);
export type ClientFrame = Static<typeof ClientFrame>;

/** The `type` values a client may send. */
export const CLIENT_FRAME_TYPES: readonly ClientFrame["type"][] = [
  "chat",
  "private",
  "typing",
  "join",
  "leave",
  "rooms",
  "history",
];

/**
 * Query parameters of the socket URL for recovery after a reconnect:
 * `/ws/chat?since=<id>&rooms=lobby,dev`. `since` is the highest id of a `chat`
 * or `private` frame the client has received; `rooms` the rooms it was in
 * (default: lobby). The server rejoins those rooms and sends, per room, a
 * `history` frame with every message after `since` (`recovered: true`), or the
 * latest page when that gap is no longer kept (`recovered: false`), plus one
 * for the private messages after `since`.
 */
export const RESUME_SINCE_PARAM = "since";
export const RESUME_ROOMS_PARAM = "rooms";

// ---------------------------------------------------------------- server → client

/** Codes carried by `error` frames (`data.code`). */
export const ErrorCode = {
  /** Not a JSON object of a known shape (wrong field types, missing fields). */
  BadFrame: "bad_frame",
  /** A JSON object whose `type` the server does not know. */
  UnknownType: "unknown_type",
  /** Binary frames carry nothing in this protocol. */
  BinaryFrame: "binary_not_supported",
  /** Empty once trimmed. */
  EmptyMessage: "empty_message",
  /** Longer than the configured maximum number of characters. */
  TooLong: "too_long",
  /** A room name that is empty, too long or has control characters. */
  InvalidRoom: "invalid_room",
  /** The frame names a room this socket has not joined. */
  NotInRoom: "not_in_room",
  /** The recipient of a private message exists but has no open socket. */
  UserOffline: "user_offline",
  /** No such user id. */
  UnknownUser: "unknown_user",
  /** The server failed while handling the frame (logged); the socket stays open. */
  InternalError: "internal_error",
  /** The message could not be stored (database error); it was not delivered. Resend it. */
  NotStored: "not_stored",
  /** Too many frames; `data.retryMs` says when to try again. */
  RateLimited: "rate_limited",
  /** Already in as many rooms as allowed (`MAX_ROOMS_PER_USER`, over all the user's sockets): leave one first. */
  TooManyRooms: "too_many_rooms",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * WebSocket close codes the server uses. 4001 and 4002 mean "sign in again";
 * 4008 means "wait a minute before reconnecting"; 1001, 1011, 1013 and 4100
 * mean "reconnect with backoff".
 */
export const CloseCode = {
  /** Server shutting down: reconnect (to another instance, or after the restart). */
  GoingAway: 1001,
  /** A frame larger than the configured maximum frame size (sent by the WebSocket layer). */
  MessageTooBig: 1009,
  /** Unexpected server error: reconnect. */
  InternalError: 1011,
  /** Server full or a dependency down: reconnect later. */
  TryAgainLater: 1013,
  /** The session is unknown, expired or revoked: sign in again. (The tutorial's code.) */
  InvalidUser: 4001,
  /** The session signed out (in this or another tab): show the sign-in view. */
  SignedOut: 4002,
  /** Persistent abuse (rate limit ignored): do not reconnect at once. */
  PolicyViolation: 4008,
  /** The client did not read fast enough: reconnect and resume. */
  SlowConsumer: 4100,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** True when a close code means the client must sign in again rather than reconnect. */
export const isTerminalClose = (code: number): boolean =>
  code === CloseCode.InvalidUser || code === CloseCode.SignedOut;

const frame = <T extends string, U extends TSchema, D extends TSchema, X extends Record<string, TSchema> = {}>(
  type: T,
  user: U,
  data: D,
  extra: X = {} as X,
) =>
  Type.Object({
    /** Increases with every frame this server sends. */
    id: Type.Integer({ minimum: 1 }),
    type: Type.Literal(type),
    user: user,
    data: data,
    /** Server time, milliseconds since the epoch. */
    ts: Type.Integer(),
    ...extra,
  });

/** A user's first socket joined the room. */
export const JoinFrame = frame("join", User, Type.Null(), { room: Type.String() });
/** A user's last socket left the room. */
export const LeftFrame = frame("left", User, Type.Null(), { room: Type.String() });
/** To the joiner only: the users online in the room, one entry per user. `user` is the joiner. */
export const ListFrame = frame("list", User, Type.Array(User), { room: Type.String() });
/** A chat message, to everyone in the room including the sender. */
export const ChatFrame = frame("chat", User, Type.String(), {
  room: Type.String(),
  cid: Type.Optional(ClientMessageId),
});
/** A one-to-one message, to every socket of the recipient and of the sender. */
export const PrivateFrame = frame("private", User, Type.String(), {
  to: Type.Integer(),
  cid: Type.Optional(ClientMessageId),
});
/** A stored message as history carries it: the `chat` or `private` frame as it was sent. */
export const StoredMessage = Type.Union([ChatFrame, PrivateFrame]);
export type StoredMessage = Static<typeof StoredMessage>;

/**
 * History of a room (`room`) or of a private conversation (`with`, or neither
 * for all private messages on resume), oldest first. `more`: older messages
 * exist. `recovered` (resume only): true when these are exactly the messages
 * missed since the client's `since`, false when the gap was no longer kept and
 * this is the latest page instead.
 */
export const HistoryFrame = frame("history", Type.Null(), Type.Array(StoredMessage), {
  room: Type.Optional(Type.String()),
  with: Type.Optional(Type.Integer()),
  more: Type.Boolean(),
  recovered: Type.Optional(Type.Boolean()),
});
/** To the sender's socket: the message with this `cid` is stored as `id` (also for a duplicate resend). */
export const AckFrame = frame("ack", Type.Null(), Type.Object({ cid: ClientMessageId, id: Type.Integer() }));
/** The rooms with their member counts (users online in them). */
export const RoomsFrame = frame(
  "rooms",
  Type.Null(),
  Type.Array(Type.Object({ name: Type.String(), members: Type.Integer({ minimum: 0 }) })),
);

/** Someone is typing in the room (not stored; expires after TYPING_TTL_MS on the client). */
export const TypingFrame = frame("typing", User, Type.Null(), { room: Type.String() });
/** A refused frame. The socket stays open. */
export const ErrorFrame = frame(
  "error",
  Type.Null(),
  Type.Object({
    code: Type.String(),
    message: Type.String(),
    retryMs: Type.Optional(Type.Integer()),
    cid: Type.Optional(ClientMessageId),
  }),
);

export const ServerFrame = Type.Union([
  JoinFrame,
  LeftFrame,
  ListFrame,
  ChatFrame,
  PrivateFrame,
  TypingFrame,
  ErrorFrame,
  HistoryFrame,
  AckFrame,
  RoomsFrame,
]);
export type ServerFrame = Static<typeof ServerFrame>;
export type ServerFrameOf<T extends ServerFrame["type"]> = Extract<ServerFrame, { type: T }>;

/** How long a client shows "X is typing…" after the last `typing` frame. */
export const TYPING_TTL_MS = 4000;

// ---------------------------------------------------------------- HTTP

/** Body of `POST /wsin` (JSON or form). No name: the offered guest name. */
export const SignInBody = Type.Object({ name: Type.Optional(Type.String()) });

/** Every JSON answer of the HTTP API: `code` 0 is success, anything else an error. */
export const ApiOk = Type.Object({ code: Type.Literal(0), data: Type.String(), user: Type.Optional(User) });
export const ApiError = Type.Object({
  code: Type.Integer(),
  /** Machine-readable reason, e.g. `name_taken`. */
  error: Type.String(),
  /** Human-readable reason. */
  data: Type.String(),
});
export type ApiError = Static<typeof ApiError>;
