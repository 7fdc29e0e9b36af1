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
 * Each connection's life is logged (account id, client IP, close code,
 * duration — never a message) and counted for /metrics.
 */
import { Elysia } from "elysia";
import type { ServerWebSocket } from "bun";
import { CHAT_SOCKET_PATH, CloseCode, ErrorCode, RESUME_EPOCH_PARAM, RESUME_SINCE_PARAM } from "../protocol";
import { authPlugin } from "../auth/plugin";
import type { AccountService } from "../services/accounts";
import { apiError } from "../http/errors";
import { limitKey } from "../security/client-ip";
import type { FloodGuard } from "../security/flood";
import type { Guards } from "../security/guards";
import { localRate, type RateLimit } from "../security/rate";
import type { ChatHub, ResumePoint } from "./hub";
import type { ConnectionState, OnlineAccount, Socket } from "./registry";
import { peekCid } from "./codec";
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

/**
 * The resume point in the socket URL's query (`?since=<id>&epoch=<epoch>`), if any. An older
 * client's `&rooms=a,b` is ignored: memberships are the account's, and a resume re-enters them all.
 */
export const parseResume = (query: Record<string, string | undefined>): ResumePoint | undefined => {
  const since = query[RESUME_SINCE_PARAM];
  if (since === undefined || !/^\d{1,15}$/.test(since)) return undefined;
  const epoch = query[RESUME_EPOCH_PARAM];
  return {
    since: Number(since),
    ...(epoch !== undefined && /^[0-9a-z]{1,32}$/.test(epoch) ? { epoch } : {}),
  };
};

/** What every connection of one app shares (one field per connection rather than three). */
interface Shared {
  hub: ChatHub;
  observer: SocketObserver;
  guards: Guards;
}

/**
 * A socket's state and event handlers: every frame spends a token first (over the rate: refused
 * with its cid; persistently: closed with 4008 once the frames before are answered), and closing
 * gives the socket's place at the gate back. One per socket: only what differs between sockets.
 */
class Connection implements ConnectionState {
  account: OnlineAccount | undefined = undefined;
  lastTypingAt = 0;
  queue: Promise<void> | null = null;
  closed = false;
  hidden = false;
  private readonly openedAt = performance.now();

  constructor(
    readonly sid: string,
    private readonly accountId: number,
    private readonly shared: Shared,
    private readonly ip: string,
    private readonly flood: FloodGuard,
  ) {
    shared.observer.metrics.connectionOpened();
    shared.observer.log.info("ws.open", { user: accountId, ip });
  }

  private get hub(): ChatHub {
    return this.shared.hub;
  }

  private get observer(): SocketObserver {
    return this.shared.observer;
  }

  // Bun ends the process when a WebSocket handler throws: a failure here must cost one frame.
  message(ws: Socket, message: string | Buffer): void {
    this.observer.metrics.frameReceived();
    try {
      const verdict = this.flood.check();
      if (verdict.ok) return this.hub.message(ws, message);
      if (verdict.abusive) {
        this.observer.metrics.frameRefused(ErrorCode.RateLimited);
        this.observer.log.warn("ws.abuse_closed", { user: this.accountId, ip: this.ip });
        // After the frames already taken are answered (their acks go out first).
        return this.hub.enqueue(ws, "abuse", async () => {
          await this.hub.deps.writer.settled();
          ws.close(CloseCode.PolicyViolation, "Too many frames");
        });
      }
      const cid = peekCid(message);
      this.hub.enqueue(ws, "rate", () => this.hub.rateLimited(ws, verdict.retryMs, cid));
    } catch (error) {
      this.hub.failed(ws, "message", error);
    }
  }

  /**
   * A ping from the client: Bun answers it with a pong by itself, but it spends a frame token like
   * any frame, so a ping flood is refused the same way (closed with 4008 when it persists).
   */
  ping(ws: Socket): void {
    this.observer.metrics.pingReceived();
    try {
      const verdict = this.flood.check();
      if (verdict.ok || !verdict.abusive) return;
      this.observer.log.warn("ws.abuse_closed", { user: this.accountId, ip: this.ip, frames: "ping" });
      ws.close(CloseCode.PolicyViolation, "Too many frames");
    } catch (error) {
      this.hub.failed(ws, "ping", error);
    }
  }

  close(ws: Socket, code?: number): void {
    try {
      this.flood.release();
      // The address's key is derived again rather than kept for every socket.
      this.shared.guards.gate.release(this.accountId, limitKey(this.ip));
      this.observer.metrics.connectionClosed(code ?? 1005);
      if (code === CloseCode.SlowConsumer) this.observer.metrics.slowConsumerClosed();
      this.observer.log.info("ws.close", {
        user: this.accountId,
        ip: this.ip,
        code: code ?? 1005,
        seconds: Math.round((performance.now() - this.openedAt) / 100) / 10,
      });
      this.hub.close(ws);
    } catch (error) {
      this.hub.failed(ws, "close", error);
    }
  }
}

