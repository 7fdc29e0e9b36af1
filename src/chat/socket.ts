/**
 * The chat WebSocket, `/ws/chat`. Elysia performs the upgrade: the same
 * `auth` macro as the HTTP routes resolves the session (401 before upgrading
 * when there is none) and `sameOrigin` refuses foreign pages (403).
 *
 * Once open, the socket is handed to the hub: its `data` — which Elysia fills
 * with the whole request context — is replaced by a small Connection whose
 * methods receive the socket's events directly (Elysia's Bun adapter
 * dispatches `ws.data.message(ws, message)` and `ws.data.close(...)`). This
 * keeps per-connection memory small, hands the hub the raw text of every
 * frame (Elysia's parser would turn "007" into 7) and skips a wrapper
 * allocation per message.
 *
 * Each connection's life is logged (user id, client IP, close code, duration —
 * never a message) and counted for /metrics.
 */
import { Elysia } from "elysia";
import type { ServerWebSocket } from "bun";
import { CHAT_SOCKET_PATH, CloseCode, RESUME_ROOMS_PARAM, RESUME_SINCE_PARAM } from "../protocol";
import { authPlugin } from "../auth/plugin";
import type { Sessions } from "../auth/sessions";
import { Connection, type ChatHub, type ResumePoint, type Socket } from "./hub";
import type { Session } from "../auth/sessions";
import type { Logger } from "../log";
import type { Metrics } from "../ops/metrics";
import { resolveClient } from "../http/client";

/** Where a socket's life is reported. */
export interface SocketObserver {
  log: Logger;
  metrics: Metrics;
  /** Peers whose X-Forwarded-For is believed (TRUST_PROXY). */
  trustedProxies: ReadonlySet<string>;
}

/** A Connection that also logs and counts its socket's open, frames and close. */
class ObservedConnection extends Connection {
  private readonly openedAt = performance.now();
  constructor(
    hub: ChatHub,
    session: Session,
    private readonly observer: SocketObserver,
    private readonly ip: string,
  ) {
    super(hub, session);
    observer.metrics.connectionOpened();
    observer.log.info("ws.open", { user: session.user.id, ip });
  }
  override message(ws: Socket, message: string | Buffer): void {
    this.observer.metrics.frameReceived();
    super.message(ws, message);
  }
  override close(ws: Socket, code?: number): void {
    this.observer.metrics.connectionClosed(code ?? 1005);
    if (code === CloseCode.SlowConsumer) this.observer.metrics.slowConsumerClosed();
    this.observer.log.info("ws.close", {
      user: this.session.user.id,
      ip: this.ip,
      code: code ?? 1005,
      seconds: Math.round((performance.now() - this.openedAt) / 100) / 10,
    });
    super.close(ws);
  }
}

/** Most rooms a resume may name. */
const RESUME_MAX_ROOMS = 50;

/** The resume point in the socket URL's query (`?since=<id>&rooms=a,b`), if any. */
export const parseResume = (query: Record<string, string | undefined>): ResumePoint | undefined => {
  const since = query[RESUME_SINCE_PARAM];
  if (since === undefined || !/^\d{1,15}$/.test(since)) return undefined;
  const rooms = (query[RESUME_ROOMS_PARAM] ?? "").split(",").filter((room) => room.length > 0);
  return { since: Number(since), rooms: rooms.slice(0, RESUME_MAX_ROOMS) };
};

export const chatSocket = (
  hub: ChatHub,
  sessions: Sessions,
  allowedOrigins: ReadonlySet<string>,
  /** False while the broker (Redis) is down: sockets are closed with 1013 "try again later". */
  ready: () => boolean,
  observer: SocketObserver,
) =>
  new Elysia({ name: "chat.socket", seed: sessions.instanceId })
    .use(authPlugin(sessions, allowedOrigins))
    .ws(CHAT_SOCKET_PATH, {
      auth: true,
      sameOrigin: true,
      open(ws) {
        const raw = ws.raw as ServerWebSocket<unknown>;
        const { session } = ws.data;
        // Signed out between the upgrade and now.
        if (session.ended) return raw.close(CloseCode.InvalidUser, "Invalid user");
        if (!ready()) return raw.close(CloseCode.TryAgainLater, "Service unavailable, reconnect");
        const resume = parseResume(ws.data.query);
        const { ip } = resolveClient(ws.data.request.headers, raw.remoteAddress, observer.trustedProxies);
        raw.data = new ObservedConnection(hub, session, observer, ip);
        hub.open(raw as Socket, resume);
      },
    });
