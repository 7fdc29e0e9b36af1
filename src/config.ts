/**
 * One typed configuration, read from environment variables and command-line
 * flags (flags win), validated at start so a bad value fails fast with a
 * one-line message. The README's configuration table is this file's OPTIONS.
 */
import { isIP } from "node:net";

export interface Config {
  /** TCP port to listen on; 0 picks a free one (tests). */
  port: number;
  /** Interface to bind. */
  host: string;
  /** Cookie-signing secrets, newest first; older ones still verify (rotation). Empty: generated and kept in dataDir. */
  secrets: string[];
  /** Where the SQLite database and the generated secret live; ":memory:" keeps everything in memory (tests). */
  dataDir: string;
  /** Extra origins allowed to open the WebSocket and to sign in (exact match, e.g. https://chat.example.com). */
  allowedOrigins: string[];
  /** Mark the identity cookie `Secure` (set when served over HTTPS). */
  cookieSecure: boolean;
  /** A session with no open socket and no request for this long is ended and its name freed. */
  sessionIdleMs: number;
  /** Longest chat message, in characters, after trimming. */
  maxMessageLength: number;
  /** Largest WebSocket frame, in bytes; a larger one closes the socket with 1009. */
  maxFrameBytes: number;
  /** A socket silent for this long (no frame, no pong) is closed; the server pings before that. */
  idleTimeoutSeconds: number;
  /** Store chat and private messages (SQLite) and serve history; off: messages are only relayed. */
  history: boolean;
  search: boolean;
  /** Web Push: browsers subscribe (`/push/subscribe`) and are notified with the tab closed. */
  push: boolean;
  /** VAPID public key (base64url, uncompressed P-256 point); empty with the private one: generated once and kept in the store. */
  pushVapidPublicKey: string;
  /** VAPID private key (base64url, 32 bytes). */
  pushVapidPrivateKey: string;
  /** The VAPID subject push services may contact about this server: a mailto: or https: URL. */
  pushSubject: string;
  /** Allow push endpoints on loopback, private and link-local addresses (tests, private networks). */
  pushAllowPrivateEndpoints: boolean;
  /** Largest file one upload may carry, in bytes (the request may be a little larger: the form around it). */
  maxFileBytes: number;
  /** Uploads per account per minute (also the burst). */
  fileUploadsPerMinute: number;
  /** Bytes the files of one account's messages may take (0 = no limit). */
  fileQuotaPerAccountBytes: number;
  /** Bytes all files kept may take, each content counted once (0 = no limit). */
  fileQuotaTotalBytes: number;
  /** S3-compatible bucket for files (several instances need one); empty: files under DATA_DIR/files. */
  s3Bucket: string;
  /** The bucket's endpoint (MinIO, R2, …; empty: AWS in s3Region). */
  s3Endpoint: string;
  s3Region: string;
  /** Credentials for the bucket (empty: Bun's own S3_* / AWS_* environment variables). */
  s3AccessKeyId: string;
  s3SecretAccessKey: string;
  /** Messages per `history` frame: sent on joining a room and the maximum page size. */
  historyPageSize: number;
  /** Keep at most this many messages per room (0 = no limit). */
  historyMaxPerRoom: number;
  /** Delete messages older than this, ms (0 = keep forever). */
  historyMaxAgeMs: number;
  /** PostgreSQL URL: the durable store (instead of SQLite in dataDir). Empty: SQLite. */
  databaseUrl: string;
  /** Redis URL: the bus between several instances (needs databaseUrl). Empty: one instance. */
  redisUrl: string;
  /** A guest's name stays reserved this long after its last socket or request. */
  guestNameGraceMs: number;
  /** History one socket open (or resume) sends at most, in bytes; past it, conversations come empty. */
  openBudgetBytes: number;
  /** Socket opens per account per minute (also the burst). */
  /** Milliseconds of an event-loop turn that socket opens may take (0: no limit). */
  openTurnBudgetMs: number;
  socketOpensPerMinute: number;
  /** Socket opens per client address per minute (also the burst). */
  socketOpensPerIpPerMinute: number;
  /** Rooms that may exist in all (creating one more is refused). */
  maxRooms: number;
  /** An account whose last socket closed stays online this long (a reload or a reconnect is not a leave). */
  presenceGraceMs: number;
  /** Rooms with at most this many people online get `join`/`left` per person; bigger ones, batched `presence`. */
  presenceFullRoomSize: number;
  /** Rooms with more than this many online get the count alone in their `presence` frames. */
  presenceBigRoomSize: number;
  /** Password attempts per account per minute (also the burst). */
  passwordAttemptsPerMinute: number;
  /** Rooms one account may create per hour (also the burst). */
  roomCreationsPerHour: number;
  /** The SQLite WAL is truncated once it grows past this many bytes. */
  walMaxBytes: number;
  /** Chat frames one socket may send per second, on average (token bucket refill). */
  ratePerSecond: number;
  /** Chat frames one socket may send in a burst (token bucket size). */
  rateBurst: number;
  /** Frames one user may send per second over all their sockets. */
  userRatePerSecond: number;
  /** Frames one user may send in a burst over all their sockets. */
  userRateBurst: number;
  /** Frames refused for rate in a row (one forgiven per second) before the socket is closed with 4008. */
  abuseStrikes: number;
  /** Open sockets per user (tabs, devices). */
  maxSocketsPerUser: number;
  /** Open sockets per client address (IPv6: per /64). */
  maxSocketsPerIp: number;
  /** Users online at once; past it new users get "server full" (503). */
  maxUsersOnline: number;
  /** Rooms one user may be in at once, the lobby included. */
  maxRoomsPerUser: number;
  /** Sign-in attempts per client address per minute (also the burst). */
  signInPerMinute: number;
  /** Bytes queued for a socket that does not read before it is closed with 4100 ("slow, reconnect"). */
  slowConsumerBytes: number;
  /** Log threshold. */
  logLevel: LogLevel;
  /** Socket peers (reverse proxies) whose X-Forwarded-For / X-Forwarded-Proto are believed; others' are ignored. */
  trustProxy: string[];
}

