/**
 * `members`: one page of the people online in a room (by account id, after `after`), on every
 * instance. `watch`: also subscribes the socket to who comes and goes in a big room.
 */
import { ErrorCode, type ClientFrame } from "../../protocol";
import { MEMBERS_PAGE_SIZE, type ChatHub } from "../hub";
import type { OnlineAccount, Socket } from "../registry";
import { membersTopic } from "../topics";

export const members = (
  hub: ChatHub,
  ws: Socket,
  account: OnlineAccount,
  frame: Extract<ClientFrame, { type: "members" }>,
): void => {
  const room = hub.roomOf(account, frame.room);
  if (!room) return hub.refuse(ws, ErrorCode.NotInRoom, `You are not in room "${frame.room ?? "lobby"}"`);
  const after = frame.after ?? 0;
  const everyone = hub.members(room.id);
  const page = everyone
    .filter((user) => user.id > after)
    .sort((a, b) => a.id - b.id)
    .slice(0, MEMBERS_PAGE_SIZE + 1);
  const more = page.length > MEMBERS_PAGE_SIZE;
  if (more) page.pop();
  if (frame.watch) ws.subscribe(membersTopic(room.id));
  hub.sendTo(
    ws,
    hub.codec.encode({
      type: "members",
      user: null,
      data: page,
      room: room.name!,
      count: everyone.length,
      ...(more ? { next: page.at(-1)!.id } : {}),
    }),
  );
};
