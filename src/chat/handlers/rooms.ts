/** `rooms`: the rooms that have members (the lobby first, then the most members), answered with `rooms`. */
import type { ClientFrame } from "../../protocol";
import type { ChatHub } from "../hub";
import type { OnlineAccount, Socket } from "../registry";

/** Most rooms a `rooms` frame lists. */
const ROOMS_LISTED = 200;

export const rooms = async (
  hub: ChatHub,
  ws: Socket,
  _account: OnlineAccount,
  _frame: Extract<ClientFrame, { type: "rooms" }>,
): Promise<void> => {
  const data = await hub.deps.store.listRooms(ROOMS_LISTED);
  hub.sendTo(ws, hub.codec.encode({ type: "rooms", user: null, data }));
};
