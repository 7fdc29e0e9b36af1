/**
 * The log tail on its own, with a fake store: messages from this instance,
 * from the bus and from the store are delivered in id order, each once, and
 * every acknowledgement runs once.
 */
import { expect, test } from "bun:test";
import { LogTail, HOLE_GRACE_MS } from "../src/chat/tail";
import type { LogEntry } from "../src/ports/store";
import { createLogger } from "../src/log";

const entry = (id: number): LogEntry => ({
  seq: id,
  change: null,
  message: {
    id,
    conversationId: 1,
    senderId: 1,
    body: `m${id}`,
    cid: null,
    createdAt: 0,
    editedAt: null,
    deletedAt: null,
    replyTo: null,
    mentions: [],
    reactions: [],
    rev: null,
    change: null,
    sender: { id: 1, kind: "guest", name: "a", image: 0, nameKey: "a" },
  },
  conversation: { id: 1, kind: "room", name: "lobby", pair: null, createdAt: 0 },
});
const item = (id: number) => ({ id, topics: ["c:1"], text: `m${id}` });

const tail = (read: (after: number, upTo: number) => Promise<LogEntry[]>) => {
  const delivered: number[] = [];
  const reads: Array<[number, number]> = [];
  const log = new LogTail({
    sequenced: true,
    read: async (after, upTo) => {
      reads.push([after, upTo]);
      return { entries: await read(after, upTo), reached: upTo };
    },
    encode: (e) => item(e.message.id),
    deliver: (i) => delivered.push(i.id),
    log: createLogger("silent"),
  });
  return { log, delivered, reads };
};

const range = (after: number, upTo: number) => Array.from({ length: upTo - after }, (_, i) => entry(after + 1 + i));

test("a hole the bus fills within the grace is never read from the store; acks follow delivery", async () => {
  const { log, delivered, reads } = tail(async (after, upTo) => range(after, upTo));
  const acks: number[] = [];
  log.own(item(3), () => acks.push(3));
  log.own(item(4), () => acks.push(4));
  expect(delivered).toEqual([]);
  log.remote([item(1), item(2)]);
  expect(delivered).toEqual([1, 2, 3, 4]);
  expect(acks).toEqual([3, 4]);
  await Bun.sleep(HOLE_GRACE_MS * 2);
  expect(reads).toEqual([]);
});

test("a hole the bus does not fill is read from the store after the grace; duplicates are dropped", async () => {
  const { log, delivered, reads } = tail(async (after, upTo) => range(after, upTo));
  let acked = 0;
  log.own(item(5), () => acked++);
  log.remote([item(5)]);
  await log.settled();
  expect(reads).toEqual([[0, 4]]);
  expect(delivered).toEqual([1, 2, 3, 4, 5]);
  expect(acked).toBe(1);
  // The head read by the poll brings what nobody announced.
  log.reach(7);
  await log.settled();
  expect(delivered).toEqual([1, 2, 3, 4, 5, 6, 7]);
  log.remote([item(6), item(7)]);
  expect(delivered).toEqual([1, 2, 3, 4, 5, 6, 7]);
});

test("a store that stays unreadable: the hole is skipped after its retries, and nothing older is delivered after", async () => {
  const { log, delivered, reads } = tail(async () => {
    throw new Error("down");
  });
  let acked = 0;
  log.own(item(3), () => acked++);
  // The bus brings one past it while the reads are failing: it waits behind the hole too.
  await Bun.sleep(HOLE_GRACE_MS + 50);
  log.remote([item(4)]);
  expect(delivered).toEqual([]);
  await log.settled();
  // Every attempt failed: the hole (1, 2) is given up and what waited goes out, in order, once.
  expect(reads.length).toBe(10);
  expect(delivered).toEqual([3, 4]);
  expect(acked).toBe(1);
  // The hole's messages turning up late are not delivered out of order.
  log.remote([item(1), item(2)]);
  expect(delivered).toEqual([3, 4]);
  log.remote([item(5)]);
  expect(delivered).toEqual([3, 4, 5]);
}, 15_000);
