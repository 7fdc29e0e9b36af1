/** `leave`: the account leaves a room on every tab and device (`room` left to its sockets, `left` to the room). */
import { ErrorCode, type ClientFrame } from "../../protocol";
import type { ChatHub } from "../hub";
import type { OnlineAccount, Socket } from "../registry";

export const leave = async (
  hub: ChatHub,
  ws: Socket,
  account: OnlineAccount,
  frame: Extract<ClientFrame, { type: "leave" }>,
): Promise<void> => {
  const room = hub.roomOf(account, frame.room);
  if (!room) return hub.refuse(ws, ErrorCode.NotInRoom, `You are not in room "${frame.room}"`);
  await hub.deps.store.leave(account.user.id, room.id);
  hub.leaveRoom(account, room);
};
