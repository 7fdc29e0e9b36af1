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

/**
 * An account as others see it. `guest`: a name without a password, held while its owner is around and
 * released after GUEST_NAME_GRACE_SECONDS; `member`: a registered name (with a password), never released.
 */
export const User = Type.Object(
  {
    type: Type.Union([Type.Literal("guest"), Type.Literal("member")]),
    /** The account's id: unique per server, never reused, the same across sessions and devices. */
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

/** A message id (a log position). */
export const MessageId = Type.Integer({ minimum: 1 });

/** `replyTo`: the id of a message of the same conversation that this one answers. */
export const ChatIn = Type.Object({
  type: Type.Literal("chat"),
  data: Type.String(),
  room: Type.Optional(RoomName),
  cid: Type.Optional(ClientMessageId),
  replyTo: Type.Optional(MessageId),
});
export const PrivateIn = Type.Object({
  type: Type.Literal("private"),
  to: Type.Integer({ minimum: 1 }),
  data: Type.String(),
  cid: Type.Optional(ClientMessageId),
  replyTo: Type.Optional(MessageId),
});
/** Typing in a room (`room`, default lobby) or in the direct conversation with account `to`. */
export const TypingIn = Type.Object({
  type: Type.Literal("typing"),
  room: Type.Optional(RoomName),
  to: Type.Optional(Type.Integer({ minimum: 1 })),
});

/**
 * What a conversation notifies of (kept with the membership, the same on every device): every
 * message, mentions and direct messages only (rooms' default), or nothing.
 */
export const NotifyLevel = Type.Union([Type.Literal("all"), Type.Literal("mentions"), Type.Literal("none")]);
export type NotifyLevel = Static<typeof NotifyLevel>;
/** Whether a message from someone else is worth telling of, at a conversation's level (page and pushes alike). */
export const worthTelling = (level: NotifyLevel, direct: boolean, mentionsMe: boolean): boolean =>
  level === "all" || (level === "mentions" && (direct || mentionsMe));
/** Sets the account's notification level in a room (`room`) or a direct conversation (`with`). */
export const NotifyIn = Type.Object({
  type: Type.Literal("notify"),
  room: Type.Optional(RoomName),
  with: Type.Optional(Type.Integer({ minimum: 1 })),
  level: NotifyLevel,
});

/**
 * Whether this socket's page is in front of its reader (`document.visibilityState`). A socket counts
 * as visible until it says otherwise; pushes go to an account only while none of its sockets is.
 */
export const VisibilityIn = Type.Object({ type: Type.Literal("visibility"), visible: Type.Boolean() });

/**
 * Room moderation. `room_settings`: a room's topic, slow mode (one message per `slow` seconds per
 * member, moderators excepted; 0: off) and privacy (private: hidden from the room list, joined only
 * with an invite). `mute`: silences member `user` in the room for `seconds` (0: unmutes). `remove`:
 * takes member `user` out of a private room. `moderator`: names (or unnames) `user` a moderator
 * (the room's owner and admins). `invite`: an invite link to a private room. Who may do which is
 * domain/policy.ts's; refused: `forbidden`.
 */
/** Longest slow mode, and longest mute (seconds). */
export const SLOW_MODE_MAX_SECONDS = 3600;
export const MUTE_MAX_SECONDS = 30 * 24 * 3600;
export const RoomSettingsIn = Type.Object({
  type: Type.Literal("room_settings"),
  room: RoomName,
  topic: Type.Optional(Type.String({ maxLength: 1000 })),
  slow: Type.Optional(Type.Integer({ minimum: 0, maximum: SLOW_MODE_MAX_SECONDS })),
  private: Type.Optional(Type.Boolean()),
});
export const MuteIn = Type.Object({
  type: Type.Literal("mute"),
  room: RoomName,
  user: Type.Integer({ minimum: 1 }),
  seconds: Type.Integer({ minimum: 0, maximum: MUTE_MAX_SECONDS }),
});
export const RemoveIn = Type.Object({
  type: Type.Literal("remove"),
  room: RoomName,
  user: Type.Integer({ minimum: 1 }),
});
export const ModeratorIn = Type.Object({
  type: Type.Literal("moderator"),
  room: RoomName,
  user: Type.Integer({ minimum: 1 }),
  on: Type.Boolean(),
});
export const InviteIn = Type.Object({
  type: Type.Literal("invite"),
  room: RoomName,
  expiresInSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 365 * 24 * 3600 })),
  uses: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
});

