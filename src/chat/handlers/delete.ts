/**
 * `delete`: the author deletes their message, or a moderator of its room (the room's owner, a
 * moderator, a server admin) someone's weaker than them (domain/policy.ts); it stays a tombstone (id
 * and time, no text) for everyone. A moderator's deletion is written to the audit log.
 */
import { ErrorCode, type ClientFrame } from "../../protocol";
import type { ChatHub } from "../hub";
import type { OnlineAccount, Socket } from "../registry";
import { changeMessage, notFound, visibleMessage } from "./message";
import { actorIn, targetIn } from "./moderate";
import { allowed } from "../../domain/policy";

export const deleteMessage = async (
  hub: ChatHub,
  ws: Socket,
  account: OnlineAccount,
  frame: Extract<ClientFrame, { type: "delete" }>,
): Promise<void> => {
  const found = await visibleMessage(hub, account, frame.id);
  if (!found || found.message.deletedAt !== null) return notFound(hub, ws);
  const own = found.message.senderId === account.user.id;
  if (!own) {
    const { conversation } = found;
    const target =
      conversation.kind === "room" ? await targetIn(hub, conversation.id, found.message.senderId) : undefined;
    if (!target || !allowed(await actorIn(hub, account, conversation), "delete_message", target))
      return hub.refuse(ws, ErrorCode.NotYours, "That message is not yours");
    await hub.deps.moderation?.recordRoomAction(account.user.id, "delete_message", {
      accountId: found.message.senderId,
      conversationId: conversation.id,
      messageId: frame.id,
    });
  }
  changeMessage(hub, ws, found.conversation, {
    kind: "delete",
    messageId: frame.id,
    actorId: account.user.id,
    ...(own ? {} : { anyAuthor: true }),
  });
};