export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";
const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error", "silent"];

/** A configuration value that cannot be used; the message names the option. */
export class ConfigError extends Error {}

interface Option<K extends keyof Config> {
  key: K;
  env: string;
  flag: string;
  doc: string;
  default: Config[K];
  /** How the default is written in --help and the README, when not as JSON. */
  shown?: string;
  parse: (raw: string, name: string) => Config[K];
}

const integer =
  (min: number, max: number) =>
  (raw: string, name: string): number => {
    const value = Number(raw);
    if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(value) || value < min || value > max)
      throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, got "${raw}"`);
    return value;
  };

const list = (raw: string): string[] =>
  raw
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item.length > 0);

const boolean = (raw: string, name: string): boolean => {
  const value = raw.trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(value)) return true;
  if (["0", "false", "no", "off", ""].includes(value)) return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
};

const origins = (raw: string, name: string): string[] =>
  list(raw).map((origin) => {
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      throw new ConfigError(`${name}: "${origin}" is not an origin like https://chat.example.com`);
    }
    if (url.origin !== origin.replace(/\/$/, ""))
      throw new ConfigError(`${name}: "${origin}" is not an origin like https://chat.example.com (no path)`);
    return url.origin;
  });

const ips = (raw: string, name: string): string[] =>
  list(raw).map((ip) => {
    if (isIP(ip) === 0) throw new ConfigError(`${name}: "${ip}" is not an IP address like 127.0.0.1 or ::1`);
    return ip;
  });

/** A VAPID key: base64url of `bytes` bytes (65: an uncompressed P-256 point, 32: its private scalar). */
const vapidKey = (raw: string, name: string, bytes: number): string => {
  const value = raw.trim();
  const decoded = /^[A-Za-z0-9_-]+$/.test(value) ? Buffer.from(value, "base64url") : undefined;
  if (!decoded || decoded.length !== bytes || (bytes === 65 && decoded[0] !== 4))
    throw new ConfigError(`${name} must be a base64url VAPID key of ${bytes} bytes (see web-push generate-vapid-keys)`);
  return value;
};

const option = <K extends keyof Config>(o: Option<K>): Option<K> => o;