/** The author changes the text of their message `id` (the same rules as sending it). */
export const EditIn = Type.Object({ type: Type.Literal("edit"), id: MessageId, data: Type.String() });
/** The author deletes their message `id`: it stays as a tombstone (id, time; no text). */
export const DeleteIn = Type.Object({ type: Type.Literal("delete"), id: MessageId });
/** Toggles the sender's reaction `emoji` (one emoji) on message `id`. */
export const ReactIn = Type.Object({
  type: Type.Literal("react"),
  id: MessageId,
  emoji: Type.String({ minLength: 1, maxLength: 64 }),
});

/** Join a room (created on first join). The server answers with `list` and `history` for it. */
export const JoinIn = Type.Object({
  type: Type.Literal("join"),
  room: RoomName,
  /** An invite's token: needed to join a private room one is not a member of. */
  invite: Type.Optional(Type.String({ maxLength: 64 })),
  /** Creating the room: private from the start (never announced to everyone). Ignored for a room that exists. */
  private: Type.Optional(Type.Boolean()),
});
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
  /**
   * The messages around message `around`, in whichever of the account's conversations holds it
   * (`room` and `with` are not needed): a permalink, or a reply's original. Answered with `history`
   * carrying `around` and `newer`.
   */
  around: Type.Optional(MessageId),
});

/**
 * Moves the account's read position in a conversation (`room`, or the direct conversation `with` an
 * account) up to message `id`. Every socket of the account is told (`read`).
 */
export const ReadIn = Type.Object({
  type: Type.Literal("read"),
  room: Type.Optional(RoomName),
  with: Type.Optional(Type.Integer({ minimum: 1 })),
  id: Type.Integer({ minimum: 0 }),
});

/**
 * A page of the users online in a room (`room`, default lobby), by account id after `after`
 * (answered with `members`). `watch`: in a room above PRESENCE_BIG_ROOM_SIZE, also be told who comes
 * and goes there from now on (`presence` with `joined`/`left`, `listOnly`), until leaving the room.
 */
export const MembersIn = Type.Object({
  type: Type.Literal("members"),
  room: Type.Optional(RoomName),
  after: Type.Optional(Type.Integer({ minimum: 0 })),
  watch: Type.Optional(Type.Boolean()),
});

/**
 * Every structured client frame. A text frame that is not a JSON object with a
 * string `type` is a chat message to the lobby (the tutorial's client sends bare text).
 */
export const ClientFrame = Type.Union([
  ChatIn,
  PrivateIn,
  TypingIn,
  JoinIn,
  LeaveIn,
  RoomsIn,
  HistoryIn,
  ReadIn,
  MembersIn,
  EditIn,
  DeleteIn,
  ReactIn,
  NotifyIn,
  VisibilityIn,
  RoomSettingsIn,
  MuteIn,
  RemoveIn,
  ModeratorIn,
  InviteIn,
]);
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
  "read",
  "members",
  "edit",
  "delete",
  "react",
  "notify",
  "visibility",
  "room_settings",
  "mute",
  "remove",
  "moderator",
  "invite",
];

