/**
 * Search over HTTP, on both stores: a fixed corpus in Chinese and English, each query with the exact
 * messages it must find (precision and recall), never one from a conversation the searcher cannot
 * read; edits and deletions at once; filters; paging; refusals with reasons; the rate limit; the index
 * built in the background for messages stored before search existed.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nameKey } from "../src/domain/names";
import { openDatabase } from "../src/store/db";
import { SqliteStore } from "../src/store/sqlite";
import { Client, signIn, startApp, trackApps, within, type Running, type SignedIn } from "./helpers";
import { storeFlavours } from "./postgres";
import { SearchIndexer } from "../src/services/search";
import type { Store } from "../src/ports/store";
import type { Logger } from "../src/log";

const flavours = storeFlavours();

interface Hit {
  id: number;
  room?: string;
  with?: number;
  text: string;
  marks: Array<[number, number]>;
  user: { name: string };
}

const search = async (running: Running, who: SignedIn, q: string, before?: number) => {
  const url = new URL("/search", running.base);
  url.searchParams.set("q", q);
  if (before !== undefined) url.searchParams.set("before", String(before));
  const response = await fetch(url, { headers: { cookie: who.cookie } });
  return {
    status: response.status,
    body: (await response.json()) as { data: Hit[] | string; next?: number; error?: string },
  };
};
/** The texts a query finds, sorted (what is found, not in which order). */
const found = async (running: Running, who: SignedIn, q: string): Promise<string[]> => {
  const { status, body } = await search(running, who, q);
  expect(status).toBe(200);
  return (body.data as Hit[]).map((hit) => hit.text).sort();
};

