/**
 * `teahouse backup FILE` taken from a server that runs and writes, and `teahouse restore FILE` into
 * an empty DATA_DIR: the backup holds every message acknowledged before it started, a server on the
 * restored folder serves them (the same cookie still works: the secret comes along), uploaded files
 * come back byte for byte, and a restore never goes over existing data; the server's WAL upkeep does
 * not stall on a backup's snapshot.
 */
import { expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { cpSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import type { ServerFrameOf } from "../src/protocol";
import { BUSY_TIMEOUT_MS, databasePath, openDatabase } from "../src/store/db";
import { SqliteStore } from "../src/store/sqlite";
import { Client, signIn, within } from "./helpers";
import { cli, trackLeftovers } from "./cli";
import { png } from "./images";
import { spawnServer, stopProcess } from "./process";
import { download, upload } from "./uploads";

const { servers, clients, tempDir } = trackLeftovers("teahouse-backup-");

/** A steady stream is far over the default frame rates. */
const UNTHROTTLED = ["--rate-per-second", "10000", "--rate-burst", "10000"];
const UNTHROTTLED_USER = ["--user-rate-per-second", "10000", "--user-rate-burst", "10000"];

/** Every lobby message a socket is served, paging back from the newest (after the socket's first page). */
const lobbyHistory = async (client: Client): Promise<ServerFrameOf<"history">["data"]> => {
  await client.next("history", (f) => f.room === "lobby");
  const messages: ServerFrameOf<"history">["data"] = [];
  let before: number | undefined;
  for (;;) {
    client.send({ type: "history", limit: 500, ...(before ? { before } : {}) });
    const page = await client.next("history", (f) => f.room === "lobby");
    messages.unshift(...page.data);
    if (!page.more || page.data.length === 0) return messages;
    before = page.data[0]!.id;
  }
};

test("a backup during a message stream holds every acknowledged message; the restored folder serves them and the files", async () => {
  const dataDir = tempDir();
  const out = tempDir();
  const file = join(out, "teahouse.backup");
  const server = await spawnServer(["--data-dir", dataDir, ...UNTHROTTLED, ...UNTHROTTLED_USER]);
  servers.push(server);
  const alice = await signIn(server.base, "alice", { path: "/signup", password: "alice's password" });
  const image = png(7, 5);
  const document = crypto.getRandomValues(new Uint8Array(200_000));
  const posted = [
    (await upload(server, alice, "room=lobby", image, "small.png")).body.message!,
    (await upload(server, alice, "room=lobby", document, "data.bin")).body.message!,
  ];
  expect(posted.every((message) => message.file !== undefined)).toBe(true);

  const client = await Client.connect(server.wsUrl, alice.cookie);
  clients.push(client);
  const epoch = (await client.next("conversations")).position.epoch;
  const acked = new Set<string>();
  client.ws.addEventListener("message", (event) => {
    const frame = JSON.parse(String(event.data));
    if (frame.type === "ack") acked.add(frame.data.cid);
  });
  // A message every few milliseconds, not waiting for acks, until told to stop.
  let sent = 0;
  let streaming = true;
  const stream = (async () => {
    while (streaming && sent < 3000) {
      client.send({ type: "chat", data: `m${sent}`, cid: `c${sent}` });
      sent++;
      await Bun.sleep(3);
    }
  })();
  await within(10_000, () => acked.size >= 100);

  const before = new Set(acked);
  const made = await cli(["backup", file], { env: { DATA_DIR: dataDir } });
  const after = acked.size;
  await Bun.sleep(100);
  streaming = false;
  await stream;
  expect(made.stderr).toBe("");
  expect(made.code).toBe(0);
  expect(made.stdout).toContain(`2 files`);
  expect(made.stdout).toContain("cookie secret");
  // The stream went on while the backup was taken.
  expect(after).toBeGreaterThan(before.size);

  // Every message acknowledged before the backup started is in it.
  const copy = new Database(file, { readonly: true });
  const stored = new Set(
    copy
      .query<{ cid: string }, []>("SELECT cid FROM messages WHERE cid IS NOT NULL")
      .all()
      .map((row) => row.cid),
  );
  const storedIds = copy
    .query<{ id: number }, []>("SELECT id FROM messages WHERE conversation_id = 1 ORDER BY id")
    .all()
    .map((row) => row.id);
  copy.close();
  for (const cid of before) expect(stored.has(cid)).toBe(true);
  expect((statSync(file).mode & 0o777).toString(8)).toBe("600");

  // Not over existing data: the server's own DATA_DIR is refused, untouched.
  const listing = readdirSync(dataDir).sort();
  const refused = await cli(["restore", file], { env: { DATA_DIR: dataDir } });
  expect(refused.code).toBe(1);
  expect(refused.stderr).toMatch(/^teahouse: DATA_DIR .* is not empty \(.*\): restore into an empty or new folder/);
  expect(refused.stderr.trim().split("\n")).toHaveLength(1);
  expect(readdirSync(dataDir).sort()).toEqual(listing);
  // Nor twice to the same name.
  expect((await cli(["backup", file], { env: { DATA_DIR: dataDir } })).code).toBe(1);

  await stopProcess(server.proc);
  // A copy of the backup missing one of its files: restored, but the exit code says it is not whole.
  const partial = join(tempDir(), "partial.sqlite");
  cpSync(file, partial);
  cpSync(`${file}.files`, `${partial}.files`, { recursive: true });
  const dropped = readdirSync(`${partial}.files`, { recursive: true, withFileTypes: true }).find((entry) =>
    entry.isFile(),
  )!;
  rmSync(join(dropped.parentPath, dropped.name));
  const incomplete = await cli(["restore", partial], { env: { DATA_DIR: join(tempDir(), "partial") } });
  expect(incomplete.code).toBe(1);
  expect(incomplete.stdout).toContain("incomplete: 1 file missing or damaged");
  const restoredDir = join(tempDir(), "restored");
  const restored = await cli(["restore", file], { env: { DATA_DIR: restoredDir } });
  expect(restored.stderr).toBe("");
  expect(restored.code).toBe(0);
  expect(restored.stdout).toContain("2 files");

  const second = await spawnServer(["--data-dir", restoredDir]);
  servers.push(second);
  // The same cookie: the secret and the session came back.
  const back = await Client.connect(second.wsUrl, alice.cookie);
  clients.push(back);
  const conversations = await back.next("conversations");
  // A new log: clients reload history rather than resume from ids the restored log never had.
  expect(conversations.position.epoch).not.toBe(epoch);
  const history = await lobbyHistory(back);
  expect(history.map((message) => message.id)).toEqual(storedIds);
  const served = new Set(history.map((message) => message.cid));
  for (const cid of before) expect(served.has(cid)).toBe(true);

  for (const [message, bytes] of [
    [posted[0]!, image],
    [posted[1]!, document],
  ] as const) {
    const got = await download(second, alice, message.file!.url);
    expect(got.status).toBe(200);
    expect(Buffer.from(await got.arrayBuffer()).equals(Buffer.from(bytes))).toBe(true);
  }
  // And it serves on: a new message is stored above the restored ones.
  back.send({ type: "chat", data: "after the restore", cid: "restored" });
  const ack = await back.next("ack", (f) => f.data.cid === "restored");
  expect(ack.data.id).toBeGreaterThan(Math.max(...storedIds));
}, 90_000);

test("restore refuses a non-empty DATA_DIR and a file that is not a backup; backup and restore refuse DATABASE_URL", async () => {
  const dataDir = tempDir();
  // A store with one account, made without a server.
  expect(
    (await cli(["admin", "create-owner", "alice"], { env: { DATA_DIR: dataDir }, stdin: "a long password\n" })).code,
  ).toBe(0);
  const file = join(tempDir(), "b.sqlite");
  const made = await cli(["backup", file], { env: { DATA_DIR: dataDir } });
  expect(made.code).toBe(0);
  expect(readdirSync(join(file, "..")).sort()).toEqual(["b.sqlite"]); // no files: no folder

  const occupied = tempDir();
  await Bun.write(join(occupied, "notes.txt"), "mine");
  const refused = await cli(["restore", file], { env: { DATA_DIR: occupied } });
  expect(refused.code).toBe(1);
  expect(refused.stderr).toContain("notes.txt");
  expect(readdirSync(occupied)).toEqual(["notes.txt"]);

  const notABackup = join(tempDir(), "x.sqlite");
  await Bun.write(notABackup, "not a database at all ".repeat(200));
  const target = join(tempDir(), "fresh");
  const wrong = await cli(["restore", notABackup], { env: { DATA_DIR: target } });
  expect(wrong.code).toBe(1);
  expect(wrong.stderr).toMatch(/^teahouse: .*x\.sqlite is not a SQLite database/);
  expect(await Bun.file(target).exists()).toBe(false);

  // An empty folder (a fresh volume) is fine, and the account comes back.
  const empty = tempDir();
  expect((await cli(["restore", file], { env: { DATA_DIR: empty } })).code).toBe(0);
  const users = await cli(["admin", "users"], { env: { DATA_DIR: empty } });
  expect(users.stdout).toMatch(/^1\s+alice\s+member\s+owner\s/m);

  const postgres = { DATA_DIR: tempDir(), DATABASE_URL: "postgres://nobody@127.0.0.1:1/none" };
  for (const command of ["backup", "restore"]) {
    const run = await cli([command, join(tempDir(), "pg.backup")], { env: postgres });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^teahouse: DATABASE_URL is set: back PostgreSQL up with its own tools \(pg_dump/);
  }
  expect((await cli(["backup"], { env: { DATA_DIR: dataDir } })).stderr).toMatch(/name the backup file; usage:/);
}, 60_000);

test("the server's WAL upkeep does not wait for a backup's snapshot held by another connection", () => {
  const dir = tempDir();
  const db = openDatabase(dir);
  const store = new SqliteStore(db, { retention: { maxPerConversation: 0, maxAgeMs: 0 }, walMaxBytes: 1 });
  const write = db.query("INSERT INTO settings (key, value) VALUES ('x', ?) ON CONFLICT(key) DO UPDATE SET value = ?");
  write.run("1", "1");
  // A backup's read snapshot, then a write after it: a TRUNCATE checkpoint cannot finish meanwhile.
  const snapshot = new Database(databasePath(dir), { readonly: true });
  snapshot.exec("BEGIN");
  snapshot.query("SELECT count(*) FROM accounts").get();
  write.run("2", "2");
  const startedAt = performance.now();
  store.maintain();
  expect(performance.now() - startedAt).toBeLessThan(1000); // not the 5 s busy timeout
  snapshot.exec("COMMIT");
  snapshot.close();
  store.maintain();
  expect(statSync(`${databasePath(dir)}-wal`).size).toBe(0);
  // Writes still wait for another process's lock.
  expect(db.query("PRAGMA busy_timeout").get()).toEqual({ timeout: BUSY_TIMEOUT_MS });
  db.close();
});
