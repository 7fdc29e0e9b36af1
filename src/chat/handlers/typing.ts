/** `typing`: relayed to the room (clients ignore their own), at most one a second per socket, never stored. */
import { ErrorCode, type ClientFrame } from "../../protocol";
import type { ChatHub } from "../hub";
import type { OnlineAccount, Socket } from "../registry";
import { conversationTopic } from "../topics";

/** Minimum time between two relayed `typing` frames of one socket. */
const TYPING_THROTTLE_MS = 1000;

export const typing = (
  hub: ChatHub,
  ws: Socket,
  account: OnlineAccount,
  frame: Extract<ClientFrame, { type: "typing" }>,
): void => {
  const room = hub.roomOf(account, frame.room);
  if (!room) return hub.refuse(ws, ErrorCode.NotInRoom, `You are not in room "${frame.room ?? "lobby"}"`);
  const now = hub.now();
  if (now - ws.data.lastTypingAt < TYPING_THROTTLE_MS) return;
  ws.data.lastTypingAt = now;
  hub.broadcast(
    conversationTopic(room.id),
    hub.codec.encode({ type: "typing", user: account.user, data: null, room: room.name! }),
  );
};
