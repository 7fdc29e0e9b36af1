/** `notify`: the account's notification level in one of its conversations; every socket of it is told (`notify`). */
import { ErrorCode, type ClientFrame } from "../../protocol";
import type { ChatHub } from "../hub";
import type { OnlineAccount, Socket } from "../registry";

export const notify = async (
  hub: ChatHub,
  ws: Socket,
  account: OnlineAccount,
  frame: Extract<ClientFrame, { type: "notify" }>,
): Promise<void> => {
  const id = (
    frame.with !== undefined
      ? account.conversations.direct(frame.with)
      : account.conversations.room(frame.room ?? "lobby")
  )?.id;
  if (id === undefined || !(await hub.deps.store.setNotify(account.user.id, id, frame.level)))
    return hub.refuse(ws, ErrorCode.NotAMember, "You are not in that conversation");
  const where = frame.with !== undefined ? { with: frame.with } : { room: account.conversations.get(id)!.name! };
  hub.toAccount(
    account.user.id,
    hub.codec.encode({ type: "notify", user: null, data: { level: frame.level }, ...where }),
  );
};
