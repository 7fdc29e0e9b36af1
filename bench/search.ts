/**
 * Search at a million messages, on the SQLite store in a temporary folder: 1,000,000 messages of mixed
 * Chinese and English in 200 rooms; what the index costs (bytes per message, messages indexed per
 * second, and storing the same messages without it), and query latency p50/p99 for a one-word, a
 * two-character Chinese, a phrase, a prefix and a filtered query, by an account in 20 of the rooms
 * (MAX_ROOMS_PER_USER's default: the most a searcher can be in).
 * The chat benchmark with and without the index is `bun bench/run.ts --only closed32x8 --search-off`.
 *
 * Usage: bun bench/search.ts [--messages 1000000] [--queries 200] [--smoke]   (bun run bench:search)
 * The last line is the results as JSON.
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../src/store/db";
import { SqliteStore } from "../src/store/sqlite";
import type { NewMessage } from "../src/ports/store";
import { nameKey } from "../src/domain/names";
import { parseQuery, snippet } from "../src/domain/search";

const arg = (flag: string, fallback: number): number => {
  const i = process.argv.indexOf(flag);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
/** `--smoke`: a few thousand messages, a few queries — proves it works (tests/bench.test.ts); no figures. */
const SMOKE = process.argv.includes("--smoke");
const MESSAGES = SMOKE ? 3000 : arg("--messages", 1_000_000);
const QUERIES = SMOKE ? 5 : arg("--queries", 200);
const ROOMS = 200;
/** Rooms the searching account is in (MAX_ROOMS_PER_USER's default). */
const SEARCHER_ROOMS = 20;
const BATCH = 512;

/** A reproducible mix: Chinese words and phrases, English words, now and then a link. */
const ZH = [
  "我们",
  "明天",
  "上海",
  "北京",
  "吃饭",
  "会议",
  "项目",
  "文档",
  "具体情况",
  "周末",
  "爬山",
  "喝茶",
  "同事",
  "问题",
  "解决",
  "测试",
  "发布",
  "服务器",
  "数据库",
  "性能",
  "用户",
  "界面",
  "设计",
  "讨论",
  "下午",
  "晚上",
  "一起",
  "好的",
  "没问题",
  "谢谢",
  "今天",
  "昨天",
  "已经",
  "还没",
  "准备",
  "计划",
  "需要",
  "可以",
  "知道",
  "觉得",
];
const EN = [
  "the",
  "meeting",
  "project",
  "plan",
  "release",
  "server",
  "database",
  "search",
  "index",
  "query",
  "tea",
  "lunch",
  "tomorrow",
  "weekend",
  "hike",
  "deploy",
  "test",
  "bug",
  "fix",
  "review",
  "design",
  "user",
  "page",
  "latency",
  "memory",
  "team",
  "update",
  "please",
  "thanks",
  "sounds",
  "good",
  "shanghai",
  "beijing",
  "docs",
  "issue",
  "merge",
  "branch",
  "build",
  "ready",
  "later",
];
/** mulberry32: the same corpus on every run. */
let seed = 42;
const random = (n: number): number => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n) | 0;
};
const sentence = (): string => {
  const parts: string[] = [];
  const chinese = random(2) === 0;
  const length = 4 + random(14);
  for (let i = 0; i < length; i++)
    parts.push(chinese && random(4) !== 0 ? ZH[random(ZH.length)]! : EN[random(EN.length)]!);
  if (random(20) === 0) parts.push(`https://example.com/${random(1000)}`);
  return chinese ? parts.join(random(3) === 0 ? " " : "") : parts.join(" ");
};

const percentile = (values: number[], p: number): number =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * p))]!;

const fill = async (store: SqliteStore, accounts: number[], rooms: number[]): Promise<number> => {
  const started = performance.now();
  for (let id = 1; id <= MESSAGES; id += BATCH) {
    const batch: NewMessage[] = [];
    for (let i = id; i < Math.min(id + BATCH, MESSAGES + 1); i++)
      batch.push({
        id: i,
        conversationId: rooms[i % rooms.length]!,
        senderId: accounts[i % accounts.length]!,
        body: sentence(),
        cid: null,
        createdAt: Date.now(),
        replyTo: null,
        mentions: [],
      });
    store.appendNow(batch);
  }
  return performance.now() - started;
};