/** Every option, in the order the README and `--help` list them. */
export const OPTIONS = [
  option({
    key: "port",
    env: "PORT",
    flag: "--port",
    doc: "TCP port (0 = any free port)",
    default: 3000,
    parse: integer(0, 65535),
  }),
  option({
    key: "host",
    env: "HOST",
    flag: "--host",
    doc: "interface to bind",
    default: "0.0.0.0",
    parse: (raw) => raw.trim(),
  }),
  option({
    key: "secrets",
    env: "SECRET",
    flag: "--secret",
    doc: "cookie-signing secrets, comma-separated, newest first (rotation); empty = generated once and kept in DATA_DIR",
    default: [],
    shown: "generated",
    parse: (raw, name) => {
      const secrets = list(raw);
      for (const secret of secrets)
        if (secret.length < 16) throw new ConfigError(`${name}: each secret needs at least 16 characters`);
      return secrets;
    },
  }),
  option({
    key: "dataDir",
    env: "DATA_DIR",
    flag: "--data-dir",
    doc: 'folder for the SQLite database, the generated secret and files (DATA_DIR/files, unless S3_BUCKET) (":memory:" = nothing on disk)',
    default: "./data",
    parse: (raw) => raw.trim(),
  }),
  option({
    key: "allowedOrigins",
    env: "ALLOWED_ORIGINS",
    flag: "--allowed-origins",
    doc: "other origins allowed to open the socket and sign in, comma-separated (exact match); the page's own origin is always allowed",
    default: [],
    shown: "none",
    parse: origins,
  }),
  option({
    key: "cookieSecure",
    env: "COOKIE_SECURE",
    flag: "--cookie-secure",
    doc: "mark the identity cookie Secure (serve over HTTPS)",
    default: false,
    parse: boolean,
  }),
  option({
    key: "sessionIdleMs",
    env: "SESSION_IDLE_SECONDS",
    flag: "--session-idle-seconds",
    doc: "a session with no socket and no request for this long ends and frees its name",
    default: 24 * 3600 * 1000,
    shown: "86400",
    parse: (raw, name) => integer(10, 365 * 24 * 3600)(raw, name) * 1000,
  }),
  option({
    key: "maxMessageLength",
    env: "MAX_MESSAGE_LENGTH",
    flag: "--max-message-length",
    doc: "longest chat message, in characters",
    default: 2000,
    parse: integer(1, 100_000),
  }),
  option({
    key: "maxFrameBytes",
    env: "MAX_FRAME_BYTES",
    flag: "--max-frame-bytes",
    doc: "largest WebSocket frame in bytes; larger closes the socket with 1009",
    default: 16 * 1024,
    parse: integer(256, 16 * 1024 * 1024),
  }),
  option({
    key: "idleTimeoutSeconds",
    env: "WS_IDLE_TIMEOUT_SECONDS",
    flag: "--ws-idle-timeout-seconds",
    doc: "close a socket silent this long; the server pings it first (4–16 s before), so live clients never hit it; keep a proxy's read timeout above it",
    default: 60,
    parse: integer(5, 960),
  }),
  option({
    key: "history",
    env: "HISTORY",
    flag: "--history",
    doc: "store messages in SQLite and serve history and recovery (false: relay only)",
    default: true,
    parse: boolean,
  }),
  option({
    key: "search",
    env: "SEARCH",
    flag: "--search",
    doc: "index messages for search (`GET /search`); false: no index is kept up to date and /search answers 404",
    default: true,
    parse: boolean,
  }),
  option({
    key: "push",
    env: "PUSH",
    flag: "--push",
    doc: "Web Push: browsers may subscribe to notifications that arrive with the tab closed; false: `/push/*` answers 404",
    default: true,
    parse: boolean,
  }),
  option({
    key: "pushVapidPublicKey",
    env: "PUSH_VAPID_PUBLIC_KEY",
    flag: "--push-vapid-public-key",
    doc: "VAPID public key (base64url) signing pushes, with PUSH_VAPID_PRIVATE_KEY; empty = a pair generated once and kept in the store (shared by every instance)",
    default: "",
    shown: "generated",
    parse: (raw, name) => vapidKey(raw, name, 65),
  }),
  option({
    key: "pushVapidPrivateKey",
    env: "PUSH_VAPID_PRIVATE_KEY",
    flag: "--push-vapid-private-key",
    doc: "VAPID private key (base64url, 32 bytes), with PUSH_VAPID_PUBLIC_KEY",
    default: "",
    shown: "generated",
    parse: (raw, name) => vapidKey(raw, name, 32),
  }),
  option({
    key: "pushSubject",
    env: "PUSH_SUBJECT",
    flag: "--push-subject",
    doc: "who push services may contact about this server's pushes: a mailto: or https: URL",
    default: "mailto:admin@teahouse.invalid",
    parse: (raw, name) => {
      const value = raw.trim();
      if (!/^(mailto:[^\s@]+@[^\s@]+|https:\/\/[^\s]+)$/.test(value))
        throw new ConfigError(`${name} must be a mailto: or https: URL, got "${raw}"`);
      return value;
    },
  }),
  option({
    key: "pushAllowPrivateEndpoints",
    env: "PUSH_ALLOW_PRIVATE_ENDPOINTS",
    flag: "--push-allow-private-endpoints",
    doc: "send pushes to endpoints on loopback, private or link-local addresses (for tests and private networks only: an endpoint is a URL a client chose)",
    default: false,
    parse: boolean,
  }),
  option({
    key: "maxFileBytes",
    env: "MAX_FILE_MB",
    flag: "--max-file-mb",
    doc: "largest file one upload may carry, in MiB (larger: HTTP 413 before the body is read); a proxy in front needs a body limit a little above it (deploy/nginx.conf)",
    default: 25 * 1024 * 1024,
    shown: "25",
    parse: (raw, name) => integer(1, 1024)(raw, name) * 1024 * 1024,
  }),
  option({
    key: "fileUploadsPerMinute",
    env: "FILE_UPLOADS_PER_MINUTE",
    flag: "--file-uploads-per-minute",
    doc: "file uploads per account per minute (also the burst); more: HTTP 429 with Retry-After",
    default: 20,
    parse: integer(1, 100_000),
  }),
  option({
    key: "fileQuotaPerAccountBytes",
    env: "FILE_QUOTA_MB_PER_ACCOUNT",
    flag: "--file-quota-mb-per-account",
    doc: "MiB the files of one account's messages may take (deleted and pruned ones no longer count; 0 = no limit); over it: HTTP 413 quota_exceeded",
    default: 1024 * 1024 * 1024,
    shown: "1024",
    parse: (raw, name) => integer(0, 100_000_000)(raw, name) * 1024 * 1024,
  }),
  option({
    key: "fileQuotaTotalBytes",
    env: "FILE_QUOTA_MB_TOTAL",
    flag: "--file-quota-mb-total",
    doc: "MiB all files kept may take, each content once (0 = no limit); over it: HTTP 413 quota_exceeded",
    default: 20 * 1024 * 1024 * 1024,
    shown: "20480",
    parse: (raw, name) => integer(0, 1_000_000_000)(raw, name) * 1024 * 1024,
  }),
  option({
    key: "s3Bucket",
    env: "S3_BUCKET",
    flag: "--s3-bucket",
    doc: "S3-compatible bucket to keep files in (several instances need one); empty: files under DATA_DIR/files",
    default: "",
    shown: "none",
    parse: (raw) => raw.trim(),
  }),
  option({
    key: "s3Endpoint",
    env: "S3_ENDPOINT",
    flag: "--s3-endpoint",
    doc: "the bucket's endpoint, e.g. http://minio:9000 (empty: AWS, in S3_REGION)",
    default: "",
    shown: "none",
    parse: (raw, name) => {
      const url = raw.trim();
      if (url !== "" && !/^https?:\/\/[^\s]+$/.test(url))
        throw new ConfigError(`${name} must look like https://s3.example.com, got a value that does not`);
      return url;
    },
  }),
  option({
    key: "s3Region",
    env: "S3_REGION",
    flag: "--s3-region",
    doc: "the bucket's region",
    default: "",
    shown: "none",
    parse: (raw) => raw.trim(),
  }),
  option({
    key: "s3AccessKeyId",
    env: "S3_ACCESS_KEY_ID",
    flag: "--s3-access-key-id",
    doc: "access key for the bucket (empty: Bun's fallbacks, e.g. AWS_ACCESS_KEY_ID)",
    default: "",
    shown: "none",
    parse: (raw) => raw.trim(),
  }),
  option({
    key: "s3SecretAccessKey",
    env: "S3_SECRET_ACCESS_KEY",
    flag: "--s3-secret-access-key",
    doc: "secret key for the bucket (empty: Bun's fallbacks, e.g. AWS_SECRET_ACCESS_KEY)",
    default: "",
    shown: "none",
    parse: (raw) => raw.trim(),
  }),
  option({
    key: "historyPageSize",
    env: "HISTORY_PAGE_SIZE",
    flag: "--history-page-size",
    doc: "messages sent on joining a room, and the largest page a client may ask for",
    default: 50,
    parse: integer(1, 500),
  }),
  option({
    key: "historyMaxPerRoom",
    env: "HISTORY_MAX_PER_ROOM",
    flag: "--history-max-per-room",
    doc: "keep at most this many messages per room (0 = no limit); older ones are pruned in the background",
    default: 100_000,
    parse: integer(0, 1_000_000_000),
  }),
  option({
    key: "historyMaxAgeMs",
    env: "HISTORY_MAX_AGE_DAYS",
    flag: "--history-max-age-days",
    doc: "delete messages older than this many days (0 = keep forever)",
    default: 0,
    parse: (raw, name) => integer(0, 100 * 365)(raw, name) * 24 * 3600 * 1000,
  }),
  option({
    key: "redisUrl",
    env: "REDIS_URL",
    flag: "--redis-url",
    doc: "Redis to run several instances on one DATABASE_URL (the bus between them: fan-out, presence, shared limits)",
    default: "",
    shown: "none",
    parse: (raw, name) => {
      const url = raw.trim();
      if (url !== "" && !/^rediss?:\/\/[^\s]+$/.test(url))
        throw new ConfigError(`${name} must look like redis://host:6379, got a value that does not`);
      return url;
    },
  }),
  option({
    key: "databaseUrl",
    env: "DATABASE_URL",
    flag: "--database-url",
    doc: "PostgreSQL to keep everything in (accounts, sessions, rooms, messages) instead of SQLite in DATA_DIR",
    default: "",
    shown: "none",
    parse: (raw, name) => {
      const url = raw.trim();
      if (url !== "" && !/^postgres(ql)?:\/\/[^\s]+$/.test(url))
        throw new ConfigError(
          `${name} must look like postgres://user:password@host:5432/teahouse, got a value that does not`,
        );
      return url;
    },
  }),
  option({
    key: "guestNameGraceMs",
    env: "GUEST_NAME_GRACE_SECONDS",
    flag: "--guest-name-grace-seconds",
    doc: "a guest's name stays reserved this long after its last socket or request; then another browser may take it",
    default: 600 * 1000,
    shown: "600",
    parse: (raw, name) => integer(0, 365 * 24 * 3600)(raw, name) * 1000,
  }),
  option({
    key: "openBudgetBytes",
    env: "OPEN_BUDGET_KIB",
    flag: "--open-budget-kib",
    doc: "history a socket open or a resume sends at most (KiB); past it a conversation comes empty (recovered: false) and the client pages back",
    default: 2048 * 1024,
    shown: "2048",
    parse: (raw, name) => integer(16, 1024 * 1024)(raw, name) * 1024,
  }),
  option({
    key: "openTurnBudgetMs",
    env: "OPEN_TURN_BUDGET_MS",
    flag: "--open-turn-budget-ms",
    doc: "milliseconds of one event-loop turn that socket opens may take; the turn's later upgrades get 503 busy (a reconnect storm is spread out); 0 = no limit",
    default: 20,
    parse: integer(0, 10_000),
  }),
  option({
    key: "socketOpensPerMinute",
    env: "SOCKET_OPENS_PER_MINUTE",
    flag: "--socket-opens-per-minute",
    doc: "socket opens per account per minute (also the burst); more get 429 at the upgrade",
    default: 60,
    parse: integer(1, 1_000_000),
  }),
  option({
    key: "socketOpensPerIpPerMinute",
    env: "SOCKET_OPENS_PER_IP_PER_MINUTE",
    flag: "--socket-opens-per-ip-per-minute",
    doc: "socket opens per client address per minute (also the burst); more get 429 at the upgrade",
    default: 600,
    parse: integer(1, 10_000_000),
  }),
  option({
    key: "maxRooms",
    env: "MAX_ROOMS",
    flag: "--max-rooms",
    doc: "rooms with members that may exist in all; creating one more is refused (room_limit_reached)",
    default: 10_000,
    parse: integer(1, 100_000_000),
  }),
  option({
    key: "presenceGraceMs",
    env: "PRESENCE_GRACE_SECONDS",
    flag: "--presence-grace-seconds",
    doc: "an account whose last socket closed stays online this long, so a reload or a reconnect is not a leave and a join",
    default: 5 * 1000,
    shown: "5",
    parse: (raw, name) => integer(0, 3600)(raw, name) * 1000,
  }),
  option({
    key: "presenceFullRoomSize",
    env: "PRESENCE_FULL_ROOM_SIZE",
    flag: "--presence-full-room-size",
    doc: "rooms with at most this many online get a join/left frame per person; bigger rooms get one presence frame a second (counts; names only to the member list's watchers)",
    default: 100,
    parse: integer(1, 1_000_000),
  }),
  option({
    key: "presenceBigRoomSize",
    env: "PRESENCE_BIG_ROOM_SIZE",
    flag: "--presence-big-room-size",
    doc: "rooms with more than this many online get the online count alone in their presence frames (not how many came and went)",
    default: 1000,
    parse: integer(1, 10_000_000),
  }),
  option({
    key: "passwordAttemptsPerMinute",
    env: "PASSWORD_ATTEMPTS_PER_MINUTE",
    flag: "--password-attempts-per-minute",
    doc: "password sign-in attempts per account per minute (also the burst); more: HTTP 429 with Retry-After",
    default: 5,
    parse: integer(1, 10_000),
  }),
  option({
    key: "roomCreationsPerHour",
    env: "ROOM_CREATIONS_PER_HOUR",
    flag: "--room-creations-per-hour",
    doc: "rooms one account may create per hour (also the burst); more: `room_creation_limited` error",
    default: 10,
    parse: integer(1, 1_000_000),
  }),
  option({
    key: "walMaxBytes",
    env: "WAL_MAX_MB",
    flag: "--wal-max-mb",
    doc: "the SQLite write-ahead log is checkpointed and truncated once it grows past this many MiB",
    default: 40 * 1024 * 1024,
    shown: "40",
    parse: (raw, name) => integer(1, 100_000)(raw, name) * 1024 * 1024,
  }),
  option({
    key: "ratePerSecond",
    env: "RATE_PER_SECOND",
    flag: "--rate-per-second",
    doc: "frames one socket may send per second on average; over it: `rate_limited` error",
    default: 10,
    parse: integer(1, 100_000),
  }),
  option({
    key: "rateBurst",
    env: "RATE_BURST",
    flag: "--rate-burst",
    doc: "frames one socket may send in a burst",
    default: 20,
    parse: integer(1, 100_000),
  }),
  option({
    key: "userRatePerSecond",
    env: "USER_RATE_PER_SECOND",
    flag: "--user-rate-per-second",
    doc: "frames one user may send per second over all their sockets",
    default: 20,
    parse: integer(1, 100_000),
  }),
  option({
    key: "userRateBurst",
    env: "USER_RATE_BURST",
    flag: "--user-rate-burst",
    doc: "frames one user may send in a burst over all their sockets",
    default: 40,
    parse: integer(1, 100_000),
  }),
  option({
    key: "abuseStrikes",
    env: "ABUSE_STRIKES",
    flag: "--abuse-strikes",
    doc: "rate-limited frames tolerated in a row (one forgiven per second); then the socket is closed with 4008",
    default: 30,
    parse: integer(1, 100_000),
  }),
  option({
    key: "maxSocketsPerUser",
    env: "MAX_SOCKETS_PER_USER",
    flag: "--max-sockets-per-user",
    doc: "open sockets per user (tabs, devices); more: HTTP 429 at the upgrade",
    default: 10,
    parse: integer(1, 10_000),
  }),
  option({
    key: "maxSocketsPerIp",
    env: "MAX_SOCKETS_PER_IP",
    flag: "--max-sockets-per-ip",
    doc: "open sockets per client address (IPv6: per /64); more: HTTP 429 at the upgrade",
    default: 100,
    parse: integer(1, 1_000_000),
  }),
  option({
    key: "maxUsersOnline",
    env: "MAX_USERS_ONLINE",
    flag: "--max-users-online",
    doc: 'users online at once; one more gets "server full" (HTTP 503 at the upgrade)',
    default: 10_000,
    parse: integer(1, 10_000_000),
  }),
  option({
    key: "maxRoomsPerUser",
    env: "MAX_ROOMS_PER_USER",
    flag: "--max-rooms-per-user",
    doc: "rooms one user may be in at once, the lobby included",
    default: 20,
    parse: integer(1, 10_000),
  }),
  option({
    key: "signInPerMinute",
    env: "SIGNIN_PER_MINUTE",
    flag: "--signin-per-minute",
    doc: "sign-in attempts per client address per minute (also the burst); more: HTTP 429 with Retry-After",
    default: 30,
    parse: integer(1, 1_000_000),
  }),
  option({
    key: "slowConsumerBytes",
    env: "SLOW_CONSUMER_BYTES",
    flag: "--slow-consumer-bytes",
    doc: "bytes queued for a socket that does not read before it is closed with 4100 (slow, reconnect)",
    default: 1024 * 1024,
    parse: integer(16 * 1024, 256 * 1024 * 1024),
  }),
  option({
    key: "logLevel",
    env: "LOG_LEVEL",
    flag: "--log-level",
    doc: `log threshold: ${LOG_LEVELS.join(", ")}`,
    default: "info",
    parse: (raw, name) => {
      const level = raw.trim().toLowerCase() as LogLevel;
      if (!LOG_LEVELS.includes(level))
        throw new ConfigError(`${name} must be one of ${LOG_LEVELS.join(", ")}, got "${raw}"`);
      return level;
    },
  }),
  option({
    key: "trustProxy",
    env: "TRUST_PROXY",
    flag: "--trust-proxy",
    doc: "IP addresses of reverse proxies whose X-Forwarded-For/-Proto headers are believed, comma-separated (e.g. 127.0.0.1); others' are ignored",
    default: [],
    shown: "none",
    parse: ips,
  }),
] as const;

