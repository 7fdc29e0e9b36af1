/**
 * The composition root: builds the whole teahouse app from a Config without
 * listening. The entry point (index.ts) and the tests both call createApp.
 */
import { Elysia } from "elysia";
import type { Server } from "bun";
import { join } from "node:path";
import type { Config } from "./config";
import { createLogger, type Logger } from "./log";
import { openDatabase, IdSequence } from "./store/db";
import { MessageStore } from "./store/messages";
import { MemoryBroker } from "./broker/memory";
import { loadSecrets } from "./auth/secret";
import { SessionStore, type Sessions } from "./auth/sessions";
import { RedisSessions } from "./auth/redis-sessions";
import { RedisBroker } from "./broker/redis";
import type { Broker } from "./broker/broker";
import { authRoutes } from "./auth/routes";
import { ChatHub } from "./chat/hub";
import { chatSocket } from "./chat/socket";
import { errorHandler, SESSION_COOKIE } from "./http/errors";
import { webRoutes } from "./web/routes";
import { CloseCode } from "./protocol";
import { createMetrics, type Metrics } from "./ops/metrics";
import { opsRoutes, type Readiness } from "./ops/routes";
import { accessLog } from "./ops/access-log";
import { observeStoreWrites } from "./ops/store-metrics";
import { embeddedAssets } from "./web/embedded";
import { createGuards } from "./security/guards";

/** How often expired sessions are swept and history retention applied. */
const HOUSEKEEPING_INTERVAL_MS = 60_000;

/** On stop, how long closing sockets get to finish their close handshake before being cut. */
export const STOP_DRAIN_MS = 2_000;
/** How often stop() checks whether every socket has closed. */
const STOP_POLL_MS = 10;
/** On stop, how long open sockets get to receive their close frame before anything is cut. */
const CLOSE_GRACE_MS = 200;
/**
 * Largest HTTP request body. The only bodies teahouse reads are sign-in forms of a few bytes; Bun's
 * default (128 MiB) would let anyone make the server buffer and parse that much per request.
 */
const MAX_REQUEST_BODY_BYTES = 64 * 1024;

/**
 * An HTTP connection that sends nothing, or trickles its headers (slowloris), is closed after this long.
 * Bun's default too, set here on purpose; WebSockets have their own idle timeout.
 */
const HTTP_IDLE_TIMEOUT_S = 10;

export interface AppOptions {
  log?: Logger;
  /** Folder served under /static (default: the set embedded in the executable, else public/ in the working directory). */
  publicDir?: string;
  /** Metrics to report into (default: a fresh registry per app). */
  metrics?: Metrics;
}

