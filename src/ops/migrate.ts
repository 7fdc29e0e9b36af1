/**
 * `teahouse migrate --to postgres://…`: copies a DATA_DIR (the SQLite store)
 * into a PostgreSQL database, for a server that outgrows one box. Every table
 * is copied with its ids (accounts, sessions, conversations, memberships,
 * messages with their files' records, and the log's epoch, so clients resume
 * across the move; the files' bytes stay in DATA_DIR/files); rows
 * already there are skipped, so an interrupted copy is resumed by running the
 * same command again. It ends by counting and checksumming every table on
 * both sides and prints one line per table; the exit code is 0 only when they
 * all match. Stop the server first: the copy is of a store nobody writes to.
 */
import { SQL } from "bun";
import type { Database } from "bun:sqlite";
import { openDatabase } from "../store/db";
import { PostgresStore } from "../store/postgres";

interface Table {
  name: string;
  /** Columns in copy order; the first ones (`key`) order the rows. */
  columns: string[];
  key: string[];
  /** Columns PostgreSQL stores as bigint: read back as numbers. */
  bigint: string[];
  /** The conflict target that makes a second copy of a row a no-op. */
  conflict: string;
  /** Columns SQLite stores as 0/1 and PostgreSQL as boolean. */
  boolean?: string[];
}

const TABLES: readonly Table[] = [
  {
    name: "accounts",
    columns: [
      "id",
      "kind",
      "name",
      "name_key",
      "image",
      "password_hash",
      "device",
      "created_at",
      "last_active",
      "role",
    ],
    key: ["id"],
    bigint: ["created_at", "last_active"],
    conflict: "(id)",
  },
  {
    name: "sessions",
    columns: ["sid", "account_id", "created_at", "last_seen"],
    key: ["sid"],
    bigint: ["created_at", "last_seen"],
    conflict: "(sid)",
  },
  {
    name: "conversations",
    columns: [
      "id",
      "kind",
      "name",
      "name_key",
      "a_id",
      "b_id",
      "created_by",
      "created_at",
      "pruned_up_to",
      "topic",
      "private",
      "slow_seconds",
    ],
    key: ["id"],
    bigint: ["created_at", "pruned_up_to"],
    conflict: "(id)",
    boolean: ["private"],
  },
  {
    name: "memberships",
    columns: ["account_id", "conversation_id", "joined_at", "read_up_to", "notify", "moderator"],
    key: ["account_id", "conversation_id"],
    bigint: ["joined_at", "read_up_to"],
    conflict: "(account_id, conversation_id)",
    boolean: ["moderator"],
  },
  {
    name: "messages",
    columns: [
      "id",
      "conversation_id",
      "sender_id",
      "body",
      "cid",
      "created_at",
      "edited_at",
      "deleted_at",
      "reply_to",
      "mentions",
      "reactions",
      "rev",
      "change",
      "file_hash",
      "file_name",
      "file_type",
      "file_size",
      "file_width",
      "file_height",
    ],
    key: ["id"],
    bigint: ["id", "created_at", "edited_at", "deleted_at", "reply_to", "rev", "file_size"],
    conflict: "(id)",
  },
  {
    // The files' records; their bytes stay where they are (DATA_DIR/files, or the bucket).
    name: "blobs",
    columns: ["hash", "size", "claimed_at"],
    key: ["hash"],
    bigint: ["size", "claimed_at"],
    conflict: "(hash)",
  },
  {
    name: "reactions",
    columns: ["message_id", "emoji", "account_id", "created_at"],
    key: ["message_id", "emoji", "account_id"],
    bigint: ["message_id", "created_at"],
    conflict: "(message_id, emoji, account_id)",
  },
  {
    name: "mentions",
    columns: ["account_id", "conversation_id", "message_id"],
    key: ["account_id", "conversation_id", "message_id"],
    bigint: ["message_id"],
    conflict: "(account_id, conversation_id, message_id)",
  },
  // Moderation and notifications (SQLite 9 and 11).
  {
    name: "push_subscriptions",
    columns: ["endpoint", "sid", "account_id", "p256dh", "auth", "created_at"],
    key: ["endpoint"],
    bigint: ["created_at"],
    conflict: "(endpoint)",
  },
  {
    name: "mutes",
    columns: ["conversation_id", "account_id", "until"],
    key: ["conversation_id", "account_id"],
    bigint: ["until"],
    conflict: "(conversation_id, account_id)",
  },
  {
    name: "removals",
    columns: ["conversation_id", "account_id", "at"],
    key: ["conversation_id", "account_id"],
    bigint: ["at"],
    conflict: "(conversation_id, account_id)",
  },
  {
    name: "bans",
    columns: ["account_id", "name_key", "device", "reason", "by_id", "created_at"],
    key: ["account_id"],
    bigint: ["created_at"],
    conflict: "(account_id)",
  },
  {
    name: "ban_addresses",
    columns: ["address", "account_id"],
    key: ["address", "account_id"],
    bigint: [],
    conflict: "(address, account_id)",
  },
  {
    name: "audit",
    columns: ["id", "at", "actor_id", "action", "account_id", "conversation_id", "message_id", "detail"],
    key: ["id"],
    bigint: ["id", "at", "message_id"],
    conflict: "(id)",
  },
  {
    name: "reports",
    columns: ["id", "message_id", "conversation_id", "reporter_id", "reason", "at", "resolved_by", "resolved_at"],
    key: ["id"],
    bigint: ["id", "message_id", "at", "resolved_at"],
    conflict: "(id)",
  },
  {
    name: "invites",
    columns: ["token", "conversation_id", "created_by", "created_at", "expires_at", "uses_left"],
    key: ["token"],
    bigint: ["created_at", "expires_at"],
    conflict: "(token)",
  },
  {
    name: "password_resets",
    columns: ["token_hash", "account_id", "expires_at"],
    key: ["token_hash"],
    bigint: ["expires_at"],
    conflict: "(token_hash)",
  },
];

