import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, openSync, rmSync, statSync, writeFileSync, writeSync, closeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ServerFrameOf } from "../src/protocol";
import { Client, signIn } from "./helpers";
import { runToExit, spawnServer, type ServerProcess } from "./process";
import { openDatabase } from "../src/store/db";
import { SqliteStore } from "../src/store/sqlite";
import { nameKey } from "../src/domain/names";

const dirs: string[] = [];
const procs: ServerProcess[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "teahouse-durable-"));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const server of procs.splice(0)) server.proc.kill("SIGKILL");
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** The stream below is far over the default frame rate limits (which would close it with 4008). */
const UNTHROTTLED = ["--rate-per-second", "100000", "--rate-burst", "100000"];
const UNTHROTTLED_USER = ["--user-rate-per-second", "100000", "--user-rate-burst", "100000"];

describe("durability", () => {
  test("SIGKILL mid-stream: every acknowledged message survives, in order, and ids keep increasing", async () => {
    const dataDir = tempDir();
    const first = await spawnServer(["--data-dir", dataDir, ...UNTHROTTLED, ...UNTHROTTLED_USER]);
    procs.push(first);
    const alice = await signIn(first.base, "alice");
    const client = await Client.connect(first.wsUrl, alice.cookie);
    const acked = new Map<string, number>();
    client.ws.addEventListener("message", (event) => {
      const frame = JSON.parse(String(event.data));
      if (frame.type === "ack") acked.set(frame.data.cid, frame.data.id);
    });
    // Stream messages without waiting; kill the server while they are in flight.
    let sent = 0;
    const streaming = (async () => {
      while (client.closed === undefined && sent < 5000) {
        client.send({ type: "chat", data: `m${sent}`, cid: `c${sent}` });
        sent++;
        if (sent % 50 === 0) await Bun.sleep(1);
      }
    })();
    while (acked.size < 300) await Bun.sleep(5);
    first.proc.kill("SIGKILL");
    await first.proc.exited;
    await streaming;
    expect(acked.size).toBeGreaterThanOrEqual(300);

    const second = await spawnServer(["--data-dir", dataDir]);
    procs.push(second);
    // The cookie and the session survived too.
    const again = await Client.connect(second.wsUrl, alice.cookie);
    await again.next("history", (f) => f.room === undefined); // the join-time frames (lobby, then private)
    const stored: ServerFrameOf<"history">["data"] = [];
    let before: number | undefined;
    for (;;) {
      again.send({ type: "history", limit: 500, ...(before ? { before } : {}) });
      const page = await again.next("history", (f) => f.room === "lobby");
      stored.unshift(...page.data);
      if (!page.more) break;
      before = page.data[0]!.id;
    }
    const storedIds = new Map(stored.map((m) => [m.cid, m.id]));
    for (const [cid, id] of acked) expect(storedIds.get(cid)).toBe(id);
    // In order: ids increase and messages are in send order.
    const order = stored.map((m) => Number(m.data.slice(1)));
    expect(order).toEqual([...order].sort((x, y) => x - y));
    expect(stored.map((m) => m.id)).toEqual([...stored.map((m) => m.id)].sort((x, y) => x - y));

    again.send("after restart");
    const next = await again.next("chat");
    expect(next.id).toBeGreaterThan(Math.max(...stored.map((m) => m.id)));
    again.close();
    client.close();
  }, 60_000);

  test("a corrupt database gives a clear error at start (exit 2), not a crash loop", async () => {
    const dataDir = tempDir();
    writeFileSync(join(dataDir, "teahouse.sqlite"), "this is not a database ".repeat(100));
    const { code, stderr } = await runToExit(["--data-dir", dataDir, "--port", "0"]);
    expect(code).toBe(2);
    expect(stderr).toContain("teahouse.sqlite");
    expect(stderr.trim().split("\n").length).toBe(1);
  });

  test("a database found corrupt while serving: one clear line and exit 2, not a stack trace", async () => {
    const dataDir = tempDir();
    // ~6 MiB of lobby history: more than SQLite keeps cached, so paging back reads the file.
    const seed = new SqliteStore(openDatabase(dataDir), {
      retention: { maxPerConversation: 0, maxAgeMs: 0 },
      walMaxBytes: 1 << 30,
    });
    const author = await seed.createAccount({
      kind: "guest",
      name: "old",
      nameKey: nameKey("old"),
      image: 0,
      passwordHash: null,
      device: null,
      now: 1,
    });
    const body = "茶".repeat(2000);
    for (let id = 1; id <= 3000; id += 100)
      seed.appendNow(
        Array.from({ length: 100 }, (_, i) => ({
          id: id + i,
          conversationId: 1,
          senderId: author.id,
          body,
          cid: null,
          createdAt: Date.now(),
          replyTo: null,
          mentions: [],
        })),
      );
    await seed.close();
    const server = await spawnServer(["--data-dir", dataDir]);
    procs.push(server);
    const alice = await signIn(server.base, "alice");
    const client = await Client.connect(server.wsUrl, alice.cookie);
    await client.next("history", (f) => f.room === undefined);
    // Something overwrites the middle of the file while the server runs.
    const file = join(dataDir, "teahouse.sqlite");
    const size = statSync(file).size;
    const fd = openSync(file, "r+");
    writeSync(fd, Buffer.alloc(Math.floor(size / 2), 0x5a), 0, Math.floor(size / 2), Math.floor(size / 4));
    closeSync(fd);
    for (let before = 3000; before > 0; before -= 500) client.send({ type: "history", before, limit: 50 });
    const code = await Promise.race([server.proc.exited, Bun.sleep(10_000).then(() => "still running")]);
    expect(code).toBe(2);
    const lines = server
      .output()
      .split("\n")
      .filter((line) => line.startsWith("teahouse:"));
    expect(lines.length).toBe(1);
    expect(lines[0]).toContain("corrupt");
    expect(server.output()).not.toMatch(/\n\s+at /); // no stack trace
  }, 30_000);

  test("an unusable data directory gives a clear error at start (exit 2)", async () => {
    const file = join(tempDir(), "not-a-dir");
    writeFileSync(file, "x");
    const { code, stderr } = await runToExit(["--data-dir", file, "--port", "0"]);
    expect(code).toBe(2);
    expect(stderr).toContain("not writable");
  });
});
