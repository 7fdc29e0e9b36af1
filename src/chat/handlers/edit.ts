/** `edit`: the author changes their message's text, under the rules of sending it; everyone who can see it is told. */
import type { ClientFrame } from "../../protocol";
import type { ChatHub } from "../hub";
import type { OnlineAccount, Socket } from "../registry";
import { changeMessage, notFound, resolveMentions, visibleMessage } from "./message";
import { messageText } from "./text";
import { heldBack } from "./moderate";
import { ErrorCode } from "../../protocol";

export const edit = async (
  hub: ChatHub,
  ws: Socket,
  account: OnlineAccount,
  frame: Extract<ClientFrame, { type: "edit" }>,
): Promise<void> => {
  const text = messageText(hub, ws, frame.data, undefined);
  if (text === undefined) return;
  const found = await visibleMessage(hub, account, frame.id);
  if (!found || found.message.deletedAt !== null) return notFound(hub, ws);
  if (heldBack(hub, ws, account, found.conversation, undefined, false)) return;
  if (found.message.senderId !== account.user.id)
    return hub.refuse(ws, ErrorCode.NotYours, "That message is not yours");
  // The same text again changes nothing (and does not mark the message edited).
  if (text === found.message.body) return;
  const mentions = await resolveMentions(hub, found.conversation, text, account.user.id);
  changeMessage(hub, ws, found.conversation, {
    kind: "edit",
    messageId: frame.id,
    actorId: account.user.id,
    body: text,
    mentions,
  });
};
