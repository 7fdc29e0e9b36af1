/**
 * Storing and delivering one message, shared by `chat` and `private`: a resend of a stored `cid`
 * is acknowledged with the original id (after the original's broadcast), never stored twice; a
 * new message is queued for the next batch commit, then delivered to its topics, then
 * acknowledged to the sender. The socket's next frame does not wait for the commit (its message
 * joins the same batch, in order): only for the cid check, which may ask the store.
 */
import { ErrorCode } from "../../protocol";
import type { Conversation } from "../../domain/model";
import type { NewMessage } from "../../ports/store";
import type { ChatHub } from "../hub";
import type { OnlineAccount, Socket } from "../registry";

export const sendMessage = (
  hub: ChatHub,
  ws: Socket,
  account: OnlineAccount,
  conversation: Conversation,
  body: string,
  cid: string | undefined,
  topics: readonly string[],
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
  });
  const deliver = (message: NewMessage) => {
    const text = hub.codec.message({ ...message, editedAt: null, deletedAt: null, sender }, conversation);
    const item = {
      id: message.id,
      topics: [...topics],
      text,
      ...(conversation.kind === "direct" ? { direct: conversation } : {}),
    };
    hub.tail.own(item, () => ack(message.id));
    hub.announced(item);
  };
  if (cid === undefined || !hub.deps.history) {
    const message = make();
    return writer.write(message, () => deliver(message), failed);
  }
  return writer.writeOnce(senderId, cid, make, deliver, ack, failed);
};