export const createApp = (config: Config, options: AppOptions = {}) => {
  const log = options.log ?? createLogger(config.logLevel);
  const db = openDatabase(config.dataDir);
  const secrets = loadSecrets(config.secrets, config.dataDir);
  const allowedOrigins = new Set(config.allowedOrigins);
  const trustedProxies = new Set(config.trustProxy);
  const metrics = options.metrics ?? createMetrics();
  const assets = options.publicDir ?? embeddedAssets() ?? join(process.cwd(), "public");
  let server: Server<unknown> | null = null;
  let stopping = false;
  // Memory mode: history in SQLite; frame and message ids share one sequence (above every stored id).
  const store =
    config.history && !config.redisUrl
      ? new MessageStore(db, { maxPerRoom: config.historyMaxPerRoom, maxAgeMs: config.historyMaxAgeMs })
      : null;
  if (store) observeStoreWrites(store, metrics);
  const ids = new IdSequence(db, store?.maxId() ?? 0);
  const deliver = (topic: string, text: string) => {
    if (!server) return;
    const deliveries = server.subscriberCount(topic);
    server.publish(topic, text);
    metrics.frameSent(deliveries);
  };
  const onRevoke = (userId: number) => {
    // A socket whose upgrade resolved the session before the revocation must not open afterwards.
    sessions.revoked(userId);
    hub.disconnectUser(userId, CloseCode.SignedOut, "Signed out");
  };
  let broker: Broker;
  let sessions: Sessions;
  let started: Promise<void>;
  if (config.redisUrl) {
    const redis = new RedisBroker({
      url: config.redisUrl,
      history: config.history,
      maxPerStream: config.historyMaxPerRoom,
      deliver,
      onRevoke,
      onDown: () => hub.disconnectAll(CloseCode.TryAgainLater, "Service unavailable, reconnect"),
      encodeLeft: (user, room) => hub.leftFrame(user, room),
      log,
    });
    broker = redis;
    sessions = new RedisSessions(() => redis.client(), config.sessionIdleMs);
    started = redis.start();
  } else {
    broker = new MemoryBroker({ ids, store, deliver, onRevoke });
    sessions = new SessionStore(db, config.sessionIdleMs);
    started = Promise.resolve();
  }
  const guards = createGuards(config, log);

  const hub = new ChatHub({
    sessions,
    ids,
    broker,
    limits: {
      maxMessageLength: config.maxMessageLength,
      historyPageSize: config.historyPageSize,
      maxRoomsPerUser: config.maxRoomsPerUser,
    },
    log,
    metrics,
  });
  metrics.trackHub(hub);

  const readiness: Readiness = () => {
    if (stopping) return "shutting_down";
    if (!broker.ready()) return "broker_unavailable";
    try {
      db.query("SELECT 1").get();
      return undefined;
    } catch {
      return "store_unavailable";
    }
  };

  const app = new Elysia({
    // Signing must be configured on the root instance: on a plugin it is ignored (elysia#906).
    cookie: { secrets: secrets.length === 1 ? secrets[0]! : secrets, sign: [SESSION_COOKIE] },
    serve: { maxRequestBodySize: MAX_REQUEST_BODY_BYTES, idleTimeout: HTTP_IDLE_TIMEOUT_S },
    // Per-route websocket settings are ignored by Elysia: they belong here.
    websocket: {
      maxPayloadLength: config.maxFrameBytes,
      idleTimeout: config.idleTimeoutSeconds,
      sendPings: true,
      perMessageDeflate: false,
      // Past this, sends to a socket are dropped (memory stays bounded) and the slow-consumer
      // watch closes it with 4100. Bun's closeOnBackpressureLimit would close it without a
      // Close frame (the client sees 1006), so it stays off.
      backpressureLimit: config.slowConsumerBytes,
      closeOnBackpressureLimit: false,
    },
  })
    .use(accessLog({ log, metrics, trustedProxies }))
    .use(errorHandler(log))
    .use(opsRoutes({ metrics, readiness }))
    .use(webRoutes(sessions, allowedOrigins, assets))
    .use(
      authRoutes({
        sessions,
        allowedOrigins,
        cookieSecure: config.cookieSecure,
        onSessionEnded: (session) => broker.revokeUser(session.user.id),
        signInLimiter: guards.signIn,
        trustedProxies,
        log,
      }),
    )
    .use(chatSocket(hub, sessions, allowedOrigins, () => broker.ready(), { log, metrics, trustedProxies }, guards));

  const housekeeping = () => {
    sessions.sweep();
    try {
      const pruned = broker.housekeeping(Date.now());
      if (pruned > 0) log.info("history.pruned", { messages: pruned });
    } catch (error) {
      log.error("history.prune_failed", { error: String(error) });
    }
  };
  // Often enough that Redis-held sessions with open sockets are renewed well before they expire.
  const sweeper = setInterval(housekeeping, Math.min(HOUSEKEEPING_INTERVAL_MS, config.sessionIdleMs / 3));
  sweeper.unref();

  return {
    app,
    hub,
    sessions,
    broker,
    /** Resolves once the broker is connected (at once without Redis). */
    started,
    guards,
    log,
    metrics,
    /** Where /static/* is served from: "embedded" in the compiled executable, else a folder. */
    assets: typeof assets === "string" ? assets : "embedded",
    /** Runs session expiry and history retention now (also every minute). */
    housekeeping,
    /** Starts listening on config.host:config.port (port 0: any free port). */
    listen(): Server<unknown> {
      app.listen({ port: config.port, hostname: config.host });
      server = app.server!;
      return server;
    },
    /**
     * Graceful stop: /readyz turns 503, the listener closes (no new
     * connections), every socket gets 1001 "going away", CLOSE_GRACE_MS to
     * receive it and up to STOP_DRAIN_MS in all to finish its close
     * handshake, then the rest is cut, the
     * broker closed (queued messages committed) and the database
     * checkpointed and closed. Safe to call twice.
     */
    async stop(): Promise<void> {
      if (stopping) return;
      stopping = true;
      clearInterval(sweeper);
      guards.slow.stop();
      const running = server;
      if (running) {
        // Stop accepting; in-flight requests and open sockets carry on for now. The promise settles
        // once every connection is gone — a socket's close handler runs when close() is called, but its
        // close frame may still sit behind queued data: cutting the connection then loses the 1001.
        const drained = running.stop(false);
        const open = hub.connectionCount;
        hub.disconnectAll(CloseCode.GoingAway, "Server shutting down");
        const deadline = performance.now() + STOP_DRAIN_MS;
        // Closing a socket that still holds unread client data makes the kernel send a reset, which
        // can overtake the close frame (the client then sees 1006): give clients a moment to take
        // their 1001 and answer it before the connections are cut.
        if (open > 0) await Bun.sleep(CLOSE_GRACE_MS);
        while ((running.pendingWebSockets > 0 || hub.connectionCount > 0) && performance.now() < deadline)
          await Bun.sleep(STOP_POLL_MS);
        await Promise.race([drained, Bun.sleep(Math.max(0, deadline - performance.now()))]);
      }
      await app.stop(true);
      server = null;
      await broker.close();
      // Every write is committed; fold the WAL into the main file so a copy of DATA_DIR is one file.
      if (db.filename !== ":memory:") db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
      db.close();
    },
  };
};

export type TeahouseApp = ReturnType<typeof createApp>;
