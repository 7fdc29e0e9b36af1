/**
 * The composition root: builds the whole teahouse app from a Config without
 * listening. Three parts: the backend (store, id sequence, message writer),
 * the HTTP app (routes and the chat socket around the hub and the account
 * service) and the lifecycle (housekeeping timers, listen, graceful stop).
 * The entry point (index.ts) and the tests both call createApp.
 */
import { Elysia } from "elysia";
import type { Server } from "bun";
import { join } from "node:path";
import type { Config } from "./config";
import { createLogger, type Logger } from "./log";
import { openDatabase, IdSequence, isCorruption, databasePath, BlockIds } from "./store/db";
import { SqliteStore } from "./store/sqlite";
import { PostgresStore, PG_ID_BLOCK, isUnreachable, withDeadline } from "./store/postgres";
import { isChange, type LogWrite } from "./ports/store";
import { MessageWriter } from "./store/writer";
import { loadSecrets } from "./auth/secret";
import { searchRoutes } from "./search/routes";
import { SearchIndexer, SearchService } from "./services/search";
import { authRoutes } from "./auth/routes";
import { AccountService } from "./services/accounts";
import { ChatHub } from "./chat/hub";
import { chatSocket } from "./chat/socket";
import { accountOfTopic, EVERYONE_TOPIC } from "./chat/topics";
import { errorHandler } from "./http/errors";
import { CookieSigner } from "./security/signing";
import { webRoutes } from "./web/routes";
import { CloseCode } from "./protocol";
import { createMetrics, type Metrics } from "./ops/metrics";
import { opsRoutes, type Readiness } from "./ops/routes";
import { accessLog } from "./ops/access-log";
import { embeddedAssets } from "./web/embedded";
import { createGuards } from "./security/guards";
import { KeyedRateLimiter, localRate, type Rate, type RateLimit } from "./security/rate";
import { SharedRate } from "./bus/rate";
import { RedisBus } from "./bus/redis";
import { Cluster, EXPIRY_MS } from "./chat/cluster";
import { ACCOUNT_RATE, CONVERSATION_RATE, PushService } from "./services/push";
import { generateVapidKeys, WebPushSender } from "./push/web-push";
import { pushRoutes } from "./push/routes";
import { ModerationService } from "./services/moderation";
import { AUDIT_KEEP } from "./domain/moderation";
import { adminRoutes } from "./admin/routes";
import { FILES_PATH } from "./protocol";
import { bodyLimit } from "./http/body-limit";
import { FileService } from "./services/files";
import { fileRoutes, UPLOAD_OVERHEAD_BYTES } from "./files/routes";
import { postMessage } from "./chat/handlers/send";
import { DiskBlobs, MemoryBlobs, S3Blobs } from "./files/blobs";
import type { BlobStore } from "./ports/blobs";

/** How often expired sessions are swept and history retention applied. */
const HOUSEKEEPING_INTERVAL_MS = 60_000;
/** Conversations whose retention is checked in one step of the first pass after a start. */
const PRUNE_CHUNK = 2_000;
/** How often the WAL's size is checked against WAL_MAX_MB. */
const WAL_CHECK_INTERVAL_MS = 2_000;
/** How often a networked store (PostgreSQL) is probed: a lost one closes sockets with 1013 within ~3 s. */
const STORE_WATCH_INTERVAL_MS = 1_000;
/**
 * With several instances, how often the log's head is read: a message whose announcement the bus
 * lost is delivered within this long.
 */
const LOG_POLL_INTERVAL_MS = 1_000;
/** With several instances, how often this instance's open sessions are checked against the store. */
const SESSION_CHECK_INTERVAL_MS = 5_000;

