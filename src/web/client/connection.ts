/**
 * The chat socket with reconnection: exponential backoff with jitter, a
 * "try now", and the protocol's rules for telling "signed out" from "server
 * down" (a close code in `isTerminalClose`, or — since a refused upgrade only
 * shows as 1006 — a 401 from `GET /wsme`).
 */
import { Check } from "@sinclair/typebox/value";
import { CHAT_SOCKET_PATH, CloseCode, isTerminalClose, ServerFrame, type ClientFrame } from "../../protocol";
import { whoAmI } from "./api";

/** First reconnect delay; doubles per failed attempt up to RECONNECT_MAX_MS. */
export const RECONNECT_BASE_MS = 1000;
export const RECONNECT_MAX_MS = 30_000;
/** After a 4008 (abuse) the server asks us not to come back at once. */
const ABUSE_PAUSE_MS = 60_000;
/** A socket that stayed open this long counts as healthy: the backoff starts over. */
const STABLE_AFTER_MS = 10_000;

export type ConnectionStatus =
  | { state: "connecting" }
  | { state: "open" }
  | { state: "waiting"; retryAt: number; abuse: boolean }
  /** `nameLost`: a guest whose name someone else took while it was away (sign in under another name). */
  | { state: "signed-out"; nameLost: boolean }
  /** The account is banned (closed with 4403): never reconnect; say so. */
  | { state: "banned" };

export interface ConnectionOptions {
  /** Query string (`since`, `epoch`) for the next connect, so the server can resume. */
  query: () => URLSearchParams;
  onFrame: (frame: ServerFrame) => void;
  onStatus: (status: ConnectionStatus) => void;
}

/** `ws:`/`wss:` to the host the page came from, so it works behind a proxy and TLS. */
export const socketUrl = (query: URLSearchParams): string => {
  const url = new URL(CHAT_SOCKET_PATH, location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  url.search = query.toString();
  return url.toString();
};

/** Backoff for the n-th failed attempt (0-based): half fixed, half random, so clients do not return in step. */
export const backoffMs = (attempt: number, random: () => number = Math.random): number => {
  const ceiling = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** attempt);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
};

export class Connection {
  private ws: WebSocket | undefined;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  /** True while a reconnect timer runs (and only then may "try now" cut it short). */
  private waiting = false;

  constructor(private readonly options: ConnectionOptions) {
    window.addEventListener("online", this.onOnline);
  }

  start(): void {
    this.connect();
  }

  get isOpen(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  /** Sends a frame; false when the socket is not open (the caller marks the message failed). */
  send(frame: ClientFrame): boolean {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  /** Skips the rest of the wait and connects now. */
  tryNow(): void {
    if (this.stopped || !this.waiting) return;
    clearTimeout(this.timer);
    this.waiting = false;
    this.connect();
  }

  /** Closes for good (sign-out): no reconnect. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    window.removeEventListener("online", this.onOnline);
    this.ws?.close(1000, "bye");
    this.ws = undefined;
  }

  private readonly onOnline = (): void => this.tryNow();

  private connect(): void {
    this.options.onStatus({ state: "connecting" });
    const ws = new WebSocket(socketUrl(this.options.query()));
    this.ws = ws;
    let openedAt: number | undefined;
    ws.addEventListener("open", () => {
      openedAt = Date.now();
      this.options.onStatus({ state: "open" });
    });
    ws.addEventListener("message", (event) => {
      let frame: unknown;
      try {
        frame = JSON.parse(String(event.data));
      } catch {
        frame = undefined;
      }
      if (Check(ServerFrame, frame)) this.options.onFrame(frame);
      else console.warn("teahouse: ignoring a frame that does not match the protocol", event.data);
    });
    ws.addEventListener("close", (event) => {
      if (this.ws !== ws || this.stopped) return;
      this.ws = undefined;
      const healthy = openedAt !== undefined && Date.now() - openedAt >= STABLE_AFTER_MS;
      void this.closed(event.code, openedAt !== undefined, healthy);
    });
  }

  private async closed(code: number, opened: boolean, healthy: boolean): Promise<void> {
    // Signed out elsewhere: nothing to ask. 4001 may be a guest whose name was taken: ask why.
    if (code === CloseCode.SignedOut) return this.signedOut(false);
    if (code === CloseCode.Banned) {
      this.stop();
      return this.options.onStatus({ state: "banned" });
    }
    // A refused upgrade (401) looks exactly like a dead server (1006, no open): ask.
    if (isTerminalClose(code) || !opened || code === 1006) {
      const me = await whoAmI();
      if (this.stopped) return;
      if (me.state === "signed-out" || me.state === "name-lost") return this.signedOut(me.state === "name-lost");
      if (isTerminalClose(code)) return this.signedOut(false);
    }
    if (healthy) this.attempt = 0;
    const abuse = code === CloseCode.PolicyViolation;
    const delay = abuse ? ABUSE_PAUSE_MS : backoffMs(this.attempt++);
    this.options.onStatus({ state: "waiting", retryAt: Date.now() + delay, abuse });
    this.waiting = true;
    this.timer = setTimeout(() => {
      this.waiting = false;
      this.connect();
    }, delay);
  }

  private signedOut(nameLost: boolean): void {
    this.stop();
    this.options.onStatus({ state: "signed-out", nameLost });
  }
}
