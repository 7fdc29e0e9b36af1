/**
 * Schema step 4, moving the data of the previous release in place (one
 * transaction, run by db.ts): sessions become accounts (same id) with their
 * sessions; rooms become conversations; private messages become direct
 * conversations of their two users; each stored frame becomes a record (body,
 * sender, time, cid). A message whose sender's session had ended keeps that
 * sender as a guest account whose name is released. Accounts with a session
 * are members of the lobby; senders are members of the rooms they wrote in and
 * both sides of a direct conversation are its members, each with everything
 * read (nothing migrated counts as unread).
 */
import type { Database } from "bun:sqlite";
import { nameKey } from "../domain/names";

interface OldSession {
  user_id: number;
  sid: string;
  name: string;
  image: number;
  created_at: number;
  last_seen: number;
}
interface OldMessage {
  id: number;
  room: string | null;
  sender_id: number;
  to_id: number | null;
  cid: string | null;
  ts: number;
  frame: string;
}

export const SCHEMA_V4 = `
  CREATE TABLE accounts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    kind          TEXT NOT NULL CHECK (kind IN ('guest', 'member')),
    name          TEXT NOT NULL,
    name_key      TEXT UNIQUE,
    image         INTEGER NOT NULL,
    password_hash TEXT,
    device        TEXT,
    created_at    INTEGER NOT NULL,
    last_active   INTEGER NOT NULL
  );
  CREATE TABLE sessions (
    sid        TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    created_at INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX sessions_account ON sessions(account_id);
  CREATE INDEX sessions_last_seen ON sessions(last_seen);
  CREATE TABLE conversations (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    kind         TEXT NOT NULL CHECK (kind IN ('room', 'direct')),
    name         TEXT,
    name_key     TEXT UNIQUE,
    a_id         INTEGER,
    b_id         INTEGER,
    created_by   INTEGER,
    created_at   INTEGER NOT NULL,
    pruned_up_to INTEGER NOT NULL DEFAULT 0
  );
  CREATE UNIQUE INDEX conversations_pair ON conversations(a_id, b_id) WHERE kind = 'direct';
  CREATE TABLE memberships (
    account_id      INTEGER NOT NULL REFERENCES accounts(id),
    conversation_id INTEGER NOT NULL REFERENCES conversations(id),
    joined_at       INTEGER NOT NULL,
    read_up_to      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, conversation_id)
  ) WITHOUT ROWID;
  CREATE INDEX memberships_conversation ON memberships(conversation_id);
  CREATE TABLE messages (
    id              INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL,
    sender_id       INTEGER NOT NULL,
    body            TEXT NOT NULL,
    cid             TEXT,
    created_at      INTEGER NOT NULL,
    edited_at       INTEGER,
    deleted_at      INTEGER
  );
  CREATE INDEX messages_conversation ON messages(conversation_id, id);
  CREATE UNIQUE INDEX messages_cid ON messages(sender_id, cid) WHERE cid IS NOT NULL;
  CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
`;

/** The lobby is conversation 1 of every database. */
export const LOBBY_ID = 1;