/**
 * Query parameters of the socket URL for recovery after a reconnect:
 * `/ws/chat?since=<offset>&epoch=<epoch>`. `since` and `epoch` are a position
 * (the highest message id the client has, and the epoch of the `position` it
 * was given); a bare `since` without `epoch` still works. The account's rooms
 * are re-entered (an older client's `&rooms=` is ignored: no resume joins). The
 * server sends, per conversation, a `history` frame with every message after
 * `since` (`recovered: true`), or the latest page when that gap is not there
 * any more, the epoch differs or `since` is beyond the end (`recovered: false`).
 */
export const RESUME_SINCE_PARAM = "since";
export const RESUME_EPOCH_PARAM = "epoch";

/**
 * Where a client is in the message log: `offset` is a message id, `epoch`
 * names the log those ids come from. A store that was reset (a new database)
 * has a new epoch, so an old position can never be taken for a recent one.
 */
export const Position = Type.Object({ epoch: Type.String(), offset: Type.Integer({ minimum: 0 }) });
export type Position = Static<typeof Position>;

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
  /** A `read` for a conversation the account is not in. */
  NotAMember: "not_a_member",
  /** A `join` that would create a room, past ROOM_CREATIONS_PER_HOUR; `data.retryMs`: when one may be created. */
  RoomCreationLimited: "room_creation_limited",
  /** A `join` that would create a room when MAX_ROOMS exist. */
  RoomLimitReached: "room_limit_reached",
  /** `edit`, `delete`, `react` or `replyTo` (or `history` `around`) name a message that does not exist, was deleted, or is in a conversation the account is not in. */
  MessageNotFound: "message_not_found",
  /** `edit` or `delete` of another account's message. */
  NotYours: "not_yours",
  /** `replyTo` names a message of another conversation. */
  InvalidReply: "invalid_reply",
  /** `react` with something that is not one emoji. */
  InvalidEmoji: "invalid_emoji",
  /** `react` with a new emoji on a message that has MAX_REACTIONS_PER_MESSAGE already. */
  TooManyReactions: "too_many_reactions",
  /** A moderation command the account's role does not allow (domain/policy.ts). */
  Forbidden: "forbidden",
  /** Muted in this room: `data.retryMs` says until when. Nothing was sent. */
  Muted: "muted",
  /** Slow mode: one message per the room's interval; `data.retryMs` says when the next may go. */
  SlowMode: "slow_mode",
  /** `join` of a private room without a (good) invite: `message` says what is wrong with it. */
  PrivateRoom: "private_room",
  /** A room setting out of bounds (a topic too long). */
  InvalidSetting: "invalid_setting",
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
  /** The account is banned from this server: do not reconnect; show why. */
  Banned: 4403,
  /** The client did not read fast enough: reconnect and resume. */
  SlowConsumer: 4100,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** True when a close code means the client must sign in again rather than reconnect. */
export const isTerminalClose = (code: number): boolean =>
  code === CloseCode.InvalidUser || code === CloseCode.SignedOut || code === CloseCode.Banned;

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
/**
 * To the joiner only: the users online in the room, one entry per user. `user` is the joiner. In a
 * room with more than PRESENCE_FULL_ROOM_SIZE online, `data` is empty, `count` says how many are
 * online and `more` is true: ask for the members page by page (`members`).
 */
export const ListFrame = frame("list", User, Type.Array(User), {
  room: Type.String(),
  count: Type.Optional(Type.Integer({ minimum: 0 })),
  more: Type.Optional(Type.Boolean()),
});
/**
 * In a room above PRESENCE_FULL_ROOM_SIZE online, at most one a second per room: to the room, how
 * many are online now and (up to PRESENCE_BIG_ROOM_SIZE) how many came and went since the last one;
 * to the sockets watching the member list (`members` with `watch`), who came and went
 * (`joined`, `left`, with `listOnly`).
 */
