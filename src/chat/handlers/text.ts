/** The text rules every message shares: trimmed, not empty, at most MAX_MESSAGE_LENGTH characters. */
import { ErrorCode } from "../../protocol";
import type { ChatHub } from "../hub";
import type { Socket } from "../registry";

/** The trimmed text of a message, or undefined after refusing it (with its cid). */
export const messageText = (hub: ChatHub, ws: Socket, data: string, cid: string | undefined): string | undefined => {
  const text = data.trim();
  if (text.length === 0) {
    hub.refuse(ws, ErrorCode.EmptyMessage, "Empty message", cid);
    return undefined;
  }
  const max = hub.deps.limits.maxMessageLength;
  if (text.length > max && [...text].length > max) {
    hub.refuse(ws, ErrorCode.TooLong, `Messages are limited to ${max} characters`, cid);
    return undefined;
  }
  return text;
};
