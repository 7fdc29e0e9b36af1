/** `read`: moves the account's read position in a conversation; every socket of the account gets `read`. */
import { ErrorCode, type ClientFrame } from "../../protocol";
import type { ChatHub } from "../hub";
import type { OnlineAccount, Socket } from "../registry";

export const read = async (
  hub: ChatHub,
  ws: Socket,
  account: OnlineAccount,
  frame: Extract<ClientFrame, { type: "read" }>,
): Promise<void> => {
  const id = (
    frame.with !== undefined
      ? account.conversations.direct(frame.with)
      : account.conversations.room(frame.room ?? "lobby")
  )?.id;
  if (id === undefined) return hub.refuse(ws, ErrorCode.NotAMember, "You are not in that conversation");
  const moved = await hub.deps.store.markRead(account.user.id, id, frame.id);
  if (!moved) return hub.refuse(ws, ErrorCode.NotAMember, "You are not in that conversation");
  const where = frame.with !== undefined ? { with: frame.with } : { room: account.conversations.get(id)!.name! };
  hub.toAccount(
    account.user.id,
    hub.codec.encode({
      type: "read",
      user: null,
      data: { id: moved.readUpTo, unread: moved.unread, mentions: moved.mentions },
      ...where,
    }),
  );
};
