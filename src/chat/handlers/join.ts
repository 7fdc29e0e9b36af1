/**
 * `join`: the account joins a room, creating it if no room has that name or a look-alike (its
 * creator owns it); a private room only with an invite (`invite`). The
 * membership is durable (every tab and device is in the room until the account leaves). Creating
 * is rate-limited per account and announced to everyone; every socket of the account gets `room`
 * (joined), `list` and `history`; the room gets `join`.
 */
import { ErrorCode, type ClientFrame } from "../../protocol";
import { checkRoomName } from "../../domain/names";
import type { ChatHub } from "../hub";
import type { OnlineAccount, Socket } from "../registry";
import { EVERYONE_TOPIC } from "../topics";
import { INVITE_PROBLEMS } from "../../services/accounts";

export const join = async (
  hub: ChatHub,
  ws: Socket,
  account: OnlineAccount,
  frame: Extract<ClientFrame, { type: "join" }>,
): Promise<void> => {
  const check = checkRoomName(frame.room);
  if (!check.ok) return hub.refuse(ws, ErrorCode.InvalidRoom, check.message);
  const { store, limits, roomCreations } = hub.deps;
  let room = await store.room(check.key);
  if (room && account.conversations.has(room.id)) return hub.sendRoomState(ws, room, hub.lastDeliveredId);
  if (account.conversations.roomCount >= limits.maxRoomsPerUser)
    return hub.refuse(ws, ErrorCode.TooManyRooms, `At most ${limits.maxRoomsPerUser} rooms; leave one first`);
  const now = hub.now();
  // A private room lets in those with an invite (one use of it).
  if (room && (await store.roomSettings(room.id))?.private) {
    if (!frame.invite)
      return hub.refuse(ws, ErrorCode.PrivateRoom, "That room is private: joining it needs an invite link");
    const use = await store.useInvite(frame.invite, room.id, now, account.user.id);
    if (use !== "ok") return hub.refuse(ws, ErrorCode.PrivateRoom, INVITE_PROBLEMS[use]);
  }
  let created = false;
  if (room) await store.join(account.user.id, room.id, now);
  else {
    if ((await store.roomCount()) >= limits.maxRooms)
      return hub.refuse(
        ws,
        ErrorCode.RoomLimitReached,
        `This server allows ${limits.maxRooms} rooms; join an existing one`,
      );
    const retryMs = await roomCreations.take(account.user.id);
    if (retryMs > 0)
      return hub.refuse(ws, ErrorCode.RoomCreationLimited, "Too many new rooms; try again later", undefined, retryMs);
    ({ room, created } = await store.createRoom(check.name, check.key, account.user.id, now));
    if (!created) await store.join(account.user.id, room.id, now);
    else if (frame.private) await store.setRoomSettings(room.id, { private: true });
  }
  const name = room.name!;
  if (created && !frame.private)
    hub.broadcast(
      EVERYONE_TOPIC,
      hub.codec.encode({ type: "room", user: account.user, data: { name, event: "created" }, room: name }),
    );
  await hub.enterRoom(account, room);
};
