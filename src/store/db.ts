/**
 * The embedded SQLite database (bun:sqlite, WAL) and its versioned schema
 * migrations. Everything durable lives here: accounts, sessions,
 * conversations, memberships, messages and the id sequence.
 */
import { Database } from "bun:sqlite";
import { mkdirSync, accessSync, constants } from "node:fs";
import { join } from "node:path";
import { migrateToRecords } from "./migrate-records";

/** The database could not be opened or migrated; the message says what to fix. */
export class StoreError extends Error {}

/**
 * Whether an error says the database file itself is broken (SQLITE_CORRUPT, SQLITE_NOTADB): nothing
 * the server does next can work, so it stops with one line, as at start.
 */
export const isCorruption = (error: unknown): boolean => {
  const code = String((error as { code?: unknown } | null)?.code ?? "");
  const message = String((error as Error | null)?.message ?? error);
  return (
    code.startsWith("SQLITE_CORRUPT") ||
    code.startsWith("SQLITE_NOTADB") ||
    /database disk image is malformed|file is not a database/i.test(message)
  );
};

/** One step of the schema: SQL, or a function for steps that must move data. */
type Migration = string | ((db: Database) => void);

/** Each entry moves the schema one version up; never edit a released entry, append a new one. */
const MIGRATIONS: readonly Migration[] = [
  // 1: sessions (a user is a signed-in session) and a key/value table for counters.
  `CREATE TABLE sessions (
     user_id    INTEGER PRIMARY KEY AUTOINCREMENT,
     sid        TEXT NOT NULL UNIQUE,
     name       TEXT NOT NULL,
     name_key   TEXT NOT NULL,
     image      INTEGER NOT NULL,
     created_at INTEGER NOT NULL,
     last_seen  INTEGER NOT NULL
   );
   CREATE INDEX sessions_last_seen ON sessions(last_seen);
   CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);`,
  // 2: rooms and message history. `frame` is the message exactly as it was broadcast (JSON),
  // so history is served without re-encoding. `pruned_up_to`: every message of the room with
  // an id up to it may have been deleted by retention (resume needs to know).
  `CREATE TABLE rooms (
     name         TEXT PRIMARY KEY,
     created_at   INTEGER NOT NULL,
     pruned_up_to INTEGER NOT NULL DEFAULT 0
   );
   INSERT INTO rooms (name, created_at) VALUES ('lobby', 0);
   CREATE TABLE messages (
     id        INTEGER PRIMARY KEY,
     room      TEXT,
     sender_id INTEGER NOT NULL,
     to_id     INTEGER,
     cid       TEXT,
     ts        INTEGER NOT NULL,
     frame     TEXT NOT NULL
   );
   CREATE INDEX messages_room ON messages(room, id) WHERE room IS NOT NULL;
   CREATE INDEX messages_sender ON messages(sender_id, id) WHERE room IS NULL;
   CREATE INDEX messages_to ON messages(to_id, id) WHERE room IS NULL;
   CREATE UNIQUE INDEX messages_cid ON messages(sender_id, cid) WHERE cid IS NOT NULL;
   CREATE INDEX messages_ts ON messages(ts);`,
  // 3: age-based pruning finds its cut by binary search on the id (ids grow with time):
  // an index on ts only cost every insert.
  `DROP INDEX messages_ts;`,
  // 4: accounts outlive sessions; rooms and direct conversations are conversations; memberships
  // with read positions; messages are records (body, not the wire frame). Data moves in place.
  (db) => migrateToRecords(db),
  // 5: each conversation counts its members (kept by triggers), indexed, so listing the biggest rooms
  // reads the page it answers, not every membership.
  `ALTER TABLE conversations ADD COLUMN members INTEGER NOT NULL DEFAULT 0;
   UPDATE conversations SET members = (SELECT count(*) FROM memberships WHERE conversation_id = conversations.id);
   CREATE INDEX conversations_by_members ON conversations(kind, members DESC, id DESC);
   CREATE TRIGGER memberships_counted AFTER INSERT ON memberships BEGIN
     UPDATE conversations SET members = members + 1 WHERE id = NEW.conversation_id;
   END;
   CREATE TRIGGER memberships_uncounted AFTER DELETE ON memberships BEGIN
     UPDATE conversations SET members = members - 1 WHERE id = OLD.conversation_id;
   END;`,
  // 6: messages change after they are sent (edits, deletions, reactions), each change a log entry of
  // its own: `rev` is the position of a message's last change (null: never changed). Replies and
  // mentions; reactions and mentions are rows of their own, gone with their message.
  `ALTER TABLE messages ADD COLUMN reply_to INTEGER;
   ALTER TABLE messages ADD COLUMN mentions TEXT;
   ALTER TABLE messages ADD COLUMN reactions TEXT;
   ALTER TABLE messages ADD COLUMN rev INTEGER;
   ALTER TABLE messages ADD COLUMN change TEXT;
   CREATE INDEX messages_changes ON messages(conversation_id, rev) WHERE rev IS NOT NULL;
   CREATE INDEX messages_revs ON messages(rev) WHERE rev IS NOT NULL;
   CREATE TABLE reactions (
     message_id INTEGER NOT NULL,
     emoji      TEXT NOT NULL,
     account_id INTEGER NOT NULL,
     created_at INTEGER NOT NULL,
     PRIMARY KEY (message_id, emoji, account_id)
   );
   CREATE TABLE mentions (
     account_id      INTEGER NOT NULL,
     conversation_id INTEGER NOT NULL,
     message_id      INTEGER NOT NULL,
     PRIMARY KEY (account_id, conversation_id, message_id)
   ) WITHOUT ROWID;
   CREATE INDEX mentions_message ON mentions(message_id);
   CREATE TRIGGER messages_gone AFTER DELETE ON messages BEGIN
     DELETE FROM reactions WHERE message_id = OLD.id;
     DELETE FROM mentions WHERE message_id = OLD.id;
   END;`,
  // 7: search. A full-text index of each message's tokens (domain/search.ts: words, pairs of CJK
  // characters, single CJK characters, facts), without a copy of the text (contentless); messages are
  // indexed in the background from 'search_indexed' on (those stored before this release too).
  // FTS5 merges its segments within the insert that crosses a threshold (a 40 ms stall at a million
  // messages): automatic merging is off, and each indexing step merges a bounded amount instead.
  `CREATE VIRTUAL TABLE message_index USING fts5(stream, chars, facts, content = '', contentless_delete = 1);
   INSERT INTO message_index (message_index, rank) VALUES ('automerge', 0);
   INSERT INTO message_index (message_index, rank) VALUES ('crisismerge', 64);
   INSERT INTO settings (key, value) VALUES ('search_indexed', '0') ON CONFLICT(key) DO NOTHING;
   DROP TRIGGER messages_gone;
   CREATE TRIGGER messages_gone AFTER DELETE ON messages BEGIN
     DELETE FROM reactions WHERE message_id = OLD.id;
     DELETE FROM mentions WHERE message_id = OLD.id;
     DELETE FROM message_index WHERE rowid = OLD.id;
   END;`,
  // 8: each membership's notification level (null: its kind's default).
  `ALTER TABLE memberships ADD COLUMN notify TEXT;`,
  // 9: Web Push subscriptions, one per browser endpoint, each owned by the session that made it (gone
  // with it: sign-out, sign-out everywhere, expiry); and the VAPID keys live in settings.
  `CREATE TABLE push_subscriptions (
     endpoint   TEXT PRIMARY KEY,
     sid        TEXT NOT NULL REFERENCES sessions(sid) ON DELETE CASCADE,
     account_id INTEGER NOT NULL,
     p256dh     TEXT NOT NULL,
     auth       TEXT NOT NULL,
     created_at INTEGER NOT NULL
   ) WITHOUT ROWID;
   CREATE INDEX push_subscriptions_account ON push_subscriptions(account_id, created_at);
   CREATE INDEX push_subscriptions_sid ON push_subscriptions(sid);`,
  // 10: files. A message may carry one (its text is the caption): the blob's SHA-256, the sanitised
  // name, the sniffed type, the size and an image's dimensions. `blobs` lists the contents kept
  // (each once, however many messages carry it), with when each was last claimed by an upload: a
  // blob no message refers to is collected once that is older than the grace an upload needs.
  `ALTER TABLE messages ADD COLUMN file_hash TEXT;
   ALTER TABLE messages ADD COLUMN file_name TEXT;
   ALTER TABLE messages ADD COLUMN file_type TEXT;
   ALTER TABLE messages ADD COLUMN file_size INTEGER;
   ALTER TABLE messages ADD COLUMN file_width INTEGER;
   ALTER TABLE messages ADD COLUMN file_height INTEGER;
   CREATE INDEX messages_files ON messages(file_hash) WHERE file_hash IS NOT NULL;
   CREATE INDEX messages_files_by_sender ON messages(sender_id) WHERE file_hash IS NOT NULL;
   CREATE TABLE blobs (
     hash       TEXT PRIMARY KEY,
     size       INTEGER NOT NULL,
     claimed_at INTEGER NOT NULL
   ) WITHOUT ROWID;`,
  // 11: moderation. Accounts have a server role (owner, admin; null: by their kind); rooms a topic, a
  // privacy flag and a slow mode, and their memberships a moderator flag and a mute; bans (by
  // account, name, browser and optionally addresses); the audit log; reports; invite links; one-time
  // password resets (their token's hash). Mutes and removals outlive the membership (leaving and
  // joining again lifts neither). On an upgraded server the oldest registered account owns it.
  `ALTER TABLE accounts ADD COLUMN role TEXT CHECK (role IN ('owner', 'admin'));
   CREATE UNIQUE INDEX accounts_one_owner ON accounts(role) WHERE role = 'owner';
   ALTER TABLE conversations ADD COLUMN topic TEXT;
   ALTER TABLE conversations ADD COLUMN private INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE conversations ADD COLUMN slow_seconds INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE memberships ADD COLUMN moderator INTEGER NOT NULL DEFAULT 0;
   CREATE TABLE mutes (
     conversation_id INTEGER NOT NULL,
     account_id      INTEGER NOT NULL,
     until           INTEGER NOT NULL,
     PRIMARY KEY (conversation_id, account_id)
   ) WITHOUT ROWID;
   CREATE TABLE removals (
     conversation_id INTEGER NOT NULL,
     account_id      INTEGER NOT NULL,
     at              INTEGER NOT NULL,
     PRIMARY KEY (conversation_id, account_id)
   ) WITHOUT ROWID;
   UPDATE accounts SET role = 'owner' WHERE id = (SELECT min(id) FROM accounts WHERE kind = 'member');
   CREATE TABLE bans (
     account_id INTEGER PRIMARY KEY,
     name_key   TEXT,
     device     TEXT,
     reason     TEXT NOT NULL DEFAULT '',
     by_id      INTEGER,
     created_at INTEGER NOT NULL
   );
   CREATE INDEX bans_name ON bans(name_key);
   CREATE INDEX bans_device ON bans(device);
   CREATE INDEX bans_created ON bans(created_at);
   CREATE TABLE ban_addresses (address TEXT NOT NULL, account_id INTEGER NOT NULL REFERENCES bans(account_id) ON DELETE CASCADE,
     PRIMARY KEY (address, account_id)) WITHOUT ROWID;
   CREATE TABLE audit (
     id             INTEGER PRIMARY KEY AUTOINCREMENT,
     at             INTEGER NOT NULL,
     actor_id       INTEGER,
     action         TEXT NOT NULL,
     account_id     INTEGER,
     conversation_id INTEGER,
     message_id     INTEGER,
     detail         TEXT NOT NULL DEFAULT '{}'
   );
   CREATE TABLE reports (
     id              INTEGER PRIMARY KEY AUTOINCREMENT,
     message_id      INTEGER NOT NULL,
     conversation_id INTEGER NOT NULL,
     reporter_id     INTEGER NOT NULL,
     reason          TEXT NOT NULL,
     at              INTEGER NOT NULL,
     resolved_by     INTEGER,
     resolved_at     INTEGER,
     UNIQUE (message_id, reporter_id)
   );
   CREATE INDEX reports_open ON reports(resolved_at, id);
   CREATE TABLE invites (
     token           TEXT PRIMARY KEY,
     conversation_id INTEGER,
     created_by      INTEGER NOT NULL,
     created_at      INTEGER NOT NULL,
     expires_at      INTEGER,
     uses_left       INTEGER
   ) WITHOUT ROWID;
   CREATE TABLE password_resets (
     token_hash TEXT PRIMARY KEY,
     account_id INTEGER NOT NULL,
     expires_at INTEGER NOT NULL
   ) WITHOUT ROWID;`,
  // 12: the client ids of messages are indexed by id first: the page's ids begin with the time, so new
  // ones land at the end of the index. By sender first, a commit of messages from 30 senders wrote 30
  // index pages (38 WAL pages a commit instead of 5, 3.5× the insert cost, measured).
  `DROP INDEX messages_cid;
   CREATE UNIQUE INDEX messages_cid ON messages(cid, sender_id) WHERE cid IS NOT NULL;`,
];
/** How long a statement waits for another process's lock (the command line's) before SQLITE_BUSY. */
export const BUSY_TIMEOUT_MS = 5000;
/** WAL pages (4 KiB) between automatic checkpoints. */
const WAL_AUTOCHECKPOINT_PAGES = 10_000;

