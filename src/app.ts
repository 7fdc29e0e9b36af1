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
import { SessionStore } from "./auth/sessions";
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
  const sessions = new SessionStore(db, config.sessionIdleMs);
  const store = config.history
    ? new MessageStore(db, { maxPerRoom: config.historyMaxPerRoom, maxAgeMs: config.historyMaxAgeMs })
    : null;
  const ids = new IdSequence(db, store?.maxId() ?? 0);
  const broker = new MemoryBroker({
    ids,
    store,
    deliver: (topic, text) => {
      server?.publish(topic, text);
    },
    onRevoke: (userId) => hub.disconnectUser(userId, CloseCode.SignedOut, "Signed out"),
  });
  const allowedOrigins = new Set(config.allowedOrigins);
  let server: Server<unknown> | null = null;

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
    .use(chatSocket(hub, sessions, allowedOrigins));

  const housekeeping = () => {
    sessions.sweep();
    try {
      const pruned = broker.housekeeping(Date.now());
      if (pruned > 0) log.info("history.pruned", { messages: pruned });
    } catch (error) {
      log.error("history.prune_failed", { error: String(error) });
    }
  };
  const sweeper = setInterval(housekeeping, HOUSEKEEPING_INTERVAL_MS);
  sweeper.unref();

  return {
    app,
    hub,
    sessions,
    broker,
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