describe.each(flavours)("%s", (_name, configure) => {
  const apps = trackApps();
  const fast = { ratePerSecond: 5000, rateBurst: 5000, userRatePerSecond: 5000, userRateBurst: 5000 };
  const start = async () => apps.start({ ...(await configure()), ...fast });

  /** alice, bob and carol; alice and bob in dev; direct conversations alice–bob and bob–carol. */
  const corpus = async (running: Running) => {
    const [alice, bob, carol] = await Promise.all(["alice", "bob", "carol"].map((name) => signIn(running.base, name)));
    const sockets = new Map<SignedIn, Client>();
    for (const who of [alice!, bob!, carol!]) {
      const socket = await apps.connect(running, who.cookie);
      await socket.next("history", (f) => f.room === "lobby");
      sockets.set(who, socket);
    }
    const a = sockets.get(alice!)!;
    const b = sockets.get(bob!)!;
    const c = sockets.get(carol!)!;
    for (const socket of [a, b]) {
      socket.send({ type: "join", room: "dev" });
      await socket.next("history", (f) => f.room === "dev");
    }
    const ids = new Map<string, number>();
    const say = async (from: Client, frame: Record<string, unknown>) => {
      const cid = crypto.randomUUID();
      from.send({ ...frame, cid });
      ids.set(frame.data as string, (await from.next("ack", (f) => f.data.cid === cid)).data.id);
    };
    await say(a, { type: "chat", data: "我们明天在上海吃饭" });
    await say(b, { type: "chat", data: "Shanghai is big" });
    await say(c, { type: "chat", data: "具体情况请看文档" });
    await say(a, { type: "chat", data: "Hello world from Zoë" });
    await say(b, { type: "chat", data: "helicopter parts" });
    await say(a, { type: "chat", data: "see https://example.com/x for 上海地图" });
    await say(c, { type: "chat", data: "上 海 apart" });
    await say(a, { type: "chat", room: "dev", data: "secret plans in dev 上海" });
    await say(b, { type: "private", to: alice!.user.id, data: "private 上海 note" });
    await say(c, { type: "private", to: bob!.user.id, data: "carol and bob 上海 secret" });
    await running.teahouse.indexer!.drain();
    return { alice: alice!, bob: bob!, carol: carol!, a, b, c, ids };
  };

  test("Chinese and English: the right messages and none from conversations the searcher cannot read", async () => {
    const running = await start();
    const { alice, bob, carol } = await corpus(running);
    const shanghai = ["我们明天在上海吃饭", "see https://example.com/x for 上海地图"];
    expect(await found(running, alice, "上海")).toEqual(
      [...shanghai, "private 上海 note", "secret plans in dev 上海"].sort(),
    );
    expect(await found(running, carol, "上海")).toEqual([...shanghai, "carol and bob 上海 secret"].sort());
    expect(await found(running, bob, "上海")).toEqual(
      [...shanghai, "carol and bob 上海 secret", "private 上海 note", "secret plans in dev 上海"].sort(),
    );
    // One character finds it alone too; two characters apart are not the pair.
    expect(await found(running, carol, "海")).toEqual([...shanghai, "carol and bob 上海 secret", "上 海 apart"].sort());
    expect(await found(running, carol, "具体情况")).toEqual(["具体情况请看文档"]);
    expect(await found(running, carol, "体情")).toEqual(["具体情况请看文档"]);
    expect(await found(running, carol, "情况 文档")).toEqual(["具体情况请看文档"]);
    expect(await found(running, carol, "上海 吃饭")).toEqual(["我们明天在上海吃饭"]);
    // Latin: whole words, the last one also as a prefix; case and accents folded; phrases.
    expect(await found(running, carol, "hel")).toEqual(["Hello world from Zoë", "helicopter parts"]);
    expect(await found(running, carol, "hello wor")).toEqual(["Hello world from Zoë"]);
    expect(await found(running, carol, "HELLO zoe")).toEqual(["Hello world from Zoë"]);
    expect(await found(running, carol, "hell world")).toEqual([]);
    expect(await found(running, carol, '"world from"')).toEqual(["Hello world from Zoë"]);
    expect(await found(running, carol, '"from world"')).toEqual([]);
    expect(await found(running, carol, "shanghai")).toEqual(["Shanghai is big"]);
    // One letter is a whole word, never a prefix of everything (nor of the index's own markers).
    expect(await found(running, carol, "c")).toEqual([]);
    expect(await found(running, carol, "link")).toEqual([]);
    // Filters.
    expect(await found(running, alice, "has:link 上海")).toEqual(["see https://example.com/x for 上海地图"]);
    expect(await found(running, alice, "from:bob 上海")).toEqual(["private 上海 note"]);
    expect(await found(running, alice, "from:Alice in:#dev 上海")).toEqual(["secret plans in dev 上海"]);
    expect(await found(running, alice, "from:nobody 上海")).toEqual([]);
    expect(await found(running, alice, "after:2099-01-01 上海")).toEqual([]);
    expect((await found(running, alice, "before:2099-01-01 上海")).length).toBe(4);
    const refused = await search(running, carol, "in:dev 上海");
    expect({ status: refused.status, error: refused.body.error }).toEqual({ status: 403, error: "not_a_member" });
  });

  test("each result says where and who, with its matches marked; newest first", async () => {
    const running = await start();
    const { alice, bob } = await corpus(running);
    const { body } = await search(running, alice, "上海");
    const hits = body.data as Hit[];
    expect(hits.map((hit) => hit.id)).toEqual([...hits.map((hit) => hit.id)].sort((x, y) => y - x));
    const direct = hits.find((hit) => hit.text === "private 上海 note")!;
    expect({ with: direct.with, room: direct.room, user: direct.user.name }).toEqual({
      with: bob.user.id,
      room: undefined,
      user: "bob",
    });
    expect(direct.marks).toEqual([[8, 10]]);
    const lobby = hits.find((hit) => hit.text === "我们明天在上海吃饭")!;
    expect({ room: lobby.room, marks: lobby.marks }).toEqual({ room: "lobby", marks: [[5, 7]] });
    const [hello] = (await search(running, alice, "hello zoe")).body.data as Hit[];
    expect(hello!.marks).toEqual([
      [0, 5],
      [17, 20],
    ]);
    // The last word is a prefix from three letters on; one or two letters are a whole word.
    expect(await found(running, alice, "hel")).toEqual(["Hello world from Zoë", "helicopter parts"]);
    expect(await found(running, alice, "he")).toEqual([]);
  });

  test("the index follows edits and deletions at once", async () => {
    const running = await start();
    const { alice, carol, a, b, ids } = await corpus(running);
    a.send({ type: "edit", id: ids.get("我们明天在上海吃饭")!, data: "我们明天在北京吃饭" });
    await a.next("edit");
    b.send({ type: "delete", id: ids.get("Shanghai is big")! });
    await b.next("delete");
    expect(await found(running, carol, "北京")).toEqual(["我们明天在北京吃饭"]);
    expect(await found(running, carol, "上海 吃饭")).toEqual([]);
    expect(await found(running, carol, "shanghai")).toEqual([]);
    expect(await found(running, alice, "big")).toEqual([]);
  });

  test("the scan stays inside the searcher's conversations: another room's many matches neither hide results nor leak", async () => {
    const running = await start();
    const alice = await signIn(running.base, "alice");
    const carol = await signIn(running.base, "carol");
    const a = await apps.connect(running, alice.cookie);
    await a.next("history", (f) => f.room === "lobby");
    a.send({ type: "chat", data: "secret in the lobby", cid: "l" });
    await a.next("ack");
    a.send({ type: "join", room: "vault" });
    await a.next("history", (f) => f.room === "vault");
    // More matches in a room carol is not in than a search looks at, all newer than the lobby's.
    for (let i = 0; i < 2100; i++) a.send({ type: "chat", room: "vault", data: `secret ${i}`, cid: `v${i}` });
    await within(30_000, () => a.frames.filter((f) => f.type === "ack").length >= 2100, 50);
    // A very long "word" (no one searches for it) is no reason to stop indexing.
    a.send({ type: "chat", data: `${"ж".repeat(1100)} and then secret`, cid: "long" });
    await a.next("ack", (f) => f.data.cid === "long");
    await running.teahouse.indexer!.drain();
    const { body } = await search(running, carol, "secret");
    const texts = (body.data as Hit[]).map((hit) => hit.text);
    expect(texts.length).toBe(2);
    expect(texts[0]).toEndWith("and then secret");
    expect(texts[1]).toBe("secret in the lobby");
    expect(body.next).toBeUndefined();
  }, 60_000);

  test("results page with before=; a malformed query is a 400 with a reason, never a 500", async () => {
    const running = await start();
    const alice = await signIn(running.base, "alice");
    const socket = await apps.connect(running, alice.cookie);
    for (let i = 0; i < 30; i++) {
      socket.send({ type: "chat", data: `page test ${i}`, cid: `p${i}` });
      await socket.next("ack");
    }
    await running.teahouse.indexer!.drain();
    const first = await search(running, alice, "page test");
    expect((first.body.data as Hit[]).length).toBe(20);
    expect(first.body.next).toBeDefined();
    const second = await search(running, alice, "page test", first.body.next);
    expect((second.body.data as Hit[]).map((hit) => hit.text)).toEqual(
      Array.from({ length: 10 }, (_, i) => `page test ${9 - i}`),
    );
    expect(second.body.next).toBeUndefined();
    for (const q of [
      "",
      "   ",
      "!!!",
      "x".repeat(257),
      Array.from({ length: 17 }, (_, i) => `w${i}`).join(" "),
      '"unclosed',
      "has:nothing x",
      "after:2026-13-01 x",
      "before:yesterday x",
      "from: x",
      "after:2026-12-02 before:2026-12-01 x",
    ]) {
      const { status, body } = await search(running, alice, q);
      expect({ q, status, error: body.error }).toEqual({ q, status: 400, error: "invalid_query" });
      expect(typeof body.data).toBe("string");
    }
    expect((await search(running, alice, "x", -1)).status).toBe(400);
    const anonymous = await fetch(new URL("/search?q=x", running.base));
    expect(anonymous.status).toBe(401);
  });
});

