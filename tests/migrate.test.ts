/**
 * Moving up from one box: `teahouse migrate --to postgres://…` copies a
 * DATA_DIR into a real PostgreSQL, verified table by table, and resumable;
 * the server then runs on PostgreSQL with the same accounts, sessions (the
 * cookie still works), rooms, memberships, messages and log epoch.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client, signIn, startApp } from "./helpers";
import { TestPostgres } from "./postgres";
import { download, upload } from "./uploads";
import { png } from "./images";

const postgres = new TestPostgres();
beforeAll(() => postgres.start());
afterAll(() => postgres.dispose());

const ROOT = join(import.meta.dir, "..");
const migrate = (args: string[]) => {
  const run = Bun.spawnSync([process.execPath, join(ROOT, "src/index.ts"), "migrate", ...args], {
    stdout: "pipe",
    stderr: "pipe",
  });
  return { code: run.exitCode, out: run.stdout.toString(), err: run.stderr.toString() };
};

test("a DATA_DIR copied into PostgreSQL: verified, resumable, and served from there with the same cookies", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "teahouse-migrate-"));
  try {
    // One box, some life: two accounts, a room, a direct conversation, a read position.
    const box = startApp({ dataDir, rateBurst: 100, userRateBurst: 100 });
    const alice = await signIn(box.base, "alice");
    const bob = await signIn(box.base, "bob", { path: "/signup", password: "bob's password" });
    const a = await Client.connect(box.wsUrl, alice.cookie);
    const epoch = (await a.next("conversations")).position.epoch;
    a.send({ type: "join", room: "dev" });
    await a.next("history", (f) => f.room === "dev");
    for (let i = 0; i < 30; i++) a.send({ type: "chat", room: "dev", data: `dev ${i}`, cid: `d${i}` });
    a.send({ type: "private", to: bob.user.id, data: "for bob", cid: "p" });
    await a.next("ack", (f) => f.data.cid === "p");
    // A file: its message's columns and its blob's row move too (the bytes stay in DATA_DIR/files).
    const image = png(6, 4);
    const posted = (await upload(box, alice, "room=dev", image, "moved.png", { caption: "a file" })).body.message!;
    // Moderation: bob owns the server (the first sign-up), alice owns dev and makes it private and slow; carol
    // is muted there, then banned; the log has it all.
    const carol = await signIn(box.base, "carol");
    const c = await Client.connect(box.wsUrl, carol.cookie);
    await c.next("conversations");
    a.send({ type: "room_settings", room: "dev", topic: "moved", slow: 5 });
    await a.next("room_settings");
    const { store } = box.teahouse;
    await store.join(carol.user.id, 2, Date.now());
    await store.setMuted(2, carol.user.id, Date.now() + 3_600_000);
    await store.setRoomSettings(2, { private: true });
    await box.teahouse.moderation.ban(null, carol.user.id, { addresses: ["198.51.100.4"] });
    c.close();
    a.close();
    await box.stop();

    const url = await postgres.database();
    const first = migrate(["--to", url, "--data-dir", dataDir]);
    expect(first.err).toBe("");
    expect(first.code).toBe(0);
    expect(first.out).toContain("copied and verified");
    expect(first.out).toMatch(/^messages\s+32 rows\s+sha256 [0-9a-f]{16}\s+ok$/m);
    expect(first.out).toMatch(/^blobs\s+1 rows/m);
    expect(first.out).toMatch(/^accounts\s+3 rows/m);
    expect(first.out).toMatch(/^bans\s+1 rows/m);
    expect(first.out).toMatch(/^audit\s+[1-9]\d* rows/m);
    // Run again (as after an interruption): nothing doubles, still verified.
    const again = migrate(["--to", url, "--data-dir", dataDir]);
    expect(again.code).toBe(0);
    expect(again.out).toBe(first.out);
    expect(migrate(["--to", "nope", "--data-dir", dataDir]).code).toBe(2);

    const moved = startApp({ dataDir, databaseUrl: url });
    await moved.teahouse.started;
    const me = await fetch(`${moved.base}/wsme`, { headers: { cookie: alice.cookie } });
    expect(me.status).toBe(200);
    const back = await Client.connect(`${moved.wsUrl}?since=0&epoch=${epoch}`, alice.cookie);
    const conversations = await back.next("conversations");
    expect(conversations.position.epoch).toBe(epoch);
    expect(conversations.data.map((c) => c.room ?? c.with)).toEqual(["lobby", "dev", bob.user.id]);
    const dev = await back.next("history", (f) => f.room === "dev");
    expect(dev.recovered).toBe(true);
    expect(dev.data.map((m) => m.data)).toEqual([...Array.from({ length: 30 }, (_, i) => `dev ${i}`), "a file"]);
    expect(dev.data.at(-1)!.file).toEqual(posted.file!);
    const got = await download(moved, alice, posted.file!.url);
    expect(Buffer.from(await got.arrayBuffer()).equals(Buffer.from(image))).toBe(true);
    expect((await moved.teahouse.store.fileUsage(alice.user.id)).total).toBe(image.length);
    back.send({ type: "chat", room: "dev", data: "on postgres now", cid: "n" });
    const next = await back.next("chat", (f) => f.data === "on postgres now");
    expect(next.id).toBeGreaterThan(dev.data.at(-1)!.id);
    expect((await signIn(moved.base, "bob", { password: "bob's password" })).user.id).toBe(bob.user.id);
    const pg = moved.teahouse.store;
    expect(await pg.ownerId()).toBe(bob.user.id);
    expect(await pg.roomSettings(2)).toEqual({ topic: "moved", private: true, slowSeconds: 5, ownerId: alice.user.id });
    expect((await pg.roomMembers(2, [carol.user.id])).get(carol.user.id)?.mutedUntil).toBeGreaterThan(Date.now());
    expect(await pg.isBanned({ accountId: carol.user.id })).toBe(true);
    expect(await pg.isBanned({ address: "198.51.100.4" })).toBe(true);
    expect((await pg.auditLog(Number.MAX_SAFE_INTEGER, 10)).map((e) => e.action)).toContain("ban");
    back.close();
    await moved.stop();
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}, 60_000);