export const PresenceFrame = frame(
  "presence",
  Type.Null(),
  Type.Object({
    count: Type.Integer({ minimum: 0 }),
    arrived: Type.Optional(Type.Integer({ minimum: 1 })),
    departed: Type.Optional(Type.Integer({ minimum: 1 })),
    joined: Type.Optional(Type.Array(User)),
    left: Type.Optional(Type.Array(Type.Integer())),
    /** Sent to the member list's watchers of a big room: changes for the list, not news for the room. */
    listOnly: Type.Optional(Type.Boolean()),
  }),
  { room: Type.String() },
);
/** One page of a room's online members, by account id; `next`: the `after` of the next page, while there are more. */
export const MembersFrame = frame("members", Type.Null(), Type.Array(User), {
  room: Type.String(),
  count: Type.Integer({ minimum: 0 }),
  next: Type.Optional(Type.Integer()),
});
/** One emoji's reactions: how many, and who (the first 50). */
export const ReactionEntry = Type.Object({
  emoji: Type.String(),
  count: Type.Integer({ minimum: 1 }),
  users: Type.Array(Type.Object({ id: Type.Integer(), name: Type.String() })),
});
export type ReactionEntry = Static<typeof ReactionEntry>;

/** The start of the message a reply answers (its first 100 characters; `deleted`: it was deleted since). */
export const ReplyQuote = Type.Object({
  id: Type.Integer(),
  user: User,
  text: Type.String(),
  deleted: Type.Optional(Type.Boolean()),
});

/**
 * A file a message carries (its text is the caption). `url` downloads it (members of the
 * conversation only, checked on every request); `type` is what its bytes are (sniffed, never the
 * uploader's claim); `width` and `height` (pixels, as shown) are there for an image shown inline —
 * PNG, JPEG, GIF or WebP — and for nothing else: every other file is a download.
 */
export const FileRef = Type.Object({
  url: Type.String(),
  name: Type.String(),
  type: Type.String(),
  size: Type.Integer({ minimum: 0 }),
  width: Type.Optional(Type.Integer({ minimum: 1 })),
  height: Type.Optional(Type.Integer({ minimum: 1 })),
});
export type FileRef = Static<typeof FileRef>;

/** Where a file is downloaded: under its message's id, its name last (what a browser saves it as). */
export const FILES_PATH = "/files";
export const fileUrl = (messageId: number, name: string): string =>
  `${FILES_PATH}/${messageId}/${encodeURIComponent(name)}`;

/**
 * What a message frame carries besides its text, when it applies: the answered message, the
 * accounts mentioned, reactions, and when it was edited or deleted (a deleted message's `data` is "").
 */
const messageFields = {
  cid: Type.Optional(ClientMessageId),
  replyTo: Type.Optional(ReplyQuote),
  mentions: Type.Optional(Type.Array(Type.Integer())),
  reactions: Type.Optional(Type.Array(ReactionEntry)),
  editedAt: Type.Optional(Type.Integer()),
  deletedAt: Type.Optional(Type.Integer()),
  /**
   * The log position of the message's last change (edit, delete, reaction), when it has one: of two
   * states of a message, the one with the higher `rev` (or change frame `id`) is the newer.
   */
  rev: Type.Optional(Type.Integer()),
  /** The file it carries (its text, `data`, is the caption; "" for none). */
  file: Type.Optional(FileRef),
};

/** A chat message, to everyone in the room including the sender. */
export const ChatFrame = frame("chat", User, Type.String(), { room: Type.String(), ...messageFields });
/** A one-to-one message, to every socket of the recipient and of the sender. */
export const PrivateFrame = frame("private", User, Type.String(), { to: Type.Integer(), ...messageFields });

/** Where a change to a message happened: its room, or its direct conversation's two accounts. */
const changeFields = {
  room: Type.Optional(Type.String()),
  pair: Type.Optional(Type.Tuple([Type.Integer(), Type.Integer()])),
};
/**
 * Every change frame carries the message's whole state after it (so any one of them, even delivered
 * after an earlier change was missed, leaves a client right): its text ("" once deleted), when it was
 * edited or deleted, its reactions and mentions.
 */
