/** `typing`: relayed to the room (clients ignore their own), at most one a second per socket, never stored. */
import { ErrorCode, type ClientFrame } from "../../protocol";
import type { ChatHub } from "../hub";
import type { OnlineAccount, Socket } from "../registry";
import { conversationTopic, userTopic } from "../topics";

/** Minimum time between two relayed `typing` frames of one socket. */
const TYPING_THROTTLE_MS = 1000;

/** Whether this socket may relay a `typing` now (and it counts as relayed). */
const throttled = (hub: ChatHub, ws: Socket): boolean => {
  const now = hub.now();
  if (now - ws.data.lastTypingAt < TYPING_THROTTLE_MS) return false;
  ws.data.lastTypingAt = now;
  return true;
};

export const typing = (
  hub: ChatHub,
  ws: Socket,
  account: OnlineAccount,
  frame: Extract<ClientFrame, { type: "typing" }>,
): void => {
  if (frame.to !== undefined) {
    // Only in a direct conversation that exists (the first message starts one); to yourself: nobody.
    if (!account.conversations.direct(frame.to) || frame.to === account.user.id || !throttled(hub, ws)) return;
    return hub.broadcast(
      userTopic(frame.to),
      hub.codec.encode({ type: "typing", user: account.user, data: null, to: frame.to }),
    );
  }
  const room = hub.roomOf(account, frame.room);
  if (!room) return hub.refuse(ws, ErrorCode.NotInRoom, `You are not in room "${frame.room ?? "lobby"}"`);
  if (!throttled(hub, ws)) return;
  hub.broadcast(
    conversationTopic(room.id),
    hub.codec.encode({ type: "typing", user: account.user, data: null, room: room.name! }),
  );
};
