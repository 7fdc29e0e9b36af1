/**
 * Storing and delivering one message, shared by `chat` and `private`: a resend of a stored `cid`
 * is acknowledged with the original id (after the original's broadcast), never stored twice; a
 * new message is queued for the next batch commit, then delivered to its topics, then
 * acknowledged to the sender. The socket's next frame does not wait for the commit (its message
 * joins the same batch, in order): only for the cid check, which may ask the store.
 */
import { ErrorCode, type User } from "../../protocol";
import {
  REPLY_QUOTE_LENGTH,
  type Conversation,
  type FileInfo,
  type MessageView,
  type ReplyQuote,
} from "../../domain/model";
import type { NewMessage } from "../../ports/store";
import type { ChatHub } from "../hub";
import type { OnlineAccount, Socket } from "../registry";
import { notFound, resolveMentions, visibleMessage } from "./message";

/** A message on its way: who sends it where, and what it says. */
export interface Draft {
  ws: Socket;
  account: OnlineAccount;
  conversation: Conversation;
  body: string;
  cid: string | undefined;
  topics: readonly string[];
  /** The id of the message it answers. */
  replyTo?: number;
}

/** A message just stored, as frames show it (nothing changed it yet). */
const stored = (message: NewMessage, sender: MessageView["sender"], quote?: ReplyQuote): MessageView => ({
  ...message,
  editedAt: null,
  deletedAt: null,
  sender,
  ...(quote ? { quote } : {}),
  reactions: [],
  rev: null,
  change: null,
});

/** Delivers a stored message to its topics here (in the log's order), and to the other instances. */
const delivered = (
  hub: ChatHub,
  message: MessageView,
  conversation: Conversation,
  topics: readonly string[],
  after: () => void,
): void => {
  const item = {
    id: message.id,
    topics: [...topics],
    text: hub.codec.message(message, conversation),
    ...(conversation.kind === "direct" ? { direct: conversation } : {}),
  };
  hub.tail.own(item, after);
  hub.announced(item);
  hub.deps.stored?.({
    id: message.id,
    conversation,
    senderId: message.senderId,
    senderName: message.sender.name,
    // A file's message without a caption says what it carries.
    body: message.body || (message.file ? `📎 ${message.file.name}` : ""),
    mentions: message.mentions,
  });
};

/**
 * A message posted without a socket (a file uploaded over HTTP, its text the caption): stored
 * through the same writer as every message (mentions resolved alike), delivered to everyone who
 * can see the conversation; resolves with it once delivered here, or rejects if it was not stored.
 */
export const postMessage = async (
  hub: ChatHub,
  sender: User,
  conversation: Conversation,
  body: string,
  file?: FileInfo,
): Promise<MessageView> => {
  const mentions = await resolveMentions(hub, conversation, body, sender.id);
  const message: NewMessage = {
    id: hub.deps.messageId(),
    conversationId: conversation.id,
    senderId: sender.id,
    body,
    cid: null,
    createdAt: hub.now(),
    replyTo: null,
    mentions,
    ...(file ? { file } : {}),
  };
  const shown = { id: sender.id, kind: sender.type, name: sender.name, image: sender.image };
  return new Promise((resolve, reject) =>
    hub.deps.writer.write(
      message,
      () => {
        const view = stored(message, shown);
        delivered(hub, view, conversation, hub.whereTo(conversation).topics, () => resolve(view));
      },
      reject,
    ),
  );
};

export const sendMessage = (hub: ChatHub, draft: Draft): Promise<void> | void =>
  // Plain text (the usual message) is stored at once; a reply or an `@` is looked at first.
  draft.replyTo === undefined && !draft.body.includes("@") ? store(hub, draft, undefined, []) : prepared(hub, draft);

/** The quote of a reply (refusing one that is not in this conversation) and the mentions of a text. */
const prepared = async (hub: ChatHub, draft: Draft): Promise<void> => {
  const { ws, account, conversation, cid, replyTo } = draft;
  let quote: ReplyQuote | undefined;
  if (replyTo !== undefined) {
    const found = await visibleMessage(hub, account, replyTo);
    if (!found || found.message.deletedAt !== null) return notFound(hub, ws, cid);
    if (found.conversation.id !== conversation.id)
      return hub.refuse(ws, ErrorCode.InvalidReply, "A reply answers a message of the same conversation", cid);
    const original = found.message;
    quote = {
      id: original.id,
      sender: original.sender,
      body: [...original.body].slice(0, REPLY_QUOTE_LENGTH).join(""),
      deletedAt: null,
    };
  }
  return store(hub, draft, quote, await resolveMentions(hub, conversation, draft.body, account.user.id));
};

const store = (
  hub: ChatHub,
  { ws, account, conversation, body, cid, topics }: Draft,
  quote: ReplyQuote | undefined,
  mentions: readonly number[],
): Promise<void> | void => {
  const { writer, log } = hub.deps;
  const senderId = account.user.id;
  const ack = (id: number) => {
    if (cid !== undefined) hub.ackLater(ws, hub.codec.encode({ type: "ack", user: null, data: { cid, id } }));
  };
  const failed = (error: unknown) => {
    log.error("store.write_failed", { userId: senderId, error: String(error) });
    hub.refuse(ws, ErrorCode.NotStored, "The message could not be stored; try again", cid);
  };
  const sender = { id: senderId, kind: account.user.type, name: account.user.name, image: account.user.image };
  const make = () => ({
    id: hub.deps.messageId(),
    conversationId: conversation.id,
    senderId,
    body,
    cid: cid ?? null,
    createdAt: hub.now(),
    replyTo: quote?.id ?? null,
    mentions,
  });
  const deliver = (message: NewMessage) =>
    delivered(hub, stored(message, sender, quote), conversation, topics, () => ack(message.id));
  if (cid === undefined || !hub.deps.history) {
    const message = make();
    return writer.write(message, () => deliver(message), failed);
  }
  return writer.writeOnce(senderId, cid, make, deliver, ack, failed);
};
