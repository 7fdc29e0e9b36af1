/**
 * What the SQLite store costs per operation, on a real WAL database in a
 * temporary folder: appending messages in the batches the writer forms under
 * load (CPU µs per message), reading a history page, and the memberships
 * with unread counts that every socket open asks for (µs per conversation).
 * Median of interleaved rounds.
 *
 * Usage: bun bench/store.ts [--messages 50000] [--rounds 5]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../src/store/db";
import { SqliteStore } from "../src/store/sqlite";
import type { NewMessage } from "../src/ports/store";
import { nameKey } from "../src/domain/names";

const arg = (flag: string, fallback: number): number => {
  const i = process.argv.indexOf(flag);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const MESSAGES = arg("--messages", 50_000);
const ROUNDS = arg("--rounds", 5);
const ROOMS = 20;

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[values.length >> 1]!;
const cpuUs = (run: () => void): number => {
  const before = process.cpuUsage();
  run();
  const used = process.cpuUsage(before);
  return used.user + used.system;
};

const round = async (batch: number) => {
  const dir = mkdtempSync(join(tmpdir(), "teahouse-bench-store-"));
  try {
    const store = new SqliteStore(openDatabase(dir), {
      retention: { maxPerConversation: 0, maxAgeMs: 0 },
      walMaxBytes: 40 * 1024 * 1024,
    });
    const accounts = [];
    for (let i = 0; i < 32; i++)
      accounts.push(
        await store.createAccount({
          kind: "guest",
          name: `bench${i}`,
          nameKey: nameKey(`bench${i}`),
          image: 0,
          passwordHash: null,
          device: null,
          now: Date.now(),
        }),
      );
    const rooms = [1];
    for (let r = 1; r < ROOMS; r++) {
      const { room } = await store.createRoom(`room${r}`, nameKey(`room${r}`), accounts[0]!.id, Date.now());
      rooms.push(room.id);
    }
    const messages: NewMessage[] = [];
    for (let id = 1; id <= MESSAGES; id++)
      messages.push({
        id,
        conversationId: rooms[id % ROOMS]!,
        senderId: accounts[id % 32]!.id,
        body: `~${id}~${"x".repeat(32)}`,
        replyTo: null,
        mentions: [],
        cid: null,
        createdAt: Date.now(),
      });
    const append = cpuUs(() => {
      for (let start = 0; start < messages.length; start += batch)
        store.appendNow(messages.slice(start, start + batch));
    });
    let pages = 0;
    const started = performance.now();
    for (let i = 0; i < 200; i++) {
      await store.page(rooms[i % ROOMS]!, 50, MESSAGES + 1);
      pages++;
    }
    const pageUs = ((performance.now() - started) * 1000) / pages;
    const membershipsStarted = performance.now();
    await store.memberships(accounts[0]!.id);
    const membershipUs = ((performance.now() - membershipsStarted) * 1000) / ROOMS;
    await store.close();
    return { append: append / MESSAGES, page: pageUs, membership: membershipUs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

console.log(`${MESSAGES} messages in ${ROOMS} rooms per round, ${ROUNDS} rounds (median [min–max])`);
for (const batch of [1, 32, 512]) {
  const results = { append: [] as number[], page: [] as number[], membership: [] as number[] };
  for (let r = 0; r < ROUNDS; r++) {
    const result = await round(batch);
    results.append.push(result.append);
    results.page.push(result.page);
    results.membership.push(result.membership);
  }
  const show = (values: number[]) =>
    `${median(values).toFixed(2)} [${Math.min(...values).toFixed(2)}–${Math.max(...values).toFixed(2)}]`;
  console.log(`\nbatch of ${batch}:`);
  console.log(`  append, CPU µs per message            ${show(results.append)}`);
  console.log(`  history page of 50, µs                ${show(results.page)}`);
  console.log(`  memberships at open, µs per room      ${show(results.membership)}`);
}