/** Path of the database file in a data directory (":memory:" stays in memory). */
export const databasePath = (dataDir: string): string =>
  dataDir === ":memory:" ? ":memory:" : join(dataDir, "teahouse.sqlite");

/**
 * Opens (creating if needed) the database in `dataDir` and runs pending
 * migrations. Throws StoreError with a readable reason for an unwritable
 * folder, a corrupt file or a schema newer than this build.
 */
export const openDatabase = (dataDir: string): Database => {
  const path = databasePath(dataDir);
  if (path !== ":memory:") {
    try {
      mkdirSync(dataDir, { recursive: true });
      accessSync(dataDir, constants.W_OK | constants.R_OK);
    } catch (error) {
      throw new StoreError(`data directory ${dataDir} is not writable: ${(error as Error).message}`);
    }
  }
  let db: Database;
  try {
    db = new Database(path, { create: true, strict: true });
    db.exec(
      `PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}; PRAGMA foreign_keys = ON;` +
        // Checkpoint every ~40 MiB of WAL instead of 4 MiB: an automatic checkpoint runs inside a
        // message commit, on the event loop (p99 10.4 → 5.0 ms measured); stop() checkpoints fully.
        ` PRAGMA wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES};`,
    );
    migrate(db);
  } catch (error) {
    if (error instanceof StoreError) throw error;
    throw new StoreError(
      `cannot open the database ${path} (corrupt or not a SQLite file?): ${(error as Error).message}`,
    );
  }
  return db;
};