const main = async (): Promise<void> => {
  const dir = mkdtempSync(join(tmpdir(), "teahouse-bench-search-"));
  try {
    const db = openDatabase(dir);
    const store = new SqliteStore(db, { retention: { maxPerConversation: 0, maxAgeMs: 0 }, walMaxBytes: 1 << 30 });
    const accounts: number[] = [];
    for (let i = 0; i < 50; i++) {
      const name = `user${i}`;
      const account = await store.createAccount({
        kind: "member",
        name,
        nameKey: nameKey(name),
        image: 0,
        passwordHash: null,
        device: null,
        now: 1,
      });
      accounts.push(account.id);
    }
    const rooms = [1];
    for (let r = 1; r < ROOMS; r++)
      rooms.push((await store.createRoom(`room${r}`, nameKey(`room${r}`), accounts[0]!, 1)).room.id);
    for (const room of rooms) await store.join(accounts[0]!, room, 1);

    const size = () => {
      db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
      return statSync(join(dir, "teahouse.sqlite")).size;
    };
    const storeMs = await fill(store, accounts, rooms);
    const before = size();
    const indexStarted = performance.now();
    const cpuBefore = process.cpuUsage();
    let steps = 0;
    const stepMs: number[] = [];
    for (;;) {
      const t0 = performance.now();
      const { indexed } = await store.indexMessages(200);
      stepMs.push(performance.now() - t0);
      steps++;
      if (indexed === 0) break;
    }
    const indexMs = performance.now() - indexStarted;
    const cpu = process.cpuUsage(cpuBefore);
    const after = size();

    const scope = { conversationIds: rooms.slice(0, SEARCHER_ROOMS) };
    const queries: Array<[string, string, Record<string, unknown>?]> = [
      ["one English word", "meeting"],
      ["two-character Chinese", "上海"],
      ["a four-character Chinese word", "具体情况"],
      ["a phrase", '"project plan"'],
      ["a prefix as typed", "deplo"],
      ["two words, one rare", "latency shanghai"],
      ["filtered: from: and in:", "上海", { senderId: accounts[3], conversationIds: [rooms[3]!] }],
      ["filtered: has:link", "has:link tea"],
    ];
    const rows: string[] = [];
    const results: Array<{ q: string; results_per_page: number; p99_ms: number }> = [];
    for (const [what, q, narrower] of queries) {
      const parsed = parseQuery(q);
      if (!parsed.ok) throw new Error(parsed.reason);
      const times: number[] = [];
      let found = 0;
      for (let i = 0; i < QUERIES; i++) {
        // Every page, the first and further ones: `before` walks down the ids.
        const beforeId = i % 4 === 0 ? Number.MAX_SAFE_INTEGER : MESSAGES - random(MESSAGES / 2);
        const t0 = performance.now();
        const page = await store.search(parsed.plan, { ...scope, ...narrower }, beforeId, 20);
        for (const message of page.messages) snippet(message.body, parsed.plan);
        times.push(performance.now() - t0);
        found += page.messages.length;
      }
      results.push({ q, results_per_page: found / QUERIES, p99_ms: percentile(times, 0.99) });
      rows.push(
        `| ${what} | \`${q}\` | ${(found / QUERIES).toFixed(1)} | ${percentile(times, 0.5).toFixed(2)} | ${percentile(times, 0.99).toFixed(2)} | ${Math.max(...times).toFixed(2)} |`,
      );
    }
    const lines = [
      `## Search at ${MESSAGES.toLocaleString("en")} messages — ${new Date().toISOString()}`,
      "",
      `SQLite store, ${ROOMS} rooms, 50 senders, mixed Chinese and English (4–17 words, one in 20 with a link); the searcher is in ${SEARCHER_ROOMS} of the rooms; Bun ${Bun.version}.`,
      "",
      "| figure | value |",
      "| --- | --- |",
      `| storing them without the index | ${Math.round(MESSAGES / (storeMs / 1000)).toLocaleString("en")} messages/s |`,
      `| indexing them (background steps of 200) | ${Math.round(MESSAGES / (indexMs / 1000)).toLocaleString("en")} messages/s, ${((cpu.user + cpu.system) / MESSAGES).toFixed(1)} µs CPU each |`,
      `| one indexing step (200 messages): p50 / p99 / max | ${percentile(stepMs, 0.5).toFixed(2)} / ${percentile(stepMs, 0.99).toFixed(2)} / ${Math.max(...stepMs).toFixed(2)} ms |`,
      `| database without / with the index | ${(before / 2 ** 20).toFixed(0)} / ${(after / 2 ** 20).toFixed(0)} MiB |`,
      `| index size per message | ${Math.round((after - before) / MESSAGES)} bytes |`,
      "",
      `Query latency (store search + marking the matches of a 20-result page; ${QUERIES} runs each, a quarter the first page, the rest a page further down):`,
      "",
      "| query | q | results per page | p50 ms | p99 ms | max ms |",
      "| --- | --- | --- | --- | --- | --- |",
      ...rows,
    ];
    console.log(lines.join("\n"));
    console.log(
      JSON.stringify({
        smoke: SMOKE,
        messages: MESSAGES,
        index_bytes_per_message: Math.round((after - before) / MESSAGES),
        queries: results,
      }),
    );
    await store.close();
    void steps;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

await main();