/** Timers of Bun's sockets (uWebSockets) fire on a 4-second tick. */
const SOCKET_TIMER_TICK_S = 4;

/**
 * How long a socket may stay silent before the server pings it, for an idle
 * timeout of `idleTimeoutSeconds` (WS_IDLE_TIMEOUT_SECONDS). Bun pings a
 * silent socket `idleTimeout − margin` seconds after its last frame (margin
 * 4, 8 or 16 s, leaving time for the pong), on its 4-second timer: 4 s for
 * 5–8, 12 s for 20, 44 s for the default 60. A proxy's read timeout must be
 * longer than this (deploy/nginx.conf: longer than the idle timeout itself).
 */
export const pingIntervalSeconds = (idleTimeoutSeconds: number): number => {
  let margin = 4;
  while (idleTimeoutSeconds - margin * 2 >= margin * 2 && margin < 16) margin *= 2;
  const ticks = Math.max(1, Math.ceil((idleTimeoutSeconds - margin) / SOCKET_TIMER_TICK_S));
  return ticks * SOCKET_TIMER_TICK_S;
};

/** The defaults, for tests and embedding: `{ ...defaultConfig(), port: 0 }`. */
export const defaultConfig = (): Config => {
  const config = {} as Record<keyof Config, unknown>;
  for (const o of OPTIONS) config[o.key] = Array.isArray(o.default) ? [...o.default] : o.default;
  return config as unknown as Config;
};