export const migrateToRecords = (db: Database): void => {
  db.exec(`ALTER TABLE sessions RENAME TO old_sessions;
           ALTER TABLE messages RENAME TO old_messages;
           ALTER TABLE rooms RENAME TO old_rooms;
           DROP INDEX IF EXISTS sessions_last_seen;
           DROP INDEX IF EXISTS messages_room; DROP INDEX IF EXISTS messages_sender;
           DROP INDEX IF EXISTS messages_to; DROP INDEX IF EXISTS messages_cid;`);
  db.exec(SCHEMA_V4);
  db.query("INSERT INTO conversations (id, kind, name, name_key, created_at) VALUES (?, 'room', 'lobby', ?, 0)").run(
    LOBBY_ID,
    nameKey("lobby"),
  );

  const takenKeys = new Set<string>();
  const insertAccount = db.query<unknown, [number, string, string | null, number, number, number]>(
    "INSERT INTO accounts (id, kind, name, name_key, image, created_at, last_active) VALUES (?, 'guest', ?, ?, ?, ?, ?)",
  );
  const accounts = new Set<number>();
  for (const row of db
    .query<OldSession, []>("SELECT user_id, sid, name, image, created_at, last_seen FROM old_sessions")
    .all()) {
    const key = nameKey(row.name);
    // Two old names may collide under the stricter key: the first keeps it, the other's is released.
    const kept = takenKeys.has(key) ? null : key;
    if (kept) takenKeys.add(kept);
    insertAccount.run(row.user_id, row.name, kept, row.image, row.created_at, row.last_seen);
    accounts.add(row.user_id);
    db.query("INSERT INTO sessions (sid, account_id, created_at, last_seen) VALUES (?, ?, ?, ?)").run(
      row.sid,
      row.user_id,
      row.created_at,
      row.last_seen,
    );
  }

  const rooms = new Map<string, number>([["lobby", LOBBY_ID]]);
  const roomKeys = new Set<string>([nameKey("lobby")]);
  const addRoom = (name: string, createdAt: number, prunedUpTo: number): number => {
    const known = rooms.get(name);
    if (known !== undefined) {
      db.query("UPDATE conversations SET pruned_up_to = max(pruned_up_to, ?) WHERE id = ?").run(prunedUpTo, known);
      return known;
    }
    const key = nameKey(name);
    const kept = roomKeys.has(key) ? null : key;
    if (kept) roomKeys.add(kept);
    const { lastInsertRowid } = db
      .query("INSERT INTO conversations (kind, name, name_key, created_at, pruned_up_to) VALUES ('room', ?, ?, ?, ?)")
      .run(name, kept, createdAt, prunedUpTo);
    rooms.set(name, Number(lastInsertRowid));
    return Number(lastInsertRowid);
  };
  for (const row of db
    .query<{ name: string; created_at: number; pruned_up_to: number }, []>(
      "SELECT name, created_at, pruned_up_to FROM old_rooms",
    )
    .all())
    addRoom(row.name, row.created_at, row.pruned_up_to);

  const privatePruned =
    db.query<{ value: number }, []>("SELECT value FROM meta WHERE key = 'private_pruned_up_to'").get()?.value ?? 0;
  const directs = new Map<string, number>();
  const direct = (a: number, b: number, at: number): number => {
    const [low, high] = a <= b ? [a, b] : [b, a];
    const key = `${low}:${high}`;
    const known = directs.get(key);
    if (known !== undefined) return known;
    const { lastInsertRowid } = db
      .query("INSERT INTO conversations (kind, a_id, b_id, created_at, pruned_up_to) VALUES ('direct', ?, ?, ?, ?)")
      .run(low, high, at, privatePruned);
    directs.set(key, Number(lastInsertRowid));
    return Number(lastInsertRowid);
  };

  const insertMessage = db.query<unknown, [number, number, number, string, string | null, number]>(
    "INSERT INTO messages (id, conversation_id, sender_id, body, cid, created_at) VALUES (?, ?, ?, ?, ?, ?)",
  );
  const member = db.query<unknown, [number, number, number, number]>(
    `INSERT INTO memberships (account_id, conversation_id, joined_at, read_up_to) VALUES (?, ?, ?, ?)
     ON CONFLICT DO UPDATE SET read_up_to = max(read_up_to, excluded.read_up_to)`,
  );
  const ensureAccount = (id: number, user: { name?: unknown; image?: unknown } | undefined, at: number): void => {
    if (accounts.has(id)) return;
    accounts.add(id);
    const name = typeof user?.name === "string" && user.name.length > 0 ? user.name : `#${id}`;
    const image = typeof user?.image === "number" ? user.image : 0;
    // The session ended long ago: the account keeps its history, its name is free for others.
    insertAccount.run(id, name, null, image, at, at);
  };
  // Iterated, not loaded: a large history must not have to fit in memory twice.
  for (const row of db
    .query<OldMessage, []>("SELECT id, room, sender_id, to_id, cid, ts, frame FROM old_messages ORDER BY id")
    .iterate()) {
    let frame: { data?: unknown; user?: { name?: unknown; image?: unknown } } = {};
    try {
      frame = JSON.parse(row.frame) as typeof frame;
    } catch {
      // An unreadable frame keeps its place with an empty body rather than stopping the upgrade.
    }
    const body = typeof frame.data === "string" ? frame.data : "";
    ensureAccount(row.sender_id, frame.user, row.ts);
    let conversation: number;
    if (row.room !== null) {
      conversation = addRoom(row.room, row.ts, 0);
      member.run(row.sender_id, conversation, row.ts, row.id);
    } else {
      const to = row.to_id ?? row.sender_id;
      ensureAccount(to, undefined, row.ts);
      conversation = direct(row.sender_id, to, row.ts);
      member.run(row.sender_id, conversation, row.ts, row.id);
      member.run(to, conversation, row.ts, row.id);
    }
    insertMessage.run(row.id, conversation, row.sender_id, body, row.cid, row.ts);
  }
  // Accounts signed in now are in the lobby, with its history read.
  const lobbyLast =
    db
      .query<{ id: number | null }, [number]>("SELECT max(id) AS id FROM messages WHERE conversation_id = ?")
      .get(LOBBY_ID)?.id ?? 0;
  for (const id of db.query<{ account_id: number }, []>("SELECT DISTINCT account_id FROM sessions").all())
    member.run(id.account_id, LOBBY_ID, Date.now(), lobbyLast);
  // Nothing migrated counts as unread: every member has read up to the last message of each conversation.
  db.exec(`UPDATE memberships SET read_up_to = (SELECT coalesce(max(id), 0) FROM messages
           WHERE conversation_id = memberships.conversation_id)`);
  // Old user ids must stay unused: the account sequence starts above every one of them.
  const maxUser =
    db.query<{ seq: number }, []>("SELECT seq FROM sqlite_sequence WHERE name = 'old_sessions'").get()?.seq ?? 0;
  if (maxUser > 0) {
    db.query("DELETE FROM sqlite_sequence WHERE name = 'accounts'").run();
    let highest = maxUser;
    for (const id of accounts) highest = Math.max(highest, id);
    db.query("INSERT INTO sqlite_sequence (name, seq) VALUES ('accounts', ?)").run(highest);
  }
  db.exec("DROP TABLE old_sessions; DROP TABLE old_messages; DROP TABLE old_rooms;");
  db.query("DELETE FROM meta WHERE key = 'private_pruned_up_to'").run();
};
