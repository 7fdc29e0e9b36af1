/**
 * `private`: a message in the direct conversation with another account (created on first use). It
 * is stored whether or not they are online, and reaches every socket of both accounts; offline,
 * they get it with their unread count when they come back.
 */
import { ErrorCode, type ClientFrame } from "../../protocol";
import type { ChatHub } from "../hub";
import type { OnlineAccount, Socket } from "../registry";
import { userTopic } from "../topics";
import { sendMessage } from "./send";
import { messageText } from "./text";

export const privateMessage = async (
  hub: ChatHub,
  ws: Socket,
  account: OnlineAccount,
  frame: Extract<ClientFrame, { type: "private" }>,
): Promise<void> => {
  const text = messageText(hub, ws, frame.data, frame.cid);
  if (text === undefined) return;
  const me = account.user.id;
  let id = account.conversations.direct(frame.to)?.id;
  if (id === undefined) {
    const { store } = hub.deps;
    if (!(await store.account(frame.to))) return hub.refuse(ws, ErrorCode.UnknownUser, "No such user", frame.cid);
    const conversation = await store.direct(me, frame.to, hub.now());
    for (const accountId of new Set([me, frame.to])) {
      const online = hub.registry.get(accountId);
      if (online) hub.addConversation(online, conversation);
    }
    id = conversation.id;
  }
  const conversation = account.conversations.get(id)!;
  const topics = frame.to === me ? [userTopic(me)] : [userTopic(frame.to), userTopic(me)];
  return sendMessage(hub, {
    ws,
    account,
    conversation,
    body: text,
    cid: frame.cid,
    topics,
    ...(frame.replyTo === undefined ? {} : { replyTo: frame.replyTo }),
  });
};