/**
 * Several instances share one store: REDIS_URL (the bus) without DATABASE_URL would give each
 * instance a SQLite of its own, so it is refused.
 */
const REDIS_NEEDS_DATABASE =
  "REDIS_URL is set without DATABASE_URL: several instances need one shared PostgreSQL store; set DATABASE_URL=postgres://… too, or unset REDIS_URL to run one instance on SQLite";

/**
 * Reads the configuration: defaults, then environment variables, then flags
 * (`--port 3000` or `--port=3000`). Throws ConfigError naming the bad option.
 */
export const loadConfig = (env: Record<string, string | undefined>, argv: readonly string[]): Config => {
  const config = defaultConfig() as unknown as Record<keyof Config, unknown>;
  for (const o of OPTIONS) {
    const raw = env[o.env];
    if (raw !== undefined && raw !== "") config[o.key] = o.parse(raw, o.env);
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.includes("=")
      ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
      : [arg, undefined];
    const o = OPTIONS.find((candidate) => candidate.flag === flag);
    if (!o) throw new ConfigError(`unknown option ${flag} (see --help)`);
    const raw = inline ?? argv[++i];
    if (raw === undefined) throw new ConfigError(`${flag} needs a value`);
    config[o.key] = o.parse(raw, flag);
  }
  if (config.redisUrl !== "" && config.databaseUrl === "") throw new ConfigError(REDIS_NEEDS_DATABASE);
  if ((config.pushVapidPublicKey === "") !== (config.pushVapidPrivateKey === ""))
    throw new ConfigError("PUSH_VAPID_PUBLIC_KEY and PUSH_VAPID_PRIVATE_KEY go together: set both, or neither");
  return config as unknown as Config;
};