const standalone = trackApps();

test("searches are rate-limited per account (429 with Retry-After)", async () => {
  const running = await standalone.start();
  const alice = await signIn(running.base, "alice");
  const statuses: number[] = [];
  let retryAfter: string | null = null;
  for (let i = 0; i < 25; i++) {
    const response = await fetch(new URL("/search?q=tea", running.base), { headers: { cookie: alice.cookie } });
    statuses.push(response.status);
    if (response.status === 429) retryAfter = response.headers.get("retry-after");
  }
  expect(statuses.filter((status) => status === 200).length).toBe(20);
  expect(statuses.at(-1)).toBe(429);
  expect(Number(retryAfter)).toBeGreaterThan(0);
  // Another account is not held back.
  const bob = await signIn(running.base, "bob");
  expect((await fetch(new URL("/search?q=tea", running.base), { headers: { cookie: bob.cookie } })).status).toBe(200);
});

test("messages stored before search existed are indexed in the background, with progress in the log, while the server serves", async () => {
  const dir = mkdtempSync(join(tmpdir(), "teahouse-search-"));
  let stop = async () => {};
  try {
    // A DATA_DIR whose messages were never indexed (what the previous release leaves: no index at all).
    const seed = new SqliteStore(openDatabase(dir), {
      retention: { maxPerConversation: 0, maxAgeMs: 0 },
      walMaxBytes: 1 << 30,
    });
    const ann = await seed.createAccount({
      kind: "member",
      name: "ann",
      nameKey: nameKey("ann"),
      image: 1,
      passwordHash: null,
      device: null,
      now: 1,
    });
    const OLD = 12_000;
    for (let at = 1; at <= OLD; at += 1000)
      seed.appendNow(
        Array.from({ length: 1000 }, (_, i) => ({
          id: at + i,
          conversationId: 1,
          senderId: ann.id,
          body: at + i === 777 ? "旧消息里的茶馆 teahouse" : `old message ${at + i}`,
          cid: null,
          createdAt: Date.now(),
          replyTo: null,
          mentions: [],
        })),
      );
    await seed.close();
    const lines: Array<{ event: string; fields?: Record<string, unknown> }> = [];
    const log = {
      debug() {},
      info: (event: string, fields?: Record<string, unknown>) => void lines.push({ event, fields }),
      warn() {},
      error() {},
    };
    const running = startApp({ dataDir: dir }, log);
    stop = () => running.stop();
    await running.teahouse.started;
    // Serving meanwhile: a sign-in, a socket, a message.
    const bob = await signIn(running.base, "bob");
    const socket = await Client.connect(running.wsUrl, bob.cookie);
    socket.send({ type: "chat", data: "new 茶馆 message", cid: "n" });
    await socket.next("ack");
    await within(20_000, async () => lines.some((line) => line.event === "search.indexed"));
    expect(lines.find((line) => line.event === "search.indexing")?.fields).toMatchObject({
      upTo: expect.any(Number),
      last: expect.any(Number),
    });
    expect(await found(running, bob, "茶馆")).toEqual(["new 茶馆 message", "旧消息里的茶馆 teahouse"]);
    expect(await found(running, bob, "teahouse")).toEqual(["旧消息里的茶馆 teahouse"]);
    socket.close();
  } finally {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  }
}, 30_000);

test("the background indexer takes smaller steps while messages keep being stored, full ones once it calms", async () => {
  const limits: number[] = [];
  let storing = true;
  const store = {
    indexMessages: async (limit: number) => {
      limits.push(limit);
      return { upTo: limits.length * limit, indexed: limit };
    },
    lastMessageId: async () => 0,
  } as unknown as Store;
  const silent = { info() {}, warn() {}, error() {}, debug() {} } as unknown as Logger;
  const indexer = new SearchIndexer({ store, log: silent, storing: () => storing });
  indexer.start();
  await within(2000, () => limits.length >= 2);
  storing = false;
  const calm = limits.length;
  await within(2000, () => limits.length >= calm + 2);
  await indexer.stop();
  expect(limits.slice(0, 2)).toEqual([20, 20]);
  expect(limits.at(-1)).toBe(100);
});