/** Upgrades whose opens were counted already (the upgrade hook runs twice per request). */
const counted = new WeakSet<Request>();

export const chatSocket = (
  hub: ChatHub,
  accounts: AccountService,
  allowedOrigins: ReadonlySet<string>,
  /** False while the store is unusable: sockets are closed with 1013 "try again later". */
  ready: () => boolean,
  observer: SocketObserver,
  guards: Guards,
  /** Socket opens per address and per account (shared by every instance with the bus). */
  opens: { perAddress: RateLimit<string>; perAccount: RateLimit<number> } = {
    perAddress: localRate(guards.opens.perAddress),
    perAccount: localRate(guards.opens.perAccount),
  },
) => {
  const shared: Shared = { hub, observer, guards };
  return (
    new Elysia({ name: "chat.socket", seed: accounts.instanceId })
      .use(authPlugin(accounts, allowedOrigins))
      // A resolve runs once per upgrade (a ws route's beforeHandle runs twice), and before the session's.
      .resolve(({ request, server, status, set }) => {
        // This turn's opens have had their time: later, before anything is read (a storm spreads itself out).
        if (!guards.pacer.admit()) {
          observer.metrics.openRefusedBusy();
          set.headers["retry-after"] = "1";
          return status(503, apiError(503, "busy", "The server is busy opening other sockets; try again in a moment"));
        }
        const { ip } = resolveClient(request.headers, server?.requestIP(request)?.address, observer.trustedProxies);
        return { clientIp: ip, clientKey: limitKey(ip) };
      })
      .ws(CHAT_SOCKET_PATH, {
        auth: true,
        sameOrigin: true,
        // This hook runs twice per upgrade that passes it, so sockets are counted in `open`, not here.
        // A refusal ends the upgrade at the first run: counting refusals here counts each once (tested).
        async beforeHandle({ session, clientKey, status, set, request }) {
          const refusal = guards.gate.check(session.account.id, clientKey);
          if (refusal) {
            guards.gate.count(refusal);
            set.headers["retry-after"] = String(refusal.retryAfterSeconds);
            return status(refusal.status, apiError(refusal.status, refusal.error, refusal.message));
          }
          // Opens are rate-limited too, counted once per upgrade (this hook runs twice).
          if (counted.has(request)) return;
          counted.add(request);
          // The address first: a busy address refused does not spend the account's own opens.
          let retryMs = await opens.perAddress.take(clientKey);
          if (retryMs <= 0) retryMs = await opens.perAccount.take(session.account.id);
          if (retryMs <= 0) return;
          set.headers["retry-after"] = String(Math.ceil(retryMs / 1000));
          return status(429, apiError(429, "rate_limited", "Too many connections opened; try again later"));
        },
        ping(ws) {
          const raw = ws.raw as ServerWebSocket<unknown>;
          if (raw.data instanceof Connection) raw.data.ping(raw as unknown as Socket);
        },
        open(ws) {
          const raw = ws.raw as ServerWebSocket<unknown>;
          const { session, clientIp, clientKey } = ws.data;
          const accountId = session.account.id;
          if (!ready()) return raw.close(CloseCode.TryAgainLater, "Service unavailable, reconnect");
          // Another upgrade won the last place between the check and now.
          const refusal = guards.gate.admit(accountId, clientKey);
          if (refusal) {
            observer.log.info("ws.refused", { user: accountId, ip: clientIp, reason: refusal.error });
            return raw.close(refusal.closeCode, refusal.message);
          }
          const resume = parseResume(ws.data.query);
          const flood = guards.flood.guard(accountId);
          const socket = raw as unknown as Socket;
          // Bun keeps the peer's address on the socket: the same address is not kept twice.
          const ip = clientIp === raw.remoteAddress ? raw.remoteAddress : clientIp;
          raw.data = new Connection(session.sid, accountId, shared, ip, flood);
          guards.slow.started();
          // The session may have ended between the upgrade and now: checked again before it counts.
          hub.enqueue(socket, "open", async () => {
            try {
              const current = await accounts.resolve(session.sid);
              if (!current || current.nameLost) return socket.close(CloseCode.InvalidUser, "Invalid user");
              await hub.open(socket, current.user, resume, current.account.role ?? current.account.kind);
            } catch (error) {
              // A socket that could not be set up must not linger taking frames it cannot answer.
              hub.failed(socket, "open", error);
              socket.close(CloseCode.InternalError, "Could not open; reconnect");
            }
          });
        },
      })
  );
};
