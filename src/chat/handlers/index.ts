/** One handler per client command, by frame type: the table the hub dispatches on. */
import type { ClientFrame } from "../../protocol";
import type { ChatHub } from "../hub";
import type { OnlineAccount, Socket } from "../registry";
import { chat } from "./chat";
import { deleteMessage } from "./delete";
import { edit } from "./edit";
import { react } from "./react";
import { history } from "./history";
import { join } from "./join";
import { leave } from "./leave";
import { members } from "./members";
import { notify } from "./notify";
import { privateMessage } from "./private";
import { read } from "./read";
import { rooms } from "./rooms";
import { typing } from "./typing";
import { visibility } from "./visibility";
import { invite, moderator, mute, remove, roomSettings } from "./moderate";

type Handler<T extends ClientFrame["type"]> = (
  hub: ChatHub,
  ws: Socket,
  account: OnlineAccount,
  frame: Extract<ClientFrame, { type: T }>,
) => Promise<void> | void;

export const handlers: { [T in ClientFrame["type"]]: Handler<T> } = {
  chat,
  private: privateMessage,
  typing,
  join,
  leave,
  rooms,
  history,
  read,
  members,
  edit,
  delete: deleteMessage,
  react,
  notify,
  visibility,
  room_settings: roomSettings,
  mute,
  remove,
  moderator,
  invite,
};
