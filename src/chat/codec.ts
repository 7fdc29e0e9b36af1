/**
 * The wire codec of the chat socket: client text → a validated ClientFrame
 * (or a refusal), records → server frames. Every server frame gets its id
 * and time here and is encoded once, whatever the number of recipients.
 * Message frames are encoded from message records, never stored as JSON.
 */
import { TypeCompiler } from "@sinclair/typebox/compiler";
import {
  CLIENT_FRAME_TYPES,
  ClientFrame,
  ErrorCode,
  fileUrl,
  type FileRef,
  type Position,
  type ServerFrame,
  type User,
} from "../protocol";
import {
  REACTION_USERS_SHOWN,
  shownName,
  type Account,
  type ChangeKind,
  type Conversation,
  type FileInfo,
  type MessageView,
  type Reaction,
  type ReplyQuote,
} from "../domain/model";

const clientFrame = TypeCompiler.Compile(ClientFrame);
const knownTypes = new Set<string>(CLIENT_FRAME_TYPES);

export type Parsed = { ok: true; frame: ClientFrame } | { ok: false; code: ErrorCode; message: string };

/**
 * Only a JSON object with a string `type` is a structured frame; any other text (the tutorial's
 * client sends bare text) is a chat message to the lobby.
 */
export const parseClientFrame = (raw: string): Parsed => {
  if (raw.charCodeAt(0) !== 123 /* { */) return { ok: true, frame: { type: "chat", data: raw } };
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return { ok: true, frame: { type: "chat", data: raw } };
  }
  const type = (parsed as { type?: unknown } | null)?.type;
  if (typeof type !== "string") return { ok: true, frame: { type: "chat", data: raw } };
  if (!knownTypes.has(type))
    return { ok: false, code: ErrorCode.UnknownType, message: `Unknown frame type "${type.slice(0, 40)}"` };
  if (!clientFrame.Check(parsed)) {
    const first = clientFrame.Errors(parsed).First();
    return {
      ok: false,
      code: ErrorCode.BadFrame,
      message: first ? `${first.path || "frame"}: ${first.message}` : "Malformed frame",
    };
  }
  return { ok: true, frame: parsed };
};

/**
 * The `cid` of a chat or private frame, read without validating the rest: a frame refused before it
 * is parsed (the rate limit) still goes back to its sender with its cid.
 */
export const peekCid = (raw: string | Buffer): string | undefined => {
  if (typeof raw !== "string" || raw.charCodeAt(0) !== 123 || !raw.includes('"cid"')) return undefined;
  try {
    const cid = (JSON.parse(raw) as { cid?: unknown }).cid;
    return typeof cid === "string" && cid.length > 0 && cid.length <= 64 ? cid : undefined;
  } catch {
    return undefined;
  }
};

/** An account as frames show it. */
export const toUser = (
  account: Pick<Account, "id" | "kind" | "name" | "image"> & { nameKey?: string | null },
): User => ({
  // The literal, not the store's copy of it: a user is kept for every account online.
  type: account.kind === "member" ? "member" : "guest",
  id: account.id,
  name: shownName(account),
  image: account.image,
});

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** A server frame before its id and time. */
export type Outgoing = DistributiveOmit<ServerFrame, "id" | "ts">;

/** The other account of a direct message's conversation (its sender's own notes: the sender). */
const peerOf = (message: Pick<MessageView, "senderId">, conversation: Conversation): number => {
  const [a, b] = conversation.pair!;
  return message.senderId === a ? b : a;
};

/** A reply's quote as frames carry it. */
const quoteOf = (quote: ReplyQuote) => ({
  id: quote.id,
  user: toUser(quote.sender),
  text: quote.body,
  ...(quote.deletedAt === null ? {} : { deleted: true }),
});