/** An option's default as people read it. */
export const shownDefault = (o: (typeof OPTIONS)[number]): string =>
  "shown" in o && o.shown !== undefined
    ? o.shown
    : typeof o.default === "string"
      ? o.default
      : JSON.stringify(o.default);

/** The `--help` text. */
export const helpText = (): string =>
  [
    "teahouse — a self-hosted realtime chat room",
    "",
    "Usage: teahouse [options]",
    "",
    "Options (each also read from the environment variable in brackets; flags win):",
    ...OPTIONS.map((o) => `  ${`${o.flag} <value>`.padEnd(32)} ${o.doc} [${o.env}, default ${shownDefault(o)}]`),
    `  ${"--help".padEnd(32)} print this help`,
    `  ${"--version".padEnd(32)} print the version`,
    `  ${"--healthcheck".padEnd(32)} ask the server configured like this for /healthz; exit 0 if healthy (container probes)`,
    "",
    "Commands:",
    `  ${"migrate --to postgres://…".padEnd(32)} copy DATA_DIR into an empty PostgreSQL database (resumable, verified)`,
    "",
    "Administration, on the store of the server configured like this (DATA_DIR or DATABASE_URL), also while it runs",
    "(an account is named by its name, or by --id N from `admin users`; exit 2: bad usage, 1: failed):",
    ...COMMAND_HELP.map(([command, doc]) =>
      command.length < 32 ? `  ${command.padEnd(32)} ${doc}` : `  ${command}\n  ${" ".repeat(32)} ${doc}`,
    ),
  ].join("\n");

/** The operator's commands, as --help lists them (src/ops/admin.ts, src/ops/backup.ts run them). */
const COMMAND_HELP: readonly [string, string][] = [
  [
    "admin create-owner NAME",
    "make NAME (new, or an existing account) the owner; the password is typed, or read from stdin's first line",
  ],
  ["admin users [--query PREFIX]", "list the accounts: id, name, kind, role, banned, last active (UTC)"],
  [
    "admin ban NAME|--id N [--reason TEXT] [--address IP …]",
    "ban an account: its sessions end, its sockets close (4403) within seconds, it cannot sign in again",
  ],
  ["admin unban NAME|--id N", "lift a ban"],
  [
    "admin reset-password NAME|--id N [--url https://chat.example.com]",
    "print a one-time link (24 h) to set a new password (at --url, else the first ALLOWED_ORIGINS, else localhost)",
  ],
  ["admin set-role NAME|--id N admin|member", "make a registered account an admin, or a member again"],
  [
    "backup FILE",
    "a consistent copy of the SQLite database while the server runs, files into FILE.files/ (not with DATABASE_URL: pg_dump)",
  ],
  ["restore FILE", "restore a backup (and FILE.files/) into an empty or absent DATA_DIR"],
];
