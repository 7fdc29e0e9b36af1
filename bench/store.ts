/**
 * What one stored chat message costs the server: MessageStore.commit in the
 * batches the writer forms under load, on a real WAL database in a temporary
 * folder, and the same rows written in ways the store could adopt (no `ts`
 * index, multi-row INSERT). CPU µs per message, median of interleaved rounds.
 *
 * Usage: bun bench/store.ts [--messages 50000] [--rounds 5]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Database } from "bun:sqlite";
import { openDatabase } from "../src/store/db";
import { MessageStore, type MessageRecord } from "../src/store/messages";

const arg = (flag: string, fallback: number): number => {
  const i = process.argv.indexOf(flag);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const MESSAGES = arg("--messages", 50_000);
const ROUNDS = arg("--rounds", 5);

const frameOf = (id: number, user: number): string =>
  JSON.stringify({
    id,
    type: "chat",
    user: { type: "guest", id: user, name: `bench${user}`, image: user % 10 },
    data: `~${user}~${Date.now() * 1000}~${"x".repeat(32)}`,
    room: "lobby",
    ts: Date.now(),
  });

interface Variant {
  name: string;
  prepare?: (db: Database) => void;
  /** Writes one batch; default: MessageStore.commit. */
  writer?: (db: Database, store: MessageStore) => (records: MessageRecord[]) => void;
}

const ROW_PARAMS = 7;
const multiRow = (db: Database, store: MessageStore) => {
  const statements = new Map<number, ReturnType<Database["prepare"]>>();
  const statement = (rows: number) => {
    let s = statements.get(rows);
    if (!s) {
      const values = Array.from({ length: rows }, () => "(?, ?, ?, ?, ?, ?, ?)").join(", ");
      s = db.prepare(`INSERT INTO messages (id, room, sender_id, to_id, cid, ts, frame) VALUES ${values}`);
      statements.set(rows, s);
    }
    return s;
  };
  const CHUNK = 64;
  return db.transaction((records: MessageRecord[]) => {
    for (let start = 0; start < records.length; start += CHUNK) {
      const chunk = records.slice(start, start + CHUNK);
      const params: (string | number | null)[] = new Array(chunk.length * ROW_PARAMS);
      let p = 0;
      for (const r of chunk) {
        params[p++] = r.id;
        params[p++] = r.room;
        params[p++] = r.senderId;
        params[p++] = r.toId;
        params[p++] = r.cid;
        params[p++] = r.ts;
        params[p++] = r.frame;
      }
      statement(chunk.length).run(...params);
    }
  }) as unknown as (records: MessageRecord[]) => void;
};

const VARIANTS: Variant[] = [
  { name: "MessageStore.commit (as is)" },
  { name: "without the messages_ts index", prepare: (db) => db.exec("DROP INDEX messages_ts") },
  { name: "multi-row INSERT, 64 rows a statement", writer: multiRow },
  {
    name: "no automatic WAL checkpoint",
    prepare: (db) => db.exec("PRAGMA wal_autocheckpoint = 0"),
  },
  {
    name: "multi-row INSERT, without messages_ts",
    prepare: (db) => db.exec("DROP INDEX messages_ts"),
    writer: multiRow,
  },
];

const measure = (variant: Variant, batch: number): number => {
  const dir = mkdtempSync(join(tmpdir(), "teahouse-store-bench-"));
  try {
    const db = openDatabase(dir);
    const store = new MessageStore(db, { maxPerRoom: 0, maxAgeMs: 0 });
    variant.prepare?.(db);
    const write = variant.writer ? variant.writer(db, store) : (records: MessageRecord[]) => store.commit(records);
    const records: MessageRecord[] = [];
    for (let id = 1; id <= MESSAGES; id++)
      records.push({
        id,
        room: "lobby",
        senderId: id % 32,
        toId: null,
        cid: null,
        ts: Date.now(),
        frame: frameOf(id, id % 32),
      });
    const before = process.cpuUsage();
    for (let start = 0; start < records.length; start += batch) write(records.slice(start, start + batch));
    const used = process.cpuUsage(before);
    db.close();
    return (used.user + used.system) / MESSAGES;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[values.length >> 1]!;

console.log(
  `${MESSAGES} messages per round, ${ROUNDS} interleaved rounds; CPU µs per stored message (median [min–max])`,
);
for (const batch of [1, 32, 512]) {
  const results = new Map<string, number[]>();
  for (let round = 0; round < ROUNDS; round++)
    for (const variant of VARIANTS) {
      const list = results.get(variant.name) ?? [];
      list.push(measure(variant, batch));
      results.set(variant.name, list);
    }
  console.log(`\nbatch of ${batch}:`);
  for (const [name, values] of results)
    console.log(
      `  ${name.padEnd(42)} ${median(values).toFixed(2)} [${Math.min(...values).toFixed(2)}–${Math.max(...values).toFixed(2)}]`,
    );
}