const changeState = {
  mentions: Type.Optional(Type.Array(Type.Integer())),
  reactions: Type.Array(ReactionEntry),
};
/**
 * A message was edited (to everyone who can see its conversation). The frame's `id` is the change's
 * log position (resume from it like from a message); `data.id` the message's.
 */
export const EditFrame = frame(
  "edit",
  Type.Null(),
  Type.Object({
    id: Type.Integer(),
    text: Type.String(),
    editedAt: Type.Integer(),
    deletedAt: Type.Optional(Type.Integer()),
    ...changeState,
  }),
  changeFields,
);
/** A message was deleted: show a tombstone. */
export const DeleteFrame = frame(
  "delete",
  Type.Null(),
  Type.Object({ id: Type.Integer(), text: Type.Literal(""), deletedAt: Type.Integer(), ...changeState }),
  changeFields,
);
/** A message's reactions changed: all of them as they are now (and the rest of its state). */
export const ReactFrame = frame(
  "react",
  Type.Null(),
  Type.Object({
    id: Type.Integer(),
    text: Type.String(),
    editedAt: Type.Optional(Type.Integer()),
    ...changeState,
  }),
  changeFields,
);
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
  /** The log position this history is complete up to (resume from here). */
  position: Position,
  /** Answering `history` with `around`: that message's id, and whether newer messages exist past this page. */
  around: Type.Optional(Type.Integer()),
  newer: Type.Optional(Type.Boolean()),
});

/** One of the account's conversations, as the `conversations` frame lists it. */
export const ConversationEntry = Type.Object({
  /** A room's name; absent for a direct conversation. */
  room: Type.Optional(Type.String()),
  /** A direct conversation: the other account's id, and that account. */
  with: Type.Optional(Type.Integer()),
  user: Type.Optional(User),
  /** Messages from others after the read position (counted up to UNREAD_COUNT_CAP). */
  unread: Type.Integer({ minimum: 0 }),
  /** Unread messages that mention the account (counted up to UNREAD_COUNT_CAP). */
  mentions: Type.Integer({ minimum: 0 }),
  /** The read position: the highest message id the account has read here. */
  read: Type.Integer({ minimum: 0 }),
  /** The newest message id in the conversation (0: none). */
  last: Type.Integer({ minimum: 0 }),
  /** What it notifies of (see NotifyIn). */
  notify: NotifyLevel,
  /** A room's topic, slow mode (seconds) and privacy, when set. */
  topic: Type.Optional(Type.String()),
  slow: Type.Optional(Type.Integer()),
  private: Type.Optional(Type.Boolean()),
  /** The account moderates this room (its owner, a moderator, or a server admin). */
  moderates: Type.Optional(Type.Boolean()),
  /** The account may change the room's privacy and moderators (its owner, or a server admin). */
  owns: Type.Optional(Type.Boolean()),
  /** The account is muted here until then (ms). */
  mutedUntil: Type.Optional(Type.Integer()),
});
export type ConversationEntry = Static<typeof ConversationEntry>;

/**
 * First frame on every socket: the account's conversations (its rooms, the lobby first, then its
 * direct conversations, newest first) and the log position a resume needs. `user`: the account.
 */
export const ConversationsFrame = frame("conversations", User, Type.Array(ConversationEntry), {
  position: Position,
});

/** To every socket of the account: its read position in a conversation moved. */
export const ReadFrame = frame(
  "read",
  Type.Null(),
  Type.Object({ id: Type.Integer(), unread: Type.Integer(), mentions: Type.Integer() }),
  {
    room: Type.Optional(Type.String()),
    with: Type.Optional(Type.Integer()),
  },
);

/** To every socket of the account: its notification level in a conversation changed (`notify`). */
export const NotifyFrame = frame("notify", Type.Null(), Type.Object({ level: NotifyLevel }), {
  room: Type.Optional(Type.String()),
  with: Type.Optional(Type.Integer()),
});