/** On stop, how long closing sockets get to finish their close handshake before being cut. */
export const STOP_DRAIN_MS = 2_000;
/** How often stop() checks whether every socket has closed. */
const STOP_POLL_MS = 10;
/** On stop, how long open sockets get to receive their close frame before anything is cut. */
const CLOSE_GRACE_MS = 200;
/**
 * Largest HTTP request body but an upload's. The only other bodies teahouse reads are sign-in forms
 * of a few bytes; Bun's default (128 MiB) would let anyone make the server buffer and parse that
 * much per request. Bun's own limit is one for the server, set just above an upload's (see
 * http/body-limit.ts for the rest).
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
  /**
   * The database turned out to be corrupt while serving (the entry point exits with code 2 and this
   * one line; the default only logs).
   */
  onFatal?: (message: string) => void;
  /** An extra CA (PEM) trusted for push services (tests; a deployment sets NODE_EXTRA_CA_CERTS). */
  pushCa?: string;
}

/**
 * The store and what writes to it: embedded SQLite in DATA_DIR, or PostgreSQL with DATABASE_URL.
 * `failed` hears every store error (a corrupt file is fatal). `start` resolves with the highest
 * stored message id once the store can serve (PostgreSQL: connected and migrated).
 */
const createBackend = (config: Config, metrics: Metrics, failed: (error: unknown) => void) => {
  const retention = { maxPerConversation: config.historyMaxPerRoom, maxAgeMs: config.historyMaxAgeMs };
  let store: SqliteStore | PostgresStore;
  let ids: { take(): number };
  /** Message ids: taken with frame ids (SQLite), or assigned by the store in commit order (PostgreSQL: 0 here). */
  let messageId: () => number;
  let append: (writes: readonly LogWrite[]) => void | Promise<void>;
  let findByCid: (senderId: number, cid: string) => number | undefined | Promise<number | undefined>;
  let start: () => Promise<number>;
  if (config.databaseUrl) {
    const pg = withDeadline(new PostgresStore(config.databaseUrl, { retention, onError: failed }));
    const blocks = new BlockIds(() => pg.reserveIds(), PG_ID_BLOCK);
    store = pg;
    ids = blocks;
    // Stored messages get their ids in commit order; with history off nothing is stored: frame ids.
    messageId = config.history ? () => 0 : () => blocks.take();
    append = (messages) => pg.append(messages);
    findByCid = (senderId, cid) => pg.findByCid(senderId, cid);
    start = async () => {
      await pg.start();
      await blocks.start();
      return pg.lastMessageId();
    };
  } else {
    const db = openDatabase(config.dataDir);
    const sqlite = new SqliteStore(db, { retention, walMaxBytes: config.walMaxBytes, onError: failed });
    const lastStoredId = sqlite.lastMessageIdNow();
    // Frame and message ids share one sequence, above every stored message id.
    const sequence = new IdSequence(db, lastStoredId);
    ids = sequence;
    messageId = () => sequence.take();
    store = sqlite;
    append = (messages) => sqlite.appendNow(messages);
    findByCid = (senderId, cid) => sqlite.findByCidNow(senderId, cid);
    start = async () => lastStoredId;
  }
  /** Conversations written to since the last prune: retention per conversation looks only there. */
  const touched = new Set<number>();
  const timed = (messages: readonly LogWrite[]) => {
    for (const message of messages) if (!isChange(message)) touched.add(message.conversationId);
    const startedAt = performance.now();
    const written = () => {
      metrics.storeWrite((performance.now() - startedAt) / 1000);
      metrics.messagesStored(messages.length);
    };
    const refused = (error: unknown) => {
      store.writeFailed();
      failed(error);
      throw error;
    };
    let result: void | Promise<void>;
    try {
      result = append(messages);
    } catch (error) {
      return refused(error);
    }
    if (result instanceof Promise) return result.then(written, refused);
    written();
  };
  const writer = new MessageWriter(config.history ? { commit: timed, findByCid } : null);
  return { store, ids, messageId, touched, sequenced: config.databaseUrl !== "" && config.history, writer, start };
};

