/**
 * The SQLite store on its own: the id sequence, retention for every kind of
 * conversation, the upgrade of a DATA_DIR written by the previous release
 * (schema 3: sessions as users, frames as JSON), and the WAL's bound.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { IdSequence, openDatabase, databasePath } from "../src/store/db";
import { SINCE_DIRECT, SINCE_ROOM, SqliteStore, sinceSql } from "../src/store/sqlite";
import type { MessageChange, NewMessage } from "../src/ports/store";
import { nameKey } from "../src/domain/names";
import { UNREAD_COUNT_CAP } from "../src/domain/model";
import type { Store } from "../src/ports/store";
import { FRAME_ID_FLOOR, PostgresStore } from "../src/store/postgres";
import { SQL } from "bun";
import { BlockIds } from "../src/store/db";
import { TestPostgres } from "./postgres";

const postgres = new TestPostgres();
const opened: PostgresStore[] = [];
beforeAll(() => postgres.start());
afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
});
afterAll(() => postgres.dispose());

/** Both engines behind the one Store interface: each test gets a fresh, empty store. */
const engines: Array<[string, (maxPerConversation?: number, maxAgeMs?: number) => Promise<Store>]> = [
  ["SQLite", async (maxPerConversation = 0, maxAgeMs = 0) => open(":memory:", maxPerConversation, maxAgeMs)],
  [
    "PostgreSQL",
    async (maxPerConversation = 0, maxAgeMs = 0) => {
      const store = new PostgresStore(await postgres.database(), { retention: { maxPerConversation, maxAgeMs } });
      await store.start();
      opened.push(store);
      return store;
    },
  ],
];

const open = (dir = ":memory:", maxPerConversation = 0, maxAgeMs = 0, walMaxBytes = 40 * 1024 * 1024) =>
  new SqliteStore(openDatabase(dir), { retention: { maxPerConversation, maxAgeMs }, walMaxBytes });

const message = (id: number, conversationId: number, createdAt: number, senderId: number): NewMessage => ({
  id,
  conversationId,
  senderId,
  body: `m${id}`,
  cid: null,
  createdAt,
  replyTo: null,
  mentions: [],
});

/** Log positions for new messages and changes: counted here (SQLite), or 0 for the store to assign (PostgreSQL). */
const logPositions = (store: Store): (() => number) => {
  let next = 0;
  return store instanceof PostgresStore ? () => 0 : () => ++next;
};

const guest = (store: Store, name: string) =>
  store.createAccount({
    kind: "guest",
    name,
    nameKey: nameKey(name),
    image: 0,
    passwordHash: null,
    device: null,
    now: 1,
  });

