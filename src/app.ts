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

/** How often expired sessions are swept and history retention applied. */
const HOUSEKEEPING_INTERVAL_MS = 60_000;

export interface AppOptions {
  log?: Logger;
  /** Folder served under /static (default: public/ next to the working directory). */
  publicDir?: string;
}

export const createApp = (config: Config, options: AppOptions = {}) => {
  const log = options.log ?? createLogger(config.logLevel);
  const db = openDatabase(config.dataDir);
  const secrets = loadSecrets(config.secrets, config.dataDir);
  const allowedOrigins = new Set(config.allowedOrigins);
  let server: Server<unknown> | null = null;
  // Memory mode: history in SQLite; frame and message ids share one sequence (above every stored id).
  const store =
    config.history && !config.redisUrl
      ? new MessageStore(db, { maxPerRoom: config.historyMaxPerRoom, maxAgeMs: config.historyMaxAgeMs })
      : null;
  const ids = new IdSequence(db, store?.maxId() ?? 0);
  const deliver = (topic: string, text: string) => {
    server?.publish(topic, text);
  };
  const onRevoke = (userId: number) => hub.disconnectUser(userId, CloseCode.SignedOut, "Signed out");
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

  const hub = new ChatHub({
    sessions,
    ids,
    broker,
    limits: { maxMessageLength: config.maxMessageLength, historyPageSize: config.historyPageSize },
    log,
  });

  const app = new Elysia({
    // Signing must be configured on the root instance: on a plugin it is ignored (elysia#906).
    cookie: { secrets: secrets.length === 1 ? secrets[0]! : secrets, sign: [SESSION_COOKIE] },
    // Per-route websocket settings are ignored by Elysia: they belong here.
    websocket: {
      maxPayloadLength: config.maxFrameBytes,
      idleTimeout: config.idleTimeoutSeconds,
      sendPings: true,
      perMessageDeflate: false,
    },
  })
    .use(errorHandler(log))
    .use(webRoutes(sessions, allowedOrigins, options.publicDir ?? join(process.cwd(), "public")))
    .use(
      authRoutes({
        sessions,
        allowedOrigins,
        cookieSecure: config.cookieSecure,
        onSessionEnded: (session) => broker.revokeUser(session.user.id),
      }),
    )
    .use(chatSocket(hub, sessions, allowedOrigins, () => broker.ready()));

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
    log,
    /** Runs session expiry and history retention now (also every minute). */
    housekeeping,
    /** Starts listening on config.host:config.port (port 0: any free port). */
    listen(): Server<unknown> {
      app.listen({ port: config.port, hostname: config.host });
      server = app.server!;
      return server;
    },
    /** Closes every socket with "going away", stops listening and closes the database. */
    async stop(): Promise<void> {
      clearInterval(sweeper);
      hub.disconnectAll(CloseCode.GoingAway, "Server shutting down");
      await app.stop(true);
      server = null;
      await broker.close();
      db.close();
    },
  };
};

export type TeahouseApp = ReturnType<typeof createApp>;
