/** `react`: toggles the sender's reaction (one emoji) on a message of one of its conversations. */
import { ErrorCode, type ClientFrame } from "../../protocol";
import { oneEmoji } from "../../domain/text";
import type { ChatHub } from "../hub";
import type { OnlineAccount, Socket } from "../registry";
import { changeMessage, notFound, visibleMessage } from "./message";
import { heldBack } from "./moderate";

export const react = async (
  hub: ChatHub,
  ws: Socket,
  account: OnlineAccount,
  frame: Extract<ClientFrame, { type: "react" }>,
): Promise<void> => {
  const emoji = oneEmoji(frame.emoji);
  if (emoji === undefined) return hub.refuse(ws, ErrorCode.InvalidEmoji, "A reaction is one emoji");
  const found = await visibleMessage(hub, account, frame.id);
  if (!found || found.message.deletedAt !== null) return notFound(hub, ws);
  if (heldBack(hub, ws, account, found.conversation, undefined, false)) return;
  changeMessage(hub, ws, found.conversation, { kind: "react", messageId: frame.id, actorId: account.user.id, emoji });
};
