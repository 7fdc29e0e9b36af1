/**
 * Message history in SQLite: chat messages per room and private messages per
 * pair of users, each stored as the exact JSON frame that was broadcast.
 * Retention (a maximum per room and a maximum age) prunes in the background
 * and records how far it went, so a resuming client can be told whether the
 * messages it missed are all still there.
 */
import type { Database, Statement } from "bun:sqlite";
import type { Gap, Page, StoredFrame } from "../broker/broker";

/** One message to store. */
export interface MessageRecord {
  id: number;
  /** Room of a chat message; null for a private message. */
  room: string | null;
  senderId: number;
  /** Recipient of a private message; null for a chat message. */
  toId: number | null;
  cid: string | null;
  ts: number;
  /** The encoded `chat` or `private` frame. */
  frame: string;
}

export interface RetentionPolicy {
  /** Keep at most this many messages per room (0 = no limit). */
  maxPerRoom: number;
  /** Delete messages older than this (0 = keep forever). */
  maxAgeMs: number;
}

type Row = StoredFrame;
type IdRow = { id: number };

/** Rows per multi-row INSERT when a batch is large enough. */
const INSERT_CHUNK = 64;

/** Meta key under which private-message pruning records its watermark. */
const PRIVATE_PRUNED_KEY = "private_pruned_up_to";

export class MessageStore {
  private readonly insert: Statement<
    unknown,
    [number, string | null, number, number | null, string | null, number, string]
  >;
  private readonly byCid: Statement<IdRow, [number, string]>;
  private readonly roomBefore: Statement<Row, [string, number, number]>;
  private readonly roomAfter: Statement<Row, [string, number, number]>;
  private readonly privateBefore: Statement<Row, [number, number, number, number]>;
  private readonly privateAfter: Statement<Row, [number, number, number, number]>;
  private readonly pairBefore: Statement<Row, [number, number, number, number, number, number]>;
  private readonly roomWatermark: Statement<{ pruned_up_to: number }, [string]>;
  private readonly insertRoom: Statement<unknown, [string, number]>;
  private readonly commitBatch: (records: readonly MessageRecord[]) => void;

