/** `visibility`: whether this socket's page is in front of its reader (pushes go to accounts with none that is). */
import type { ClientFrame } from "../../protocol";
import type { ChatHub } from "../hub";
import type { OnlineAccount, Socket } from "../registry";

export const visibility = (
  hub: ChatHub,
  ws: Socket,
  account: OnlineAccount,
  frame: Extract<ClientFrame, { type: "visibility" }>,
): void => {
  ws.data.hidden = !frame.visible;
  hub.visibilityChanged(account.user.id);
};