const migrate = (db: Database): void => {
  const { user_version: version } = db.query<{ user_version: number }, []>("PRAGMA user_version").get()!;
  if (version > MIGRATIONS.length)
    throw new StoreError(
      `the database schema is version ${version}, newer than this teahouse (${MIGRATIONS.length}); upgrade teahouse`,
    );
  for (let next = version; next < MIGRATIONS.length; next++) {
    const step = MIGRATIONS[next]!;
    db.transaction(() => {
      if (typeof step === "string") {
        db.exec(step);
      } else step(db);
      db.exec(`PRAGMA user_version = ${next + 1}`);
    })();
  }
};

/** How many ids the sequence reserves per database write. */
const ID_BLOCK = 1024;

/**
 * Frame and message ids: strictly increasing, never reused across restarts.
 * Ids are handed out from a block reserved in the database, so only one write
 * per ID_BLOCK ids; after a crash the unused rest of a block is skipped.
 */
export class IdSequence {
  private next: number;
  private reservedUpTo: number;
  private readonly save: (value: number) => void;

  /** `floor`: the highest id already used elsewhere (e.g. stored messages), as a safety net. */
  constructor(db: Database, floor = 0) {
    const row = db.query<{ value: number }, []>("SELECT value FROM meta WHERE key = 'id_reserved'").get();
    const upsert = db.query<unknown, [number]>(
      "INSERT INTO meta (key, value) VALUES ('id_reserved', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    );
    this.save = (value) => upsert.run(value);
    this.reservedUpTo = Math.max(row?.value ?? 0, floor);
    this.next = this.reservedUpTo + 1;
  }

  /** The next id. */
  take(): number {
    if (this.next > this.reservedUpTo) {
      this.reservedUpTo = this.next + ID_BLOCK - 1;
      this.save(this.reservedUpTo);
    }
    return this.next++;
  }
}

/**
 * Ids from blocks reserved in a shared store (PostgreSQL's `id_blocks` sequence): handed out without
 * a round trip; the next block is fetched when half of the current one is used, so `take` never
 * waits. A block is never handed out twice, also across restarts (the unused rest is skipped).
 */
export class BlockIds {
  private next = 0;
  private end = 0;
  private upcoming: number | undefined;
  private fetching = false;

  constructor(
    private readonly reserve: () => Promise<number>,
    private readonly size: number,
  ) {}

  async start(): Promise<void> {
    this.next = await this.reserve();
    this.end = this.next + this.size;
  }

  take(): number {
    if (this.next >= this.end) {
      if (this.upcoming === undefined) throw new Error("no ids reserved yet (the store is not reachable)");
      this.next = this.upcoming;
      this.end = this.next + this.size;
      this.upcoming = undefined;
    }
    if (this.upcoming === undefined && !this.fetching && this.end - this.next <= this.size / 2) this.prefetch();
    return this.next++;
  }

  private prefetch(): void {
    this.fetching = true;
    this.reserve().then(
      (start) => {
        this.upcoming = start;
        this.fetching = false;
      },
      () => {
        this.fetching = false;
      },
    );
  }
}