/** Settings copied as they are (besides the epoch): the server's settings and the VAPID keys. */
const SETTINGS = ["server", "vapid"];

/** Rows read and written per round trip. */
const CHUNK = 1000;

type Row = Record<string, string | number | boolean | null>;

/** A SQLite row with its 0/1 columns as the booleans PostgreSQL keeps. */
const asBooleans = (table: Table, row: Row): Row => {
  for (const column of table.boolean ?? []) row[column] = row[column] === 1 || row[column] === true;
  return row;
};

/** A row as the checksum sees it: the same text whichever engine it came from. */
const canonical = (table: Table, row: Row): string =>
  JSON.stringify(table.columns.map((column) => (row[column] === undefined ? null : row[column])));

const pgSelect = (table: Table): string =>
  table.columns.map((column) => (table.bigint.includes(column) ? `${column}::float8 AS ${column}` : column)).join(", ");

export interface MigrateResult {
  ok: boolean;
  lines: string[];
}

export const migrateToPostgres = async (dataDir: string, url: string): Promise<MigrateResult> => {
  const db: Database = openDatabase(dataDir);
  const target = new PostgresStore(url, { retention: { maxPerConversation: 0, maxAgeMs: 0 } });
  await target.start();
  await target.close();
  const sql = new SQL(url, { max: 2 });
  const lines: string[] = [];
  try {
    const epoch = db.query<{ value: string }, []>("SELECT value FROM settings WHERE key = 'epoch'").get()?.value;
    const [targetEpoch] = await sql`SELECT value FROM settings WHERE key = 'epoch'`;
    const [{ n: targetAccounts }] = await sql`SELECT count(*)::int AS n FROM accounts`;
    if (epoch && targetEpoch && targetEpoch.value !== epoch && targetAccounts > 0)
      throw new Error("the target database already holds another teahouse's data; give an empty database");
    if (epoch)
      await sql`INSERT INTO settings (key, value) VALUES ('epoch', ${epoch})
                ON CONFLICT (key) DO UPDATE SET value = excluded.value`;

    // One pass over the source: each chunk is copied and goes into that table's checksum.
    const sources = new Map<string, { hash: string; count: number }>();
    for (const table of TABLES) {
      const order = table.key.join(", ");
      const select = db.query<Row, [number, number]>(
        `SELECT ${table.columns.join(", ")} FROM ${table.name} ORDER BY ${order} LIMIT ? OFFSET ?`,
      );
      const hash = new Bun.CryptoHasher("sha256");
      let count = 0;
      for (let offset = 0; ; offset += CHUNK) {
        const rows = select.all(CHUNK, offset).map((row) => asBooleans(table, row));
        if (rows.length === 0) break;
        await sql`INSERT INTO ${sql(table.name)} ${sql(rows, ...table.columns)} ON CONFLICT DO NOTHING`;
        for (const row of rows) hash.update(`${canonical(table, row)}\n`);
        count += rows.length;
      }
      sources.set(table.name, { hash: hash.digest("hex").slice(0, 16), count });
    }
    // The lobby exists in every new database: take the source's own row (its retention watermark).
    const lobby = db
      .query<{ created_at: number; pruned_up_to: number }, []>(
        "SELECT created_at, pruned_up_to FROM conversations WHERE id = 1",
      )
      .get();
    if (lobby)
      await sql`UPDATE conversations SET created_at = ${lobby.created_at}, pruned_up_to = ${lobby.pruned_up_to}
                WHERE id = 1`;
    for (const key of SETTINGS) {
      const value = db.query<{ value: string }, [string]>("SELECT value FROM settings WHERE key = ?").get(key)?.value;
      if (value !== undefined)
        await sql`INSERT INTO settings (key, value) VALUES (${key}, ${value})
                  ON CONFLICT (key) DO UPDATE SET value = excluded.value`;
    }
    // Generated ids and reserved id blocks continue above everything copied.
    for (const table of ["audit", "reports"])
      await sql.unsafe(
        `SELECT setval(pg_get_serial_sequence('${table}', 'id'), greatest((SELECT max(id) FROM ${table}), 1))`,
      );
    await sql`SELECT setval(pg_get_serial_sequence('accounts', 'id'), greatest((SELECT max(id) FROM accounts), 1))`;
    await sql`SELECT setval(pg_get_serial_sequence('conversations', 'id'), greatest((SELECT max(id) FROM conversations), 2))`;
    // New message ids continue above every id the source gave out (its frames' too: clients hold them).
    const reserved =
      db.query<{ value: number }, []>("SELECT value FROM meta WHERE key = 'id_reserved'").get()?.value ?? 0;
    const [{ top }] =
      await sql`SELECT greatest(coalesce(max(id), 0), coalesce(max(rev), 0))::float8 AS top FROM messages`;
    await sql`UPDATE log_head SET last = greatest(last, ${Math.max(reserved, top as number)})`;

    let ok = true;
    for (const table of TABLES) {
      const order = table.key.join(", ");
      const copy = new Bun.CryptoHasher("sha256");
      let copyCount = 0;
      for (let offset = 0; ; offset += CHUNK) {
        const rows = (await sql.unsafe(
          `SELECT ${pgSelect(table)} FROM ${table.name} ORDER BY ${order} LIMIT ${CHUNK} OFFSET ${offset}`,
        )) as Row[];
        if (rows.length === 0) break;
        for (const row of rows) copy.update(`${canonical(table, row)}\n`);
        copyCount += rows.length;
      }
      const { hash: a, count: sourceCount } = sources.get(table.name)!;
      const b = copy.digest("hex").slice(0, 16);
      const same = a === b && sourceCount === copyCount;
      ok &&= same;
      lines.push(
        `${table.name.padEnd(14)} ${String(sourceCount).padStart(9)} rows  sha256 ${a}  ${same ? "ok" : `DIFFERS: copy has ${copyCount} rows, sha256 ${b}`}`,
      );
    }
    return { ok, lines };
  } finally {
    await sql.close();
    db.close();
  }
};