/** How often bans made elsewhere (another instance, the command line) are looked for. */
const BAN_CHECK_INTERVAL_MS = 2_000;
/** How far apart the clocks of instances (and the command line's machine) may be. */
const BAN_CLOCK_SKEW_MS = 30_000;
/** On stop, how long pushes for the last messages get to go out. */
const PUSH_STOP_WAIT_MS = 1_000;
/** Push subscription changes per account: a burst of this many, refilled at this rate a minute. */
const PUSH_SUBSCRIBES_PER_MINUTE = 10;
/** Where files' bytes go: the S3 bucket when one is configured, else DATA_DIR/files (memory for ":memory:"). */
const createBlobs = (config: Config): BlobStore =>
  config.s3Bucket
    ? new S3Blobs({
        bucket: config.s3Bucket,
        endpoint: config.s3Endpoint,
        region: config.s3Region,
        accessKeyId: config.s3AccessKeyId,
        secretAccessKey: config.s3SecretAccessKey,
      })
    : config.dataDir === ":memory:"
      ? new MemoryBlobs()
      : new DiskBlobs(join(config.dataDir, "files"));

/** Reports per account: a burst of this many, refilled at REPORTS_PER_HOUR. */
const REPORT_BURST = 10;
const REPORTS_PER_HOUR = 30;

/** Searches per account: a burst of this many, refilled at SEARCHES_PER_MINUTE (typing a query searches as you type). */
const SEARCHES_PER_MINUTE = 60;
const SEARCH_BURST = 20;