/**
 * A room was created (to everyone), or the account joined or left one on another tab or device
 * (to the account's sockets: `joined`). `user`: who created, joined or left it.
 */
export const RoomFrame = frame(
  "room",
  User,
  Type.Object({
    name: Type.String(),
    event: Type.Union([Type.Literal("created"), Type.Literal("joined"), Type.Literal("left"), Type.Literal("removed")]),
    /** `joined`: the room's settings, and the account's standing there (as in `conversations`). */
    topic: Type.Optional(Type.String()),
    slow: Type.Optional(Type.Integer()),
    private: Type.Optional(Type.Boolean()),
    moderates: Type.Optional(Type.Boolean()),
    owns: Type.Optional(Type.Boolean()),
  }),
  { room: Type.String() },
);

/** To a room: its settings changed (`user`: who changed them). */
export const RoomSettingsFrame = frame(
  "room_settings",
  User,
  Type.Object({ topic: Type.String(), slow: Type.Integer(), private: Type.Boolean() }),
  { room: Type.String() },
);
/** To the muted account's sockets and the moderator's: `user` is muted in the room until `until` (0: not any more). */
export const MutedFrame = frame("muted", User, Type.Object({ until: Type.Integer() }), { room: Type.String() });
/** To a room: `user` is (or is no longer: `on` false) one of its moderators. */
export const ModeratorFrame = frame("moderator", User, Type.Object({ on: Type.Boolean() }), { room: Type.String() });
/** To the socket that asked: an invite link's token for a private room. */
export const InviteFrame = frame(
  "invite",
  Type.Null(),
  Type.Object({
    token: Type.String(),
    expiresAt: Type.Union([Type.Integer(), Type.Null()]),
    uses: Type.Union([Type.Integer(), Type.Null()]),
  }),
  { room: Type.String() },
);
/** To the sender's socket: the message with this `cid` is stored as `id` (also for a duplicate resend). */
export const AckFrame = frame("ack", Type.Null(), Type.Object({ cid: ClientMessageId, id: Type.Integer() }));
/** The rooms with their member counts (users online in them). */
export const RoomsFrame = frame(
  "rooms",
  Type.Null(),
  Type.Array(Type.Object({ name: Type.String(), members: Type.Integer({ minimum: 0 }) })),
);

/**
 * Someone is typing in the room (`room`), or to you in your direct conversation (`to`: your id); not
 * stored; expires after TYPING_TTL_MS on the client.
 */
export const TypingFrame = frame("typing", User, Type.Null(), {
  room: Type.Optional(Type.String()),
  to: Type.Optional(Type.Integer()),
});
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
  ConversationsFrame,
  ReadFrame,
  RoomFrame,
  RoomSettingsFrame,
  MutedFrame,
  ModeratorFrame,
  InviteFrame,
  PresenceFrame,
  MembersFrame,
  EditFrame,
  DeleteFrame,
  ReactFrame,
  NotifyFrame,
]);
export type ServerFrame = Static<typeof ServerFrame>;
export type ServerFrameOf<T extends ServerFrame["type"]> = Extract<ServerFrame, { type: T }>;

/** How long a client shows "X is typing…" after the last `typing` frame. */
export const TYPING_TTL_MS = 4000;

// ---------------------------------------------------------------- HTTP

/**
 * Body of `POST /wsin` (JSON or form). No name: the offered guest name. With `password`: sign in to
 * the registered account of that name.
 */
export const SignInBody = Type.Object({ name: Type.Optional(Type.String()), password: Type.Optional(Type.String()) });
/**
 * Body of `POST /signup`: register a name with a password (a signed-in guest is upgraded in place);
 * `invite`: a server invite's token, needed while sign-up is invite-only.
 */
export const SignUpBody = Type.Object({
  name: Type.String(),
  password: Type.String(),
  invite: Type.Optional(Type.String({ maxLength: 64 })),
});

