/**
 * The chat WebSocket, `/ws/chat`. Elysia performs the upgrade: the same
 * `auth` macro as the HTTP routes resolves the session (401 before upgrading
 * when there is none), `sameOrigin` refuses foreign pages (403) and the gate
 * refuses a user or address over its socket limit (429) or a full server (503).
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
import { CHAT_SOCKET_PATH, CloseCode, ErrorCode, RESUME_ROOMS_PARAM, RESUME_SINCE_PARAM } from "../protocol";
import { authPlugin } from "../auth/plugin";
import type { Session, Sessions } from "../auth/sessions";
import { apiError } from "../http/errors";
import { limitKey } from "../security/client-ip";
import type { FloodGuard } from "../security/flood";
import type { Guards } from "../security/guards";
import { Connection, type ChatHub, type ResumePoint, type Socket } from "./hub";
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
    protected readonly observer: SocketObserver,
    protected readonly ip: string,
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

/**
 * An observed Connection with the abuse limits around the hub: every frame
 * spends a token first, and closing gives the socket's place at the gate back.
 */
class GuardedConnection extends ObservedConnection {
  constructor(
    hub: ChatHub,
    session: Session,
    observer: SocketObserver,
    ip: string,
    private readonly guards: Guards,
    private readonly ipKey: string,
    private readonly flood: FloodGuard,
  ) {
    super(hub, session, observer, ip);
  }

  override message(ws: Socket, message: string | Buffer): void {
    const verdict = this.flood.check();
    if (verdict.ok) return super.message(ws, message);
    this.observer.metrics.frameReceived();
    if (verdict.abusive) {
      this.observer.metrics.frameRefused(ErrorCode.RateLimited);
      this.observer.log.warn("ws.abuse_closed", { user: this.session.user.id, ip: this.ip });
      return ws.close(CloseCode.PolicyViolation, "Too many frames");
    }
    this.hub.rateLimited(ws, verdict.retryMs);
  }

  override close(ws: Socket, code?: number): void {
    this.flood.release();
    this.guards.gate.release(this.session.user.id, this.ipKey);
    this.guards.slow.delete(ws);
    super.close(ws, code);
  }
}

export const chatSocket = (
  hub: ChatHub,
  sessions: Sessions,
  allowedOrigins: ReadonlySet<string>,
  /** False while the broker (Redis) is down: sockets are closed with 1013 "try again later". */
  ready: () => boolean,
  observer: SocketObserver,
  guards: Guards,
) =>
  new Elysia({ name: "chat.socket", seed: sessions.instanceId })
    .use(authPlugin(sessions, allowedOrigins))
    // A resolve runs once per upgrade (a ws route's beforeHandle runs twice).
    .resolve(({ request, server }) => {
      const { ip } = resolveClient(request.headers, server?.requestIP(request)?.address, observer.trustedProxies);
      return { clientIp: ip, clientKey: limitKey(ip) };
    })
    .ws(CHAT_SOCKET_PATH, {
      auth: true,
      sameOrigin: true,
      // This hook runs twice per upgrade that passes it, so sockets are counted in `open`, not here.
      // A refusal ends the upgrade at the first run: counting refusals here counts each once (tested).
      beforeHandle({ session, clientKey, status, set }) {
        const refusal = guards.gate.check(session.user.id, clientKey);
        if (!refusal) return;
        guards.gate.count(refusal);
        set.headers["retry-after"] = String(refusal.retryAfterSeconds);
        return status(refusal.status, apiError(refusal.status, refusal.error, refusal.message));
      },
      open(ws) {
        const raw = ws.raw as ServerWebSocket<unknown>;
        const { session, clientIp, clientKey } = ws.data;
        // Signed out between the upgrade and now.
        if (session.ended) return raw.close(CloseCode.InvalidUser, "Invalid user");
        if (!ready()) return raw.close(CloseCode.TryAgainLater, "Service unavailable, reconnect");
        // Another upgrade won the last place between the check and now.
        const refusal = guards.gate.admit(session.user.id, clientKey);
        if (refusal) {
          observer.log.info("ws.refused", { user: session.user.id, ip: clientIp, reason: refusal.error });
          return raw.close(refusal.closeCode, refusal.message);
        }
        const resume = parseResume(ws.data.query);
        const flood = guards.flood.guard(session.user.id);
        raw.data = new GuardedConnection(hub, session, observer, clientIp, guards, clientKey, flood);
        guards.slow.add(raw);
        hub.open(raw as Socket, resume);
      },
    });