/** A message's file as frames carry it: where to get it, and an inline image's dimensions. */
export const fileRefOf = (messageId: number, file: FileInfo): FileRef => ({
  url: fileUrl(messageId, file.name),
  name: file.name,
  type: file.type,
  size: file.size,
  ...(file.inline && file.width !== null && file.height !== null ? { width: file.width, height: file.height } : {}),
});

/** Reactions as frames carry them: the count is exact, `users` the first REACTION_USERS_SHOWN. */
export const reactionsOf = (reactions: readonly Reaction[]) =>
  reactions.map((reaction) => ({
    emoji: reaction.emoji,
    count: reaction.count,
    users: reaction.users.slice(0, REACTION_USERS_SHOWN),
  }));

/** What a message frame needs to know about its conversation. */
export interface MessageContext {
  conversation: Conversation;
}

export class Codec {
  constructor(
    /** Ids of the frames the server makes (never a message's: those are the message ids). */
    private readonly nextId: () => number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Stamps id and time and encodes once. */
  encode(frame: Outgoing): string {
    return JSON.stringify({ id: this.nextId(), ...frame, ts: this.now() });
  }

  /** A `chat` (room) or `private` (direct) frame from a message record; its id is the message's. */
  message(message: MessageView, conversation: Conversation): string {
    return JSON.stringify(this.messageObject(message, conversation));
  }

  messageObject(message: MessageView, conversation: Conversation): object {
    const user = toUser(message.sender);
    const extra = {
      ...(message.cid === null ? {} : { cid: message.cid }),
      ...(message.quote ? { replyTo: quoteOf(message.quote) } : {}),
      ...(message.mentions.length > 0 ? { mentions: message.mentions } : {}),
      ...(message.reactions.length > 0 ? { reactions: reactionsOf(message.reactions) } : {}),
      ...(message.editedAt === null ? {} : { editedAt: message.editedAt }),
      ...(message.deletedAt === null ? {} : { deletedAt: message.deletedAt }),
      ...(message.rev === null ? {} : { rev: message.rev }),
      ...(message.file ? { file: fileRefOf(message.id, message.file) } : {}),
    };
    if (conversation.kind === "room")
      return {
        id: message.id,
        type: "chat",
        user,
        data: message.body,
        room: conversation.name,
        ts: message.createdAt,
        ...extra,
      };
    return {
      id: message.id,
      type: "private",
      user,
      data: message.body,
      to: peerOf(message, conversation),
      ts: message.createdAt,
      ...extra,
    };
  }

  /**
   * The frame of a change to a message (`edit`, `delete`, `react`), at its log position `seq`, from
   * the message as it is after the change. `data.id` is the message's id.
   */
  change(seq: number, kind: ChangeKind, message: MessageView, conversation: Conversation): string {
    const where = conversation.kind === "room" ? { room: conversation.name } : { pair: conversation.pair };
    // The whole state after the change (see the protocol's change frames).
    const data = {
      id: message.id,
      text: message.body,
      ...(message.editedAt === null ? {} : { editedAt: message.editedAt }),
      ...(message.deletedAt === null ? {} : { deletedAt: message.deletedAt }),
      ...(message.mentions.length > 0 ? { mentions: message.mentions } : {}),
      reactions: reactionsOf(message.reactions),
    };
    const ts = kind === "edit" ? message.editedAt : kind === "delete" ? message.deletedAt : this.now();
    return JSON.stringify({ id: seq, type: kind, user: null, data, ...where, ts });
  }

  /** A `history` frame around message frames. */
  history(
    messages: readonly { message: MessageView; conversation: Conversation }[],
    extra: {
      room?: string;
      with?: number;
      more: boolean;
      recovered?: boolean;
      position: Position;
      around?: number;
      newer?: boolean;
    },
  ): string {
    return JSON.stringify({
      id: this.nextId(),
      type: "history",
      user: null,
      data: messages.map((entry) => this.messageObject(entry.message, entry.conversation)),
      ts: this.now(),
      ...extra,
    });
  }
}