/** Shortest and longest password accepted at sign-up (characters). */
export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 256;

/**
 * One result of `GET /search?q=…&before=…` (`{code: 0, data: SearchHit[], next?}`; `next`: the
 * `before` of the next page, while there may be more): where (`room`, or `with` the other account of
 * a direct conversation), who, when, and the text (around the first match when long) with the
 * matches as [start, end) UTF-16 offsets.
 */
export const SearchHit = Type.Object({
  id: Type.Integer(),
  room: Type.Optional(Type.String()),
  with: Type.Optional(Type.Integer()),
  user: User,
  ts: Type.Integer(),
  text: Type.String(),
  marks: Type.Array(Type.Tuple([Type.Integer(), Type.Integer()])),
  editedAt: Type.Optional(Type.Integer()),
  /** The message's file (found by its name as by its caption). */
  file: Type.Optional(FileRef),
});
export type SearchHit = Static<typeof SearchHit>;

/** Base64url text, as the keys of a PushSubscription are written. */
const Base64Url = (maxLength: number) => Type.String({ pattern: "^[A-Za-z0-9_-]+={0,2}$", minLength: 1, maxLength });
/**
 * The body of `POST /push/subscribe`: the browser's `PushSubscription.toJSON()` (`expirationTime` and
 * other extra fields are accepted and ignored). `DELETE /push/subscribe` takes `{endpoint}`.
 */
export const PushSubscriptionBody = Type.Object({
  endpoint: Type.String({ minLength: 1, maxLength: 2048 }),
  keys: Type.Object({ p256dh: Base64Url(128), auth: Base64Url(64) }),
});
export type PushSubscriptionBody = Static<typeof PushSubscriptionBody>;
export const PushUnsubscribeBody = Type.Object({ endpoint: Type.String({ minLength: 1, maxLength: 2048 }) });

/**
 * What a push carries to the service worker (encrypted for the browser): the newest message of a
 * conversation worth telling of, where (`room`, or `with` the other account), from whom, its first
 * PUSH_TEXT_LENGTH characters, and how many such messages this push stands for (`count`: collapsed).
 */
export const PushPayload = Type.Object({
  id: Type.Integer(),
  room: Type.Optional(Type.String()),
  with: Type.Optional(Type.Integer()),
  from: Type.String(),
  text: Type.String(),
  count: Type.Integer({ minimum: 1 }),
  mention: Type.Boolean(),
});
export type PushPayload = Static<typeof PushPayload>;
/** Characters of a message's text a push carries. */
export const PUSH_TEXT_LENGTH = 100;

/** A server role: the owner, an admin, a member (registered), a guest. */
export const ServerRole = Type.Union([
  Type.Literal("owner"),
  Type.Literal("admin"),
  Type.Literal("member"),
  Type.Literal("guest"),
]);
export type ServerRole = Static<typeof ServerRole>;

/** Every JSON answer of the HTTP API: `code` 0 is success, anything else an error. */
export const ApiOk = Type.Object({
  code: Type.Literal(0),
  data: Type.String(),
  user: Type.Optional(User),
  /** `GET /wsme`: the account's server role. */
  role: Type.Optional(ServerRole),
});
export const ApiError = Type.Object({
  code: Type.Integer(),
  /** Machine-readable reason, e.g. `name_taken`. */
  error: Type.String(),
  /** Human-readable reason. */
  data: Type.String(),
});
export type ApiError = Static<typeof ApiError>;

/**
 * The answer of `POST /files?room=…` (or `?with=<account id>`): the message posted, as its `chat`
 * or `private` frame (the same one the conversation gets), with its `file`.
 */
export const UploadAnswer = Type.Object({
  code: Type.Literal(0),
  data: Type.String(),
  message: StoredMessage,
});
export type UploadAnswer = Static<typeof UploadAnswer>;
