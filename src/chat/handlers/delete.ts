/** `delete`: the author deletes their message; it stays a tombstone (id and time, no text) for everyone. */
import { ErrorCode, type ClientFrame } from "../../protocol";
import type { ChatHub } from "../hub";
import type { OnlineAccount, Socket } from "../registry";
import { changeMessage, notFound, visibleMessage } from "./message";

export const deleteMessage = async (
  hub: ChatHub,
  ws: Socket,
  account: OnlineAccount,
  frame: Extract<ClientFrame, { type: "delete" }>,
): Promise<void> => {
  const found = await visibleMessage(hub, account, frame.id);
  if (!found || found.message.deletedAt !== null) return notFound(hub, ws);
  if (found.message.senderId !== account.user.id)
    return hub.refuse(ws, ErrorCode.NotYours, "That message is not yours");
  changeMessage(hub, ws, found.conversation, { kind: "delete", messageId: frame.id, actorId: account.user.id });
};