const withDir = async (run: (dir: string) => Promise<void>) => {
  const dir = mkdtempSync(join(tmpdir(), "teahouse-store-"));
  try {
    await run(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

describe("id sequence", () => {
  test("never hands out an id twice, also across restarts that did not use up a block", async () => {
    await withDir(async (dir) => {
      const first = new IdSequence(openDatabase(dir));
      const a = [first.take(), first.take(), first.take()];
      const second = new IdSequence(openDatabase(dir));
      const b = second.take();
      expect(b).toBeGreaterThan(Math.max(...a));
      expect(new IdSequence(openDatabase(dir), 1_000_000).take()).toBe(1_000_001);
    });
  });
});

describe.each(engines)("%s store", (_engine, make) => {
  test("keeps at most N per conversation, direct ones included, and records how far it pruned", async () => {
    const store = await make(2);
    const alice = await guest(store, "alice");
    const bob = await guest(store, "bob");
    const { room: dev } = await store.createRoom("dev", nameKey("dev"), alice.id, 1);
    const direct = await store.direct(alice.id, bob.id, 1);
    await store.append([1, 2, 3, 4].map((id) => message(id, dev.id, id, alice.id)));
    await store.append([5, 6, 7].map((id) => message(id, direct.id, id, bob.id)));
    expect(await store.prune(10)).toBe(3);
    expect((await store.page(dev.id, 10, 100)).messages.map((m) => m.id)).toEqual([3, 4]);
    expect((await store.page(direct.id, 10, 100)).messages.map((m) => m.id)).toEqual([6, 7]);
    expect((await store.since(dev.id, 1, 100, 10)).complete).toBe(false);
    expect((await store.since(dev.id, 2, 100, 10)).complete).toBe(true);
    expect((await store.directSince(alice.id, 4, 100, 10)).complete).toBe(false);
    expect((await store.directSince(alice.id, 5, 100, 10)).messages.map((m) => m.id)).toEqual([6, 7]);
  });

  test("deletes messages older than the maximum age, direct ones included", async () => {
    const store = await make(0, 1000);
    const alice = await guest(store, "alice");
    const bob = await guest(store, "bob");
    const direct = await store.direct(alice.id, bob.id, 1);
    await store.append([message(1, 1, 100, alice.id), message(2, direct.id, 200, bob.id)]);
    await store.append([message(3, 1, 5000, alice.id), message(4, direct.id, 5000, alice.id)]);
    expect(await store.prune(5500)).toBe(2);
    expect((await store.page(1, 10, 100)).messages.map((m) => m.id)).toEqual([3]);
    expect((await store.directPage(bob.id, 10, 100)).messages.map((m) => m.id)).toEqual([4]);
    expect((await store.directSince(bob.id, 0, 100, 10)).complete).toBe(false);
  });

  test("mentions count until read; they go with their message when it is deleted or pruned, and so do reactions", async () => {
    const store = await make(2);
    const alice = await guest(store, "alice");
    const bob = await guest(store, "bob");
    const ids = logPositions(store);
    const mentioning = [1, 2, 3].map(() => ({ ...message(ids(), 1, 1, bob.id), mentions: [alice.id] }));
    await store.append(mentioning);
    const mentions = async () => (await store.memberships(alice.id)).find((m) => m.conversation.id === 1)!.mentions;
    expect(await mentions()).toBe(3);
    const [first, second] = mentioning.map((m) => m.id);
    const react = { seq: ids(), kind: "react", messageId: first!, actorId: alice.id, at: 2, emoji: "👍" } as const;
    const drop = { seq: ids(), kind: "delete", messageId: second!, actorId: bob.id, at: 2 } as const;
    const writes = [{ ...react }, { ...drop }] as MessageChange[];
    await store.append(writes);
    expect(writes.map((w) => w.applied)).toEqual([true, true]);
    expect(writes[0]!.message!.reactions).toEqual([
      { emoji: "👍", count: 1, users: [{ id: alice.id, name: "alice" }] },
    ]);
    expect(await mentions()).toBe(2);
    // Two kept per conversation: the oldest (reacted to, mentioning alice) goes, with its rows.
    await store.append([message(ids(), 1, 3, bob.id)]);
    await store.indexMessages(100);
    expect(await store.prune(10)).toBe(2);
    expect(await store.message(first!)).toBeUndefined();
    expect(await mentions()).toBe(1);
    if (store instanceof SqliteStore) {
      expect(store.db.query("SELECT count(*) AS n FROM reactions").get()).toEqual({ n: 0 });
      // The search index lets go of them too (the rest stays indexed).
      const indexed = store.db.query<{ id: number }, []>("SELECT rowid AS id FROM message_index ORDER BY rowid").all();
      expect(indexed.map((row) => row.id)).not.toContain(first!);
      expect(indexed.length).toBe(2);
    }
  });

  test("a message keeps the count of each reaction and its first 50 accounts, however many reacted", async () => {
    const store = await make();
    const author = await guest(store, "author");
    const ids = logPositions(store);
    const sent = message(ids(), 1, 1, author.id);
    await store.append([sent]);
    const reactors = [];
    for (let i = 0; i < 60; i++) reactors.push(await guest(store, `fan${i}`));
    const changes = reactors.map(
      (fan, i) =>
        ({ seq: ids(), kind: "react", messageId: sent.id, actorId: fan.id, at: 10 + i, emoji: "🎉" }) as MessageChange,
    );
    await store.append(changes);
    const [reaction] = changes.at(-1)!.message!.reactions;
    expect({ emoji: reaction!.emoji, count: reaction!.count, shown: reaction!.users.length }).toEqual({
      emoji: "🎉",
      count: 60,
      shown: 50,
    });
    expect(reaction!.users[0]).toEqual({ id: reactors[0]!.id, name: "fan0" });
    const stored = (await store.page(1, 10, Number.MAX_SAFE_INTEGER)).messages.find((m) => m.id === sent.id)!;
    expect(stored.reactions[0]!.count).toBe(60);
  });

  test("unread counts others' messages after the position; it only moves forward, never past the end", async () => {
    const store = await make();
    const alice = await guest(store, "alice");
    const bob = await guest(store, "bob");
    await store.append([message(1, 1, 1, alice.id), message(2, 1, 2, bob.id), message(3, 1, 3, bob.id)]);
    const lobby = (await store.memberships(alice.id)).find((m) => m.conversation.name === "lobby")!;
    expect({ unread: lobby.unread, last: lobby.lastId }).toEqual({ unread: 2, last: 3 });
    expect(await store.markRead(alice.id, 1, 2)).toEqual({ readUpTo: 2, unread: 1, mentions: 0 });
    expect(await store.markRead(alice.id, 1, 1)).toEqual({ readUpTo: 2, unread: 1, mentions: 0 });
    expect(await store.markRead(alice.id, 1, 99)).toEqual({ readUpTo: 3, unread: 0, mentions: 0 });
    expect(await store.markRead(alice.id, 12345, 1)).toBeUndefined();
    // Counting stops at the cap (the page shows 99+): an open never counts thousands of rows per room.
    const many = Array.from({ length: UNREAD_COUNT_CAP + 50 }, (_, i) => message(10 + i, 1, 10 + i, bob.id));
    await store.append(store instanceof PostgresStore ? many.map((m) => ({ ...m, id: 0 })) : many);
    const capped = (await store.memberships(alice.id)).find((m) => m.conversation.name === "lobby")!;
    expect(capped.unread).toBe(UNREAD_COUNT_CAP);
  });
});

describe.each(engines)("%s store: accounts, sessions and rooms", (_engine, make) => {
  test("a name key belongs to one account; releasing it lets another take it, in one step", async () => {
    const store = await make();
    const alice = await guest(store, "alice");
    await expect(guest(store, "alice")).rejects.toThrow();
    const other = await store.createAccount(
      { kind: "guest", name: "alice", nameKey: nameKey("alice"), image: 1, passwordHash: null, device: "d2", now: 2 },
      alice.id,
    );
    expect((await store.accountByKey(nameKey("alice")))?.id).toBe(other.id);
    expect((await store.account(alice.id))?.nameKey).toBeNull();
    const renamed = await store.updateAccount(alice.id, { name: "alice2", nameKey: nameKey("alice2"), kind: "member" });
    expect(renamed).toMatchObject({ id: alice.id, name: "alice2", kind: "member" });
  });

  test("sessions: created, ended one by one or all at once, swept when idle", async () => {
    const store = await make();
    const alice = await guest(store, "alice");
    const [a, b, c] = [
      await store.createSession(alice.id, 10),
      await store.createSession(alice.id, 20),
      await store.createSession(alice.id, 30),
    ];
    expect((await store.session(a.sid))?.accountId).toBe(alice.id);
    await store.endSession(a.sid);
    expect(await store.session(a.sid)).toBeUndefined();
    await store.touchSessions([b.sid], 40); // b has a socket open: renewed, so not swept
    await store.touchSessions([], 50);
    expect((await store.sweepSessions(35)).map((s) => s.sid)).toEqual([c.sid]);
    expect(await store.endSessions(alice.id)).toEqual([b.sid]);
    expect(await store.session(b.sid)).toBeUndefined();
  });

  test("rooms: one per key; memberships, listing by members; a direct conversation is found again", async () => {
    const store = await make();
    const alice = await guest(store, "alice");
    const bob = await guest(store, "bob");
    const first = await store.createRoom("Dev", nameKey("Dev"), alice.id, 1);
    const again = await store.createRoom("dev", nameKey("dev"), bob.id, 2);
    expect(first.created).toBe(true);
    expect(again).toEqual({ room: first.room, created: false });
    expect(await store.join(bob.id, first.room.id, 3)).toBe(true);
    expect(await store.join(bob.id, first.room.id, 3)).toBe(false);
    expect(await store.listRooms(10)).toEqual([
      { name: "lobby", members: 2 },
      { name: "Dev", members: 2 },
    ]);
    expect(await store.leave(alice.id, first.room.id)).toBe(true);
    const direct = await store.direct(bob.id, alice.id, 4);
    expect(await store.direct(alice.id, bob.id, 5)).toEqual(direct);
    expect((await store.memberships(alice.id)).map((m) => m.conversation.kind)).toEqual(["room", "direct"]);
  });
});

/** The schema of the previous release (versions 1–3), as it wrote it, with data as it stored it. */
const writePreviousRelease = (dir: string): void => {
  const db = new Database(databasePath(dir), { create: true });
  db.exec("PRAGMA journal_mode = WAL;");
  db.exec(`CREATE TABLE sessions (
     user_id INTEGER PRIMARY KEY AUTOINCREMENT, sid TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
     name_key TEXT NOT NULL, image INTEGER NOT NULL, created_at INTEGER NOT NULL, last_seen INTEGER NOT NULL);
   CREATE INDEX sessions_last_seen ON sessions(last_seen);
   CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
   CREATE TABLE rooms (name TEXT PRIMARY KEY, created_at INTEGER NOT NULL, pruned_up_to INTEGER NOT NULL DEFAULT 0);
   INSERT INTO rooms (name, created_at) VALUES ('lobby', 0);
   CREATE TABLE messages (id INTEGER PRIMARY KEY, room TEXT, sender_id INTEGER NOT NULL, to_id INTEGER,
     cid TEXT, ts INTEGER NOT NULL, frame TEXT NOT NULL);
   CREATE INDEX messages_room ON messages(room, id) WHERE room IS NOT NULL;
   CREATE INDEX messages_sender ON messages(sender_id, id) WHERE room IS NULL;
   CREATE INDEX messages_to ON messages(to_id, id) WHERE room IS NULL;
   CREATE UNIQUE INDEX messages_cid ON messages(sender_id, cid) WHERE cid IS NOT NULL;
   PRAGMA user_version = 3;`);
  const now = Date.now();
  const user = (id: number, name: string) => ({ type: "guest", id, name, image: 3 });
  // alice (1) and bob (2) are signed in; carol (3) signed out long ago (no session row left).
  db.query("INSERT INTO sessions VALUES (1, 'sid-alice', 'alice', 'alice', 3, ?, ?)").run(now - 5000, now - 1000);
  db.query("INSERT INTO sessions VALUES (2, 'sid-bob', 'bob', 'bob', 3, ?, ?)").run(now - 5000, now - 1000);
  db.query("INSERT INTO rooms VALUES ('dev', 10, 0)").run();
  db.query("INSERT INTO rooms VALUES ('empty', 11, 0)").run();
  const insert = db.query("INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?)");
  const chat = (id: number, room: string, from: { id: number; name: string }, text: string, cid: string | null) =>
    insert.run(
      id,
      room,
      from.id,
      null,
      cid,
      now - 4000 + id,
      JSON.stringify({
        id,
        type: "chat",
        user: user(from.id, from.name),
        data: text,
        room,
        ts: now - 4000 + id,
        ...(cid ? { cid } : {}),
      }),
    );
  const priv = (id: number, from: { id: number; name: string }, to: number, text: string) =>
    insert.run(
      id,
      null,
      from.id,
      to,
      null,
      now - 4000 + id,
      JSON.stringify({ id, type: "private", user: user(from.id, from.name), data: text, to, ts: now - 4000 + id }),
    );
  chat(10, "lobby", { id: 1, name: "alice" }, "hello lobby", "c-1");
  chat(11, "lobby", { id: 3, name: "carol" }, "carol was here", null);
  chat(12, "dev", { id: 2, name: "bob" }, "dev talk", null);
  chat(15, "dev", { id: 1, name: "alice" }, "alice answers in dev", null);
  priv(13, { id: 1, name: "alice" }, 2, "psst bob");
  priv(14, { id: 2, name: "bob" }, 1, "hi alice");
  db.query("INSERT INTO meta VALUES ('id_reserved', 1024)").run();
  db.query("UPDATE sqlite_sequence SET seq = 5 WHERE name = 'sessions'").run();
  db.close();
};

describe("upgrading a DATA_DIR of the previous release", () => {
  test("every message, session, account and room is kept, migrated in place", async () => {
    await withDir(async (dir) => {
      writePreviousRelease(dir);
      const store = open(dir);
      // Sessions still sign in, as the same ids.
      expect((await store.session("sid-alice"))?.accountId).toBe(1);
      expect((await store.session("sid-bob"))?.accountId).toBe(2);
      expect(await store.account(1)).toMatchObject({ kind: "guest", name: "alice", nameKey: nameKey("alice") });
      // carol's session ended: her account keeps her messages, her name is free.
      expect(await store.account(3)).toMatchObject({ name: "carol", nameKey: null });
      // Rooms, with their history as records.
      const lobby = (await store.page(1, 10, 1000)).messages;
      expect(lobby.map((m) => [m.id, m.sender.name, m.body, m.cid])).toEqual([
        [10, "alice", "hello lobby", "c-1"],
        [11, "carol", "carol was here", null],
      ]);
      const dev = (await store.room(nameKey("dev")))!;
      expect((await store.page(dev.id, 10, 1000)).messages.map((m) => m.body)).toEqual([
        "dev talk",
        "alice answers in dev",
      ]);
      expect(await store.room(nameKey("empty"))).toBeDefined();
      // Private messages are one direct conversation of both users.
      expect((await store.directPage(1, 10, 1000)).messages.map((m) => m.body)).toEqual(["psst bob", "hi alice"]);
      expect((await store.directPage(2, 10, 1000)).messages.map((m) => m.body)).toEqual(["psst bob", "hi alice"]);
      // Memberships: the signed-in accounts are in the lobby, bob in dev; nothing migrated is unread.
      const bobs = await store.memberships(2);
      expect(bobs.map((m) => m.conversation.name ?? "direct")).toEqual(["lobby", "dev", "direct"]);
      expect(bobs.every((m) => m.unread === 0)).toBe(true);
      // Rooms count their members (schema 5), as the memberships say.
      const counted = (id: number) =>
        store.db
          .query<{ n: number }, [number]>("SELECT count(*) AS n FROM memberships WHERE conversation_id = ?")
          .get(id)!.n;
      const listed = new Map((await store.listRooms(10)).map((room) => [room.name, room.members]));
      expect(listed.get("lobby")).toBe(counted(1));
      expect(listed.get("dev")).toBe(counted(dev.id));
      expect(listed.get("dev")).toBeGreaterThan(0);
      // The cid of a stored message still de-duplicates, and no id is reused.
      expect(await store.findByCid(1, "c-1")).toBe(10);
      const fresh = await guest(store, "dave");
      expect(fresh.id).toBeGreaterThan(5);
      expect(store.lastMessageIdNow()).toBe(15);
      // Messages stored before changes existed (schema 6) can be edited and reacted to; each change
      // takes a log position above every id, and the log reads it back there.
      const edit = {
        seq: 1100,
        kind: "edit",
        messageId: 10,
        actorId: 1,
        at: Date.now(),
        body: "hello, lobby",
        mentions: [],
      };
      const react = { seq: 1101, kind: "react", messageId: 11, actorId: 2, at: Date.now(), emoji: "👍" };
      await store.append([edit as MessageChange, react as MessageChange]);
      expect([edit, react].map((change) => (change as MessageChange).applied)).toEqual([true, true]);
      expect(store.lastMessageIdNow()).toBe(1101);
      const changed = (await store.page(1, 10, 1000)).messages;
      expect(changed.map((m) => [m.body, m.editedAt !== null, m.reactions.map((r) => r.emoji)])).toEqual([
        ["hello, lobby", true, []],
        ["carol was here", false, ["👍"]],
      ]);
      const { entries } = await store.log(15, 1101, 10);
      expect(entries.map((entry) => [entry.seq, entry.change, entry.message.id])).toEqual([
        [1100, "edit", 10],
        [1101, "react", 11],
      ]);
      await store.close();
      // Reopening is a no-op: the same data, the same epoch.
      const again = open(dir);
      expect((await again.page(1, 10, 1000)).messages.length).toBe(2);
      expect(again.lastMessageIdNow()).toBe(1101);
      await again.close();
    });
  });
});

describe("PostgreSQL", () => {
  test("several instances starting at once on an empty database migrate it once, under the lock", async () => {
    const url = await postgres.database();
    const stores = Array.from(
      { length: 4 },
      () => new PostgresStore(url, { retention: { maxPerConversation: 0, maxAgeMs: 0 } }),
    );
    await Promise.all(stores.map((store) => store.start()));
    expect(new Set(stores.map((store) => store.epoch)).size).toBe(1);
    // Id blocks never overlap between instances.
    const ids = await Promise.all(
      stores.map(async (store) => {
        const blocks = new BlockIds(() => store.reserveIds(), 1_000_000);
        await blocks.start();
        return blocks.take();
      }),
    );
    expect(new Set(ids).size).toBe(4);
    await Promise.all(stores.map((store) => store.close()));
    // A later start finds the schema and the epoch as they were.
    const later = new PostgresStore(url, { retention: { maxPerConversation: 0, maxAgeMs: 0 } });
    await later.start();
    expect(later.epoch).toBe(stores[0]!.epoch);
    await later.close();
  });

  test("instances committing at once get gapless ids in commit order; the log reads them back with their conversations", async () => {
    const url = await postgres.database();
    const stores = Array.from(
      { length: 3 },
      () => new PostgresStore(url, { retention: { maxPerConversation: 0, maxAgeMs: 0 } }),
    );
    await Promise.all(stores.map((store) => store.start()));
    const sender = await guest(stores[0]!, "ann");
    const batches = stores.flatMap((store, i) =>
      Array.from({ length: 5 }, (_, j) => ({
        store,
        messages: [0, 1, 2].map((k) => ({ ...message(0, 1, 1000, sender.id), body: `${i}.${j}.${k}` })),
      })),
    );
    await Promise.all(batches.map(({ store, messages }) => store.append(messages)));
    const ids = batches.flatMap(({ messages }) => messages.map((m) => m.id)).sort((x, y) => x - y);
    expect(ids).toEqual(Array.from({ length: 45 }, (_, i) => i + 1));
    // A batch's ids are consecutive: a batch is one commit.
    for (const { messages } of batches) expect(messages.map((m) => m.id - messages[0]!.id)).toEqual([0, 1, 2]);
    expect(await stores[1]!.lastMessageId()).toBe(45);
    const { entries: log } = await stores[2]!.log(10, 20, 100);
    expect(log.map((entry) => entry.message.id)).toEqual(Array.from({ length: 10 }, (_, i) => i + 11));
    expect(log[0]!.conversation).toMatchObject({ id: 1, kind: "room", name: "lobby" });
    expect(log[0]!.message.sender.name).toBe("ann");
    await Promise.all(stores.map((store) => store.close()));
  });

  test("a database of the previous release (schema 1, ids from blocks) is upgraded in place: new ids continue above", async () => {
    const url = await postgres.database();
    const store = new PostgresStore(url, { retention: { maxPerConversation: 0, maxAgeMs: 0 } });
    await store.start();
    const sender = await guest(store, "ann");
    await store.close();
    // What the previous release left: schema 1, no head row, message ids from blocks of a million.
    const sql = new SQL(url);
    await sql.unsafe(`DROP TABLE bans, ban_addresses, audit, reports, invites, password_resets, mutes, removals;
      ALTER TABLE accounts DROP COLUMN role; ALTER TABLE conversations DROP COLUMN topic, DROP COLUMN private,
        DROP COLUMN slow_seconds; ALTER TABLE memberships DROP COLUMN moderator;
      DROP TABLE push_subscriptions; ALTER TABLE memberships DROP COLUMN notify; DROP TABLE message_index; DELETE FROM settings WHERE key = 'search_indexed';
      DROP TABLE mentions; DROP TABLE reactions; DROP INDEX messages_changes; DROP INDEX messages_revs;
      ALTER TABLE messages DROP COLUMN reply_to, DROP COLUMN mentions, DROP COLUMN reactions, DROP COLUMN rev,
        DROP COLUMN change, DROP COLUMN file_hash, DROP COLUMN file_name, DROP COLUMN file_type,
        DROP COLUMN file_size, DROP COLUMN file_width, DROP COLUMN file_height;
      DROP TABLE blobs;
      DROP TRIGGER memberships_counted ON memberships; DROP FUNCTION count_members();
      DROP INDEX conversations_by_members; ALTER TABLE conversations DROP COLUMN members;
      DROP TABLE log_head; UPDATE schema_version SET version = 1; ALTER SEQUENCE id_blocks RESTART WITH 2000001;
      INSERT INTO messages (id, conversation_id, sender_id, body, created_at) VALUES
        (5, 1, ${sender.id}, 'old', 1), (1000003, 1, ${sender.id}, 'older block', 2)`);
    await sql.close();
    const upgraded = new PostgresStore(url, { retention: { maxPerConversation: 0, maxAgeMs: 0 } });
    await upgraded.start();
    opened.push(upgraded);
    expect(await upgraded.lastMessageId()).toBe(1000003);
    const next = { ...message(0, 1, 3, sender.id), body: "new" };
    await upgraded.append([next]);
    expect(next.id).toBe(1000004);
    expect((await upgraded.page(1, 10, Number.MAX_SAFE_INTEGER)).messages.map((m) => m.body)).toEqual([
      "old",
      "older block",
      "new",
    ]);
    // Frame ids now come from above every message id.
    expect(await upgraded.reserveIds()).toBe(FRAME_ID_FLOOR);
  });
});

describe.each(engines)("%s store: the log", (_engine, make) => {
  test("reads every conversation's messages in id order, with the conversation, within (after, upTo]", async () => {
    const store = await make();
    const ann = await guest(store, "ann");
    const ben = await guest(store, "ben");
    const direct = await store.direct(ann.id, ben.id, 1);
    // SQLite takes the ids given; PostgreSQL assigns them (0) in commit order: 1 to 4 on a fresh database.
    const postgresAssigns = store instanceof PostgresStore;
    await store.append(
      [1, 2, 3, 4].map((id) => ({
        ...message(id, id % 2 ? 1 : direct.id, id, ann.id),
        ...(postgresAssigns ? { id: 0 } : {}),
      })),
    );
    const { entries: log } = await store.log(1, 4, 10);
    expect(log.map((entry) => entry.message.id)).toEqual([2, 3, 4]);
    expect(log.map((entry) => entry.conversation.kind)).toEqual(["direct", "room", "direct"]);
    expect(log[0]!.conversation.pair).toEqual([ann.id, ben.id].sort((x, y) => x - y) as [number, number]);
    expect((await store.log(0, 4, 2)).entries.map((entry) => entry.message.id)).toEqual([1, 2]);
  });
});

describe("SQLite: a resume reads what changed, not the history before it", () => {
  test("older messages are found by their change, and direct conversations from the account's memberships", async () => {
    const store = open();
    const ann = await guest(store, "ann");
    const ben = await guest(store, "ben");
    await store.direct(ann.id, ben.id, 1);
    store.appendNow(Array.from({ length: 2000 }, (_, i) => message(i + 1, 1, i + 1, ann.id)));
    const edit = { seq: 2001, kind: "edit", messageId: 10, actorId: ann.id, at: 2001, body: "again", mentions: [] };
    store.appendNow([edit as MessageChange]);
    // Behaviour: after 1,990, the ten newer messages and the older one edited since.
    const gap = await store.since(1, 1990, 2001, 100);
    expect(gap.messages.map((m) => m.id)).toEqual([10, ...Array.from({ length: 10 }, (_, i) => 1991 + i)]);
    expect((await store.since(1, 2001, 2001, 100)).messages).toEqual([]);
    // The plans: the changed side by messages_changes (the id index would walk all 2,000 before the
    // position, at every resume), the direct conversations from memberships' primary key (not every
    // direct conversation of the server).
    const plan = (where: string) =>
      store.db
        .query<{ detail: string }, number[]>(`EXPLAIN QUERY PLAN ${sinceSql(where)}`)
        .all(ann.id, 1990, 2001, 100)
        .map((row) => row.detail);
    const room = plan(SINCE_ROOM);
    expect(room.filter((line) => line.includes("SEARCH m "))).toEqual([
      "SEARCH m USING INDEX messages_conversation (conversation_id=? AND id>? AND id<?)",
      "SEARCH m USING INDEX messages_changes (conversation_id=? AND rev>?)",
    ]);
    const direct = plan(SINCE_DIRECT);
    expect(direct.some((line) => line.includes("conversations_by_members"))).toBe(false);
    expect(direct.filter((line) => line.startsWith("SEARCH ms "))).toEqual([
      "SEARCH ms USING PRIMARY KEY (account_id=?)",
      "SEARCH ms USING PRIMARY KEY (account_id=?)",
    ]);
  });
});

describe("SQLite: client ids", () => {
  test("indexed by id first: a batch from 30 senders with the page's time-first ids writes a few pages, not one per sender", async () => {
    await withDir(async (dir) => {
      const store = open(dir);
      const columns = store.db
        .query<{ name: string }, []>("PRAGMA index_info('messages_cid')")
        .all()
        .map((row) => row.name);
      expect(columns).toEqual(["cid", "sender_id"]);
      const senders: Array<{ id: number }> = [];
      for (let i = 0; i < 30; i++) senders.push(await guest(store, `sender${i}`));
      // 12,000 earlier messages spread the senders over many index pages; then one batch of 30.
      let id = 0;
      const cidOf = (n: number) => `${(1_700_000_000_000 + n).toString(36).padStart(9, "0")}${"ab".repeat(12)}`;
      const batch = () => senders.map((sender) => ({ ...message(++id, 1, id, sender.id), cid: cidOf(id) }));
      for (let i = 0; i < 400; i++) store.appendNow(batch());
      store.db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
      store.appendNow(batch());
      const walPages = statSync(join(dir, "teahouse.sqlite-wal")).size / 4120;
      expect(walPages).toBeLessThan(12);
      // A resend is found by its sender and id; the same id from another sender is not it.
      expect(await store.findByCid(senders[3]!.id, cidOf(id - 26))).toBe(id - 26);
      expect(await store.findByCid(senders[4]!.id, cidOf(id - 26))).toBeUndefined();
      await store.close();
    });
  });
});

describe("the WAL stays bounded", () => {
  test("thousands of sign-in writes (sessions, accounts) keep the WAL under WAL_MAX_MB", async () => {
    await withDir(async (dir) => {
      const bound = 1024 * 1024;
      const store = open(dir, 0, 0, bound);
      let largest = 0;
      for (let i = 0; i < 6000; i++) {
        const account = await guest(store, `user${i}`);
        await store.createSession(account.id, Date.now());
        if (i % 200 === 0) {
          store.maintain();
          largest = Math.max(largest, store.walBytes());
        }
      }
      store.maintain();
      expect(largest).toBeGreaterThan(0);
      // Between two checks at most 200 sign-ins are written (well under 1 MiB): the WAL never passes the bound by more.
      expect(largest).toBeLessThan(bound + 512 * 1024);
      expect(statSync(`${databasePath(dir)}-wal`).size).toBeLessThanOrEqual(bound);
      await store.close();
    });
  });
});
