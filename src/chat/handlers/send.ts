/**
 * Storing and delivering one message, shared by `chat` and `private`: a resend of a stored `cid`
 * is acknowledged with the original id (after the original's broadcast), never stored twice; a
 * new message is queued for the next batch commit, then delivered to its topics, then
 * acknowledged to the sender. The socket's next frame does not wait for the commit (its message
 * joins the same batch, in order): only for the cid check, which may ask the store.
 */
import { ErrorCode } from "../../protocol";
import { REPLY_QUOTE_LENGTH, type Conversation, type ReplyQuote } from "../../domain/model";
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
    if (cid !== undefined) hub.sendTo(ws, hub.codec.encode({ type: "ack", user: null, data: { cid, id } }));
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
  const deliver = (message: NewMessage) => {
    const text = hub.codec.message(
      {
        ...message,
        editedAt: null,
        deletedAt: null,
        sender,
        ...(quote ? { quote } : {}),
        reactions: [],
        rev: null,
        change: null,
      },
      conversation,
    );
    const item = {
      id: message.id,
      topics: [...topics],
      text,
      ...(conversation.kind === "direct" ? { direct: conversation } : {}),
    };
    hub.tail.own(item, () => ack(message.id));
    hub.announced(item);
    hub.deps.stored?.({
      id: message.id,
      conversation,
      senderId,
      senderName: sender.name,
      body: message.body,
      mentions: message.mentions,
    });
  };
  if (cid === undefined || !hub.deps.history) {
    const message = make();
    return writer.write(message, () => deliver(message), failed);
  }
  return writer.writeOnce(senderId, cid, make, deliver, ack, failed);
};
