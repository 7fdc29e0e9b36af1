import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { IdSequence, openDatabase } from "../src/store/db";
import { MessageStore, type MessageRecord } from "../src/store/messages";

const record = (
  id: number,
  room: string | null,
  ts: number,
  senderId = 1,
  toId: number | null = null,
): MessageRecord => ({
  id,
  room,
  senderId,
  toId,
  cid: null,
  ts,
  frame: JSON.stringify({ id, data: `m${id}` }),
});

describe("id sequence", () => {
  test("never hands out an id twice, also across restarts that did not use up a block", () => {
    const dir = mkdtempSync(join(tmpdir(), "teahouse-ids-"));
    try {
      const first = new IdSequence(openDatabase(dir));
      const a = [first.take(), first.take(), first.take()];
      const second = new IdSequence(openDatabase(dir));
      const b = second.take();
      expect(b).toBeGreaterThan(Math.max(...a));
      expect(new IdSequence(openDatabase(dir), 1_000_000).take()).toBe(1_000_001);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("message store retention", () => {
  test("keeps at most N per room and records how far it pruned", () => {
    const store = new MessageStore(openDatabase(":memory:"), { maxPerRoom: 2, maxAgeMs: 0 });
    store.ensureRoom("dev", 0);
    store.commit([1, 2, 3, 4].map((id) => record(id, "dev", id)));
    store.commit([record(5, "lobby", 5)]);
    expect(store.prune(10)).toBe(2);
    expect(store.roomPage("dev", 10).messages.map((m) => m.id)).toEqual([3, 4]);
    expect(store.roomSince("dev", 1, 10).complete).toBe(false);
    expect(store.roomSince("dev", 2, 10)).toEqual({ messages: store.roomPage("dev", 10).messages, complete: true });
    expect(store.roomPage("lobby", 10).messages.map((m) => m.id)).toEqual([5]);
  });

  test("deletes messages older than the maximum age, private ones included", () => {
    const store = new MessageStore(openDatabase(":memory:"), { maxPerRoom: 0, maxAgeMs: 1000 });
    store.commit([
      record(1, "lobby", 100),
      record(2, null, 200, 1, 2),
      record(3, "lobby", 5000),
      record(4, null, 5000, 2, 1),
    ]);
    expect(store.prune(5500)).toBe(2);
    expect(store.roomPage("lobby", 10).messages.map((m) => m.id)).toEqual([3]);
    expect(store.privatePage(1, 10).messages.map((m) => m.id)).toEqual([4]);
    expect(store.privateSince(1, 0, 10).complete).toBe(false);
    expect(store.privateSince(1, 2, 10).complete).toBe(true);
    expect(store.roomSince("lobby", 0, 10).complete).toBe(false);
  });

  test("finds the age cut among sparse ids (ids grow with time, with gaps from other frames)", () => {
    const store = new MessageStore(openDatabase(":memory:"), { maxPerRoom: 0, maxAgeMs: 1000 });
    store.commit([
      record(10, "lobby", 100),
      record(20, "lobby", 200),
      record(35, "lobby", 5000),
      record(90, "lobby", 6000),
    ]);
    expect(store.prune(5500)).toBe(2);
    expect(store.roomPage("lobby", 10).messages.map((m) => m.id)).toEqual([35, 90]);
    expect(store.prune(5500)).toBe(0);
  });
});

describe("message store writes", () => {
  test("a large batch (multi-row inserts plus a remainder) is stored whole and in order", () => {
    const store = new MessageStore(openDatabase(":memory:"), { maxPerRoom: 0, maxAgeMs: 0 });
    const batch = Array.from({ length: 150 }, (_, i) => record(i + 1, "lobby", i));
    store.commit(batch);
    const page = store.roomPage("lobby", 500);
    expect(page.messages.map((m) => m.id)).toEqual(batch.map((r) => r.id));
    expect(page.messages[149]!.frame).toBe(batch[149]!.frame);
  });

  test("a failing batch stores nothing of it", () => {
    const store = new MessageStore(openDatabase(":memory:"), { maxPerRoom: 0, maxAgeMs: 0 });
    store.commit([record(5, "lobby", 0)]);
    const batch = Array.from({ length: 70 }, (_, i) => record(i + 1, "lobby", i)); // id 5 again: a conflict
    expect(() => store.commit(batch)).toThrow();
    expect(store.roomPage("lobby", 500).messages.map((m) => m.id)).toEqual([5]);
  });
});