export const createApp = (config: Config, options: AppOptions = {}) => {
  const log = options.log ?? createLogger(config.logLevel);
  const metrics = options.metrics ?? createMetrics();
  let fatal = false;
  /** Every store failure passes here: a corrupt database file ends the process (one line, exit 2). */
  const storeFailed = (error: unknown): void => {
    if (fatal || !isCorruption(error)) return;
    fatal = true;
    const where = config.databaseUrl ? "at DATABASE_URL" : databasePath(config.dataDir);
    const message = `the database ${where} is corrupt: ${String((error as Error)?.message ?? error)}; restore it from a backup`;
    log.error("store.corrupt", { message });
    options.onFatal?.(message);
  };
  const backend = createBackend(config, metrics, storeFailed);
  const { store, ids, writer } = backend;
  const secrets = loadSecrets(config.secrets, config.dataDir);
  const allowedOrigins = new Set(config.allowedOrigins);
  const trustedProxies = new Set(config.trustProxy);
  const assets = options.publicDir ?? embeddedAssets() ?? join(process.cwd(), "public");
  const bus = config.redisUrl
    ? new RedisBus({
        url: config.redisUrl,
        log,
        latency: (seconds) => metrics.busLatency(seconds),
        namespace: () => store.epoch,
        silentAfterMs: EXPIRY_MS,
      })
    : null;
  const cluster = bus ? new Cluster(bus, log, () => guards.gate.socketsPerUser()) : null;
  const guards = createGuards(config, log, {
    elsewhere: (accountId) => cluster?.sockets(accountId) ?? 0,
    changed: (accountId, count) => cluster?.publish({ t: "sockets", account: accountId, count }),
  });
  let server: Server<unknown> | null = null;
  let stopping = false;

  /** A limit per key: across instances with the bus (each instance's own while Redis is unreachable). */
  const shared = <K extends string | number>(name: string, local: KeyedRateLimiter<K>): RateLimit<K> =>
    bus
      ? new SharedRate(
          name,
          local.rate,
          (command, args) => bus.command(command, args),
          local,
          () => bus.keyPrefix,
        )
      : localRate(local);
  const limit = <K extends string | number>(name: string, rate: Rate): RateLimit<K> =>
    shared(name, new KeyedRateLimiter<K>(rate));

  // Web Push: pushes for messages stored here, to accounts with no page in front of them anywhere.
  const pushing = config.push;
  let vapid: Promise<{ publicKey: string; privateKey: string }> | undefined;
  const push = pushing
    ? new PushService({
        store,
        log,
        sender: new WebPushSender({
          vapid: () => vapid!,
          subject: config.pushSubject,
          allowPrivate: config.pushAllowPrivateEndpoints,
          log,
          ...(options.pushCa ? { ca: options.pushCa } : {}),
        }),
        visible: (accountId) => hub.visible(accountId),
        perConversation: limit("push", CONVERSATION_RATE),
        perAccount: limit("push-account", ACCOUNT_RATE),
      })
    : undefined;

  const moderation = new ModerationService({
    store,
    log,
    closeSessions: (sids, code, reason) => hub.closeSessions(sids, code, reason),
    bannedCode: CloseCode.Banned,
    roleChanged: (accountId, role) => hub.roleChanged(accountId, role),
  });
  const hub = new ChatHub({
    store,
    writer,
    moderation,
    ...(push
      ? { stored: (message) => push.noticed(message), looked: (accountId: number) => push.looked(accountId) }
      : {}),
    history: config.history,
    nextId: () => ids.take(),
    messageId: backend.messageId,
    sequenced: backend.sequenced,
    ...(cluster ? { peers: cluster } : {}),
    deliver: (topic, text) => {
      if (!server) return;
      const accountId = accountOfTopic(topic);
      if (accountId !== undefined) return metrics.frameSent(hub.registry.send(accountId, text));
      if (topic === EVERYONE_TOPIC) return metrics.frameSent(hub.registry.sendAll(text));
      const deliveries = server.subscriberCount(topic);
      server.publish(topic, text);
      metrics.frameSent(deliveries);
    },
    roomCreations: limit("rooms", {
      perSecond: config.roomCreationsPerHour / 3600,
      burst: config.roomCreationsPerHour,
    }),
    limits: {
      maxMessageLength: config.maxMessageLength,
      historyPageSize: config.historyPageSize,
      maxRoomsPerUser: config.maxRoomsPerUser,
      presenceGraceMs: config.presenceGraceMs,
      openBudgetBytes: config.openBudgetBytes,
      maxRooms: config.maxRooms,
      presenceFullRoomSize: config.presenceFullRoomSize,
      presenceBigRoomSize: config.presenceBigRoomSize,
    },
    log,
    metrics,
    onError: storeFailed,
  });
  // The slow-consumer watch looks at the registry's sockets: those that can be sent anything.
  guards.slow.watchIn((visit) => hub.registry.forEachSocket(visit));
  // Search: the index is brought up to date in the background (new messages, and older ones after an upgrade).
  const searching = config.search && config.history;
  let batchesSeen = 0;
  const storing = () => {
    const changed = writer.stats.batches !== batchesSeen;
    batchesSeen = writer.stats.batches;
    return changed;
  };
  const indexer = searching ? new SearchIndexer({ store, log, storing }) : undefined;
  // The store is ready (migrated, its last id read) before anything is served.
  const started = backend.start().then(async (lastStoredId) => {
    // The VAPID keys: configured, or generated once and kept in the store (every instance the same).
    if (pushing)
      vapid = Promise.resolve(
        config.pushVapidPublicKey
          ? { publicKey: config.pushVapidPublicKey, privateKey: config.pushVapidPrivateKey }
          : await store.vapidKeys(generateVapidKeys),
      );
    hub.lastDeliveredId = Math.max(hub.lastDeliveredId, lastStoredId);
    // The bus is named after the store's epoch: it connects once the store is read (in the background:
    // sockets wait for it, HTTP does not).
    void bus?.start();
    indexer?.start();
  });
  metrics.trackHub(hub);
  cluster?.attach(hub);
  const accounts = new AccountService({
    store,
    cookies: new CookieSigner(secrets),
    // Online on any instance: a guest's name is held while it has a socket anywhere.
    isOnline: (accountId) => hub.registry.isOnline(accountId) || (cluster?.sockets(accountId) ?? 0) > 0,
    sessionIdleMs: config.sessionIdleMs,
    guestGraceMs: config.guestNameGraceMs,
    passwordAttempts: limit("password", {
      perSecond: config.passwordAttemptsPerMinute / 60,
      burst: config.passwordAttemptsPerMinute,
    }),
  });

  // Files: messages carrying them are stored like any other, so there are none without history.
  const filing = config.history;
  const files = filing
    ? new FileService({
        store,
        blobs: createBlobs(config),
        log,
        limiter: limit("uploads", {
          perSecond: config.fileUploadsPerMinute / 60,
          burst: config.fileUploadsPerMinute,
        }),
        limits: {
          maxFileBytes: config.maxFileBytes,
          quotaPerAccountBytes: config.fileQuotaPerAccountBytes,
          quotaTotalBytes: config.fileQuotaTotalBytes,
          maxCaptionLength: config.maxMessageLength,
        },
        post: (sender, conversation, caption, file) => postMessage(hub, sender, conversation, caption, file),
        // The store says whether the uploader is muted (it may have no socket here); slow mode counts the upload.
        heldBack: async (accountId, room) => {
          const member = (await store.roomMembers(room.id, [accountId])).get(accountId);
          if (member && member.mutedUntil > Date.now())
            return { error: "muted", retryMs: member.mutedUntil - Date.now() };
          if (!hub.rules.room(room.id)) {
            const settings = await store.roomSettings(room.id);
            if (settings) hub.rules.setRoom(room.id, settings);
          }
          const exempt = member?.role === "owner" || member?.role === "admin" || member?.roomRole !== undefined;
          const retryMs = hub.rules.slowWait(room.id, accountId, exempt);
          return retryMs > 0 ? { error: "slow_mode", retryMs } : undefined;
        },
        opened: (conversation) => {
          for (const accountId of new Set(conversation.pair ?? [])) {
            const online = hub.registry.get(accountId);
            if (online && !online.conversations.has(conversation.id)) hub.addConversation(online, conversation);
          }
        },
      })
    : undefined;
  if (files && bus && !config.s3Bucket)
    log.warn("files.local", {
      message: "files are kept under DATA_DIR on each instance; with several instances set S3_BUCKET",
    });

  /** False while a networked store is unreachable: sockets are refused (1013) and /readyz is 503. */
  let storeUp = true;
  const readiness: Readiness = async () => {
    if (stopping) return "shutting_down";
    if (!(storeUp && (await store.healthy()))) return "store_unavailable";
    if (bus && !(await bus.probe())) return "bus_unavailable";
    return undefined;
  };
  // Without the bus this instance would serve alone, unseen by the others: its sockets are closed
  // (1013: clients come back, to it or another, and resume) and new ones refused until it is back.
  bus?.onStatus((up) => {
    if (!up && !stopping) hub.disconnectAll(CloseCode.TryAgainLater, "Service unavailable, reconnect");
  });

  const app = new Elysia({
    serve: {
      maxRequestBodySize: filing ? config.maxFileBytes + 2 * UPLOAD_OVERHEAD_BYTES : MAX_REQUEST_BODY_BYTES,
      idleTimeout: HTTP_IDLE_TIMEOUT_S,
    },
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
    .use(bodyLimit(MAX_REQUEST_BODY_BYTES, (path) => filing && path === FILES_PATH))
    .use(errorHandler(log, storeFailed, isUnreachable))
    .use(opsRoutes({ metrics, readiness }))
    .use(
      webRoutes(accounts, allowedOrigins, assets, {
        maxMessageLength: config.maxMessageLength,
        ...(files ? { maxFileBytes: config.maxFileBytes } : {}),
      }),
    )
    .use(
      authRoutes({
        accounts,
        allowedOrigins,
        cookieSecure: config.cookieSecure,
        closeSessions: (sids) => hub.closeSessions(sids, CloseCode.SignedOut, "Signed out"),
        renamed: (session) => hub.renamed(session.user),
        roleOf: (account) => moderation.roleOf(account),
        signInLimiter: shared("signin", guards.signIn),
        trustedProxies,
        log,
      }),
    )
    .use(
      searching
        ? searchRoutes(
            accounts,
            allowedOrigins,
            new SearchService({
              store,
              log,
              limiter: limit("search", { perSecond: SEARCHES_PER_MINUTE / 60, burst: SEARCH_BURST }),
            }),
          )
        : new Elysia(),
    )
    .use(
      pushing
        ? pushRoutes(accounts, allowedOrigins, {
            store,
            vapid: () => started.then(() => vapid!),
            allowPrivate: config.pushAllowPrivateEndpoints,
            limiter: limit("push-subscribe", {
              perSecond: PUSH_SUBSCRIBES_PER_MINUTE / 60,
              burst: PUSH_SUBSCRIBES_PER_MINUTE,
            }),
          })
        : new Elysia(),
    )
    .use(
      adminRoutes({
        accounts,
        allowedOrigins,
        moderation,
        store,
        reportLimiter: limit("reports", { perSecond: REPORTS_PER_HOUR / 3600, burst: REPORT_BURST }),
        resetLimiter: shared("signin", guards.signIn),
        trustedProxies,
      }),
    )
    .use(
      files
        ? fileRoutes({
            accounts,
            allowedOrigins,
            files,
            frame: (message, conversation) => hub.codec.messageObject(message, conversation),
          })
        : new Elysia(),
    )
    .use(
      chatSocket(
        hub,
        accounts,
        allowedOrigins,
        () => !stopping && storeUp && (bus?.up ?? true),
        { log, metrics, trustedProxies },
        guards,
        {
          perAddress: shared("opens-ip", guards.opens.perAddress),
          perAccount: shared("opens", guards.opens.perAccount),
        },
      ),
    );

  let prunedOnce = false;
  /** Session expiry (sessions with a socket open count as active) and history retention. */
  let housekeepingRunning = false;
  const housekeeping = async (): Promise<void> => {
    // One run at a time: a first pass over a million rooms may outlast the interval.
    if (housekeepingRunning) return;
    housekeepingRunning = true;
    try {
      await housekeepingOnce();
    } finally {
      housekeepingRunning = false;
    }
  };
  const housekeepingOnce = async (): Promise<void> => {
    const now = Date.now();
    hub.rules.sweep();
    await store
      .trimAudit(AUDIT_KEEP)
      .catch((error: unknown) => log.warn("audit.trim_failed", { error: String((error as Error)?.message ?? error) }));
    try {
      await store.touchSessions(hub.registry.sessionIds(), now);
      const ended = await store.sweepSessions(now - config.sessionIdleMs);
      if (ended.length > 0) log.info("sessions.expired", { sessions: ended.length });
      // Everything once after a start (what was written before it), then what was written since.
      const taken = [...backend.touched];
      backend.touched.clear();
      let pruned = 0;
      try {
        if (prunedOnce) pruned = await store.prune(now, taken);
        else
          // The first time, every conversation, a chunk at a time with the event loop given back between.
          for (let after = 0; ;) {
            const ids = await store.conversationIds(after, PRUNE_CHUNK);
            if (ids.length === 0) break;
            pruned += await store.prune(now, ids);
            after = ids.at(-1)!;
            await new Promise((resolve) => setImmediate(resolve));
          }
      } catch (error) {
        for (const id of taken) backend.touched.add(id);
        throw error;
      }
      prunedOnce = true;
      if (pruned > 0) log.info("history.pruned", { messages: pruned });
      // Files no message refers to any more (deleted, pruned just now or before).
      await files?.collect(now);
    } catch (error) {
      log.error("housekeeping.failed", { error: String((error as Error)?.message ?? error) });
      storeFailed(error);
    }
  };
  const sweeper = setInterval(() => void housekeeping(), Math.min(HOUSEKEEPING_INTERVAL_MS, config.sessionIdleMs / 3));
  sweeper.unref();
  const walWatch = setInterval(() => {
    try {
      store.maintain();
    } catch (error) {
      log.error("store.checkpoint_failed", { error: String((error as Error)?.message ?? error) });
      storeFailed(error);
    }
  }, WAL_CHECK_INTERVAL_MS);
  walWatch.unref();
  // PostgreSQL can go away while we serve: then every socket is closed with 1013 ("try again later";
  // clients reconnect with backoff and resume) and new ones are refused until a probe goes through.
  let probing = false;
  const storeWatch = config.databaseUrl
    ? setInterval(() => {
        if (probing || stopping) return;
        probing = true;
        const probeStarted = performance.now();
        void store
          .probe()
          .then((up) => {
            if (up) metrics.storeProbe((performance.now() - probeStarted) / 1000);
            if (up === storeUp || stopping) return;
            storeUp = up;
            if (up) log.info("store.back", {});
            else {
              log.error("store.unreachable", {});
              hub.disconnectAll(CloseCode.TryAgainLater, "Service unavailable, reconnect");
            }
          })
          .finally(() => {
            probing = false;
          });
      }, STORE_WATCH_INTERVAL_MS)
    : undefined;
  storeWatch?.unref();
  // Several instances: the log's head, read every second, brings any message the bus did not.
  let polling = false;
  const logPoll = bus
    ? setInterval(() => {
        if (polling || stopping || !storeUp) return;
        polling = true;
        void store
          .lastMessageId()
          .then((head) => hub.tail.reach(head))
          .catch(() => {})
          .finally(() => {
            polling = false;
          });
      }, LOG_POLL_INTERVAL_MS)
    : undefined;
  logPoll?.unref();
  // Bans made anywhere (another instance, the command line on the same store): the banned account's
  // sockets here close with 4403 within BAN_CHECK_INTERVAL_MS.
  // The mark moves only after a read that went through, and the window reaches back BAN_CLOCK_SKEW_MS
  // more (a ban's time is the clock of whoever wrote it).
  let bansCheckedAt = Date.now();
  let checkingBans = false;
  const banCheck = setInterval(() => {
    if (checkingBans || stopping || !storeUp) return;
    checkingBans = true;
    const startedAt = Date.now();
    void store
      .bannedSince(bansCheckedAt - BAN_CHECK_INTERVAL_MS - BAN_CLOCK_SKEW_MS)
      .then((accountIds) => {
        bansCheckedAt = startedAt;
        for (const accountId of accountIds) hub.registry.closeAccount(accountId, CloseCode.Banned, "Banned");
      })
      .catch(() => {})
      .finally(() => {
        checkingBans = false;
      });
  }, BAN_CHECK_INTERVAL_MS);
  banCheck.unref();
  // Several instances: a sign-out whose news the bus lost (it was down on the instance that signed
  // out) still closes this instance's sockets of that session, within SESSION_CHECK_INTERVAL_MS.
  let checking = false;
  const sessionCheck = bus
    ? setInterval(() => {
        const sids = hub.registry.sessionIds();
        if (checking || stopping || !storeUp || sids.length === 0) return;
        checking = true;
        void store
          .liveSessions(sids)
          .then((live) => {
            const ended = sids.filter((sid) => !live.has(sid));
            if (ended.length > 0) hub.closeSessions(ended, CloseCode.SignedOut, "Signed out");
          })
          .catch(() => {})
          .finally(() => {
            checking = false;
          });
      }, SESSION_CHECK_INTERVAL_MS)
    : undefined;
  sessionCheck?.unref();

  return {
    app,
    hub,
    accounts,
    store,
    writer,
    guards,
    cluster,
    bus,
    log,
    metrics,
    /** Resolves once the app can serve (SQLite: at once; PostgreSQL: connected and migrated); rejects with a StoreError. */
    started,
    /** Where /static/* is served from: "embedded" in the compiled executable, else a folder. */
    assets: typeof assets === "string" ? assets : "embedded",
    /** The search indexer (undefined with SEARCH=false or HISTORY=false); `drain()` indexes everything now (tests). */
    indexer,
    /** Web Push (undefined with PUSH=false); `settled()` sends what may go now (tests). */
    push,
    /** Administration and moderation use cases (the admin routes, the command line). */
    moderation,
    /** Uploads and downloads (undefined with HISTORY=false); `collect(now)` removes unreferenced files (tests). */
    files,
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
     * handshake, then the rest is cut, queued messages are committed and
     * the database checkpointed and closed. Safe to call twice.
     */
    async stop(): Promise<void> {
      if (stopping) return;
      stopping = true;
      clearInterval(sweeper);
      clearInterval(walWatch);
      clearInterval(storeWatch);
      clearInterval(logPoll);
      clearInterval(sessionCheck);
      clearInterval(banCheck);
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
      await writer.close();
      // What was stored before the stop is pushed (a second at most), before the store closes.
      await push?.stop(PUSH_STOP_WAIT_MS);
      await indexer?.stop();
      hub.stop();
      cluster?.stop();
      await bus?.close();
      // Every write is committed; fold the WAL into the main file so a copy of DATA_DIR is one file.
      try {
        await store.close();
      } catch (error) {
        log.error("store.close_failed", { error: String((error as Error)?.message ?? error) });
        storeFailed(error);
      }
    },
  };
};

export type TeahouseApp = ReturnType<typeof createApp>;
