/** `history`: a page back through a room the account is in, or its direct conversation `with` an account. */
import { ErrorCode, type ClientFrame } from "../../protocol";
import type { ChatHub } from "../hub";
import type { OnlineAccount, Socket } from "../registry";
import { notFound, visibleMessage } from "./message";

export const history = async (
  hub: ChatHub,
  ws: Socket,
  account: OnlineAccount,
  frame: Extract<ClientFrame, { type: "history" }>,
): Promise<void> => {
  const { store, limits } = hub.deps;
  const size = Math.min(frame.limit ?? limits.historyPageSize, limits.historyPageSize);
  const before = frame.before ?? Number.MAX_SAFE_INTEGER;
  const position = hub.position;
  if (frame.around !== undefined) {
    const found = await visibleMessage(hub, account, frame.around);
    if (!found) return notFound(hub, ws);
    const { conversation } = found;
    const page = await store.around(conversation.id, frame.around, Math.ceil(size / 2));
    const where =
      conversation.kind === "room"
        ? { room: conversation.name! }
        : { with: conversation.pair![0] === account.user.id ? conversation.pair![1] : conversation.pair![0] };
    return hub.sendTo(
      ws,
      hub.codec.history(
        page.messages.map((message) => ({ message, conversation })),
        { ...where, more: page.more, newer: page.newer, around: frame.around, position },
      ),
    );
  }
  if (frame.with !== undefined) {
    const conversation = account.conversations.direct(frame.with);
    // Never talked with them: an empty page (whether or not the account exists).
    if (!conversation) return hub.sendTo(ws, hub.codec.history([], { with: frame.with, more: false, position }));
    const page = await store.page(conversation.id, size, before);
    return hub.sendTo(
      ws,
      hub.codec.history(
        page.messages.map((message) => ({ message, conversation })),
        { with: frame.with, more: page.more, position },
      ),
    );
  }
  const room = hub.roomOf(account, frame.room);
  // History is for members: joining a room is open to all, reading it requires being in it.
  if (!room) return hub.refuse(ws, ErrorCode.NotInRoom, `You are not in room "${frame.room ?? "lobby"}"`);
  const page = await store.page(room.id, size, before);
  hub.sendTo(
    ws,
    hub.codec.history(
      page.messages.map((message) => ({ message, conversation: room })),
      { room: room.name!, more: page.more, position },
    ),
  );
};
