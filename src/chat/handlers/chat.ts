/** `chat`: a message to a room the account is in (default: the lobby). */
import { ErrorCode, type ClientFrame } from "../../protocol";
import type { ChatHub } from "../hub";
import type { OnlineAccount, Socket } from "../registry";
import { conversationTopic } from "../topics";
import { sendMessage } from "./send";
import { messageText } from "./text";
import { heldBack } from "./moderate";

export const chat = (
  hub: ChatHub,
  ws: Socket,
  account: OnlineAccount,
  frame: Extract<ClientFrame, { type: "chat" }>,
): Promise<void> | void => {
  const text = messageText(hub, ws, frame.data, frame.cid);
  if (text === undefined) return;
  const room = hub.roomOf(account, frame.room);
  if (!room) return hub.refuse(ws, ErrorCode.NotInRoom, `You are not in room "${frame.room ?? "lobby"}"`, frame.cid);
  if (heldBack(hub, ws, account, room, frame.cid, true)) return;
  return sendMessage(hub, {
    ws,
    account,
    conversation: room,
    body: text,
    cid: frame.cid,
    topics: [conversationTopic(room.id)],
    ...(frame.replyTo === undefined ? {} : { replyTo: frame.replyTo }),
  });
};