  constructor(
    private readonly db: Database,
    private readonly retention: RetentionPolicy,
  ) {
    this.insert = db.query(
      "INSERT INTO messages (id, room, sender_id, to_id, cid, ts, frame) VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
    this.byCid = db.query("SELECT id FROM messages WHERE sender_id = ? AND cid = ?");
    this.roomBefore = db.query("SELECT id, frame FROM messages WHERE room = ? AND id < ? ORDER BY id DESC LIMIT ?");
    this.roomAfter = db.query("SELECT id, frame FROM messages WHERE room = ? AND id > ? ORDER BY id LIMIT ?");
    // A user's private messages: sent by them or to them (two indexed ranges, merged by id).
    this.privateBefore = db.query(
      `SELECT frame, id FROM (
         SELECT frame, id FROM messages WHERE room IS NULL AND sender_id = ?1 AND id < ?2
         UNION ALL
         SELECT frame, id FROM messages WHERE room IS NULL AND to_id = ?3 AND sender_id != ?3 AND id < ?2
       ) ORDER BY id DESC LIMIT ?4`,
    );
    this.privateAfter = db.query(
      `SELECT frame, id FROM (
         SELECT frame, id FROM messages WHERE room IS NULL AND sender_id = ?1 AND id > ?2
         UNION ALL
         SELECT frame, id FROM messages WHERE room IS NULL AND to_id = ?3 AND sender_id != ?3 AND id > ?2
       ) ORDER BY id LIMIT ?4`,
    );
    this.pairBefore = db.query(
      `SELECT id, frame FROM messages WHERE room IS NULL AND id < ?5
         AND ((sender_id = ?1 AND to_id = ?2) OR (sender_id = ?3 AND to_id = ?4))
       ORDER BY id DESC LIMIT ?6`,
    );
    this.roomWatermark = db.query("SELECT pruned_up_to FROM rooms WHERE name = ?");
    this.insertRoom = db.query("INSERT OR IGNORE INTO rooms (name, created_at) VALUES (?, ?)");
    // One statement per INSERT_CHUNK rows costs far less per row than one per row (measured in bench/store.ts).
    const insertChunk = db.query<unknown, Array<string | number | null>>(
      `INSERT INTO messages (id, room, sender_id, to_id, cid, ts, frame) VALUES ${Array(INSERT_CHUNK).fill("(?, ?, ?, ?, ?, ?, ?)").join(", ")}`,
    );
    this.commitBatch = db.transaction((records: readonly MessageRecord[]) => {
      let at = 0;
      for (; at + INSERT_CHUNK <= records.length; at += INSERT_CHUNK) {
        const values: Array<string | number | null> = [];
        for (let i = at; i < at + INSERT_CHUNK; i++) {
          const r = records[i]!;
          values.push(r.id, r.room, r.senderId, r.toId, r.cid, r.ts, r.frame);
        }
        insertChunk.run(...values);
      }
      for (; at < records.length; at++) {
        const r = records[at]!;
        this.insert.run(r.id, r.room, r.senderId, r.toId, r.cid, r.ts, r.frame);
      }
    });
  }

  /** Stores messages in one transaction; throws if it cannot (nothing of the batch is stored then). */
  commit(records: readonly MessageRecord[]): void {
    this.commitBatch(records);
  }

  /** The id already stored for a sender's client message id, if any. */
  findByCid(senderId: number, cid: string): number | undefined {
    return this.byCid.get(senderId, cid)?.id;
  }

  /** Highest stored message id (0 when empty). */
  maxId(): number {
    return this.db.query<{ id: number | null }, []>("SELECT max(id) AS id FROM messages").get()?.id ?? 0;
  }

  /** Records that a room exists (rooms are listed even when nobody is in them). */
  ensureRoom(name: string, now: number): void {
    this.insertRoom.run(name, now);
  }

  /** Every room name, the lobby first, then by name. */
  roomNames(limit: number): string[] {
    return this.db
      .query<{ name: string }, [number]>(
        "SELECT name FROM rooms ORDER BY name = 'lobby' DESC, created_at DESC, name LIMIT ?",
      )
      .all(limit)
      .map((row) => row.name);
  }

  /** The newest `limit` messages of a room before `before` (default: the newest). */
  roomPage(room: string, limit: number, before = Number.MAX_SAFE_INTEGER): Page {
    return page(this.roomBefore.all(room, before, limit + 1), limit);
  }

  /** A user's private messages (with one other user when `withId` is given) before `before`. */
  privatePage(userId: number, limit: number, before = Number.MAX_SAFE_INTEGER, withId?: number): Page {
    const rows =
      withId === undefined
        ? this.privateBefore.all(userId, before, userId, limit + 1)
        : this.pairBefore.all(userId, withId, withId, userId, before, limit + 1);
    return page(rows, limit);
  }

  /** A room's messages after `since`, at most `cap`; complete unless some were pruned or over the cap. */
  roomSince(room: string, since: number, cap: number): Gap {
    const pruned = this.roomWatermark.get(room)?.pruned_up_to ?? 0;
    const rows = this.roomAfter.all(room, since, cap + 1);
    return { messages: rows.slice(0, cap), complete: since >= pruned && rows.length <= cap };
  }

  /** A user's private messages after `since`, at most `cap`. */
  privateSince(userId: number, since: number, cap: number): Gap {
    const pruned =
      this.db.query<{ value: number }, [string]>("SELECT value FROM meta WHERE key = ?").get(PRIVATE_PRUNED_KEY)
        ?.value ?? 0;
    const rows = this.privateAfter.all(userId, since, userId, cap + 1);
    return { messages: rows.slice(0, cap), complete: since >= pruned && rows.length <= cap };
  }

  /**
   * The highest message id sent before `ts` (0: none). Ids grow with time, so
   * a binary search on the primary key finds it without an index on `ts`
   * (which would cost every insert).
   */
  private lastIdBefore(ts: number): number {
    const firstFrom = this.db.query<{ id: number; ts: number }, [number]>(
      "SELECT id, ts FROM messages WHERE id >= ? ORDER BY id LIMIT 1",
    );
    let low = 0;
    let high = this.maxId();
    // Invariant: messages with id <= low were sent before `ts` (or low = 0); those with id > high were not.
    while (low < high) {
      const middle = Math.floor((low + high + 1) / 2);
      const row = firstFrom.get(middle);
      if (row && row.ts < ts) low = row.id;
      else high = middle - 1;
    }
    return low;
  }

  /** Applies the retention policy; returns how many messages were deleted. */
  prune(now: number): number {
    const { maxPerRoom, maxAgeMs } = this.retention;
    let deleted = 0;
    this.db.transaction(() => {
      if (maxAgeMs > 0) {
        const cutoffId = this.lastIdBefore(now - maxAgeMs);
        if (cutoffId > 0) {
          // Watermarks first: the highest id about to go, per room and for private messages.
          this.db
            .query(
              `UPDATE rooms SET pruned_up_to = max(pruned_up_to,
                 (SELECT coalesce(max(id), 0) FROM messages WHERE messages.room = rooms.name AND id <= ?))`,
            )
            .run(cutoffId);
          const privateMax =
            this.db
              .query<{ id: number | null }, [number]>(
                "SELECT max(id) AS id FROM messages WHERE room IS NULL AND id <= ?",
              )
              .get(cutoffId)?.id ?? 0;
          if (privateMax > 0)
            this.db
              .query(
                `INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)`,
              )
              .run(PRIVATE_PRUNED_KEY, privateMax);
          deleted += this.db.query("DELETE FROM messages WHERE id <= ?").run(cutoffId).changes;
        }
      }
      if (maxPerRoom > 0) {
        const rooms = this.db.query<{ name: string }, []>("SELECT name FROM rooms").all();
        for (const { name } of rooms) {
          const cut = this.db
            .query<IdRow, [string, number]>("SELECT id FROM messages WHERE room = ? ORDER BY id DESC LIMIT 1 OFFSET ?")
            .get(name, maxPerRoom);
          if (!cut) continue;
          this.db.query("UPDATE rooms SET pruned_up_to = max(pruned_up_to, ?) WHERE name = ?").run(cut.id, name);
          deleted += this.db.query("DELETE FROM messages WHERE room = ? AND id <= ?").run(name, cut.id).changes;
        }
      }
    })();
    return deleted;
  }
}

/** Rows came newest first with one extra to tell whether there is more; return oldest first. */
const page = (rows: Row[], limit: number): Page => ({
  messages: rows.slice(0, limit).reverse(),
  more: rows.length > limit,
});
