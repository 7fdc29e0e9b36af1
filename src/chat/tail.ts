/**
 * Delivers the message log on this instance, in id order, each message once.
 *
 * With one process (SQLite) the writer commits one batch at a time and ids
 * are taken in commit order: a committed message is delivered at once. With
 * PostgreSQL several instances commit into one log whose ids are gapless and
 * assigned in commit order (store/postgres.ts), so "delivered up to N" is a
 * prefix of the log: a message is delivered when every id below it has been.
 * Messages arrive three ways: this instance's own commits, other instances'
 * over the bus, and (for whatever the bus lost) reads of the store, asked for
 * whenever an id turns up past a hole and by a periodic poll of the log head.
 * The rule is the same for all: ids up to `last` are skipped, a hole before
 * the next one is read from the store first.
 */
import type { LogEntry } from "../ports/store";
import type { LogItem } from "../ports/bus";
import type { Logger } from "../log";

export interface TailDeps {
  /** Whether ids are gapless (PostgreSQL): holes are read from the store before going on. */
  sequenced: boolean;
  /** Messages with id in (after, upTo], oldest first, at most `limit`. */
  read: (after: number, upTo: number, limit: number) => Promise<LogEntry[]>;
  encode: (entry: LogEntry) => LogItem;
  /** Hands one message to this instance's sockets. */
  deliver: (item: LogItem) => void;
  log: Logger;
}

/** Messages read from the store per query when filling a hole. */
const READ_CHUNK = 500;
/** A failed read is tried again after this long, this many times in all. */
const READ_RETRY_MS = 500;
const READ_ATTEMPTS = 10;

export class LogTail {
  /** Highest id delivered here: history sent to a socket stops there, later ones come live. */
  last = 0;
  /** Work waiting for a hole to be read (null: none; then a message in order is delivered at once). */
  private chain: Promise<void> | null = null;

  constructor(private readonly deps: TailDeps) {}

  /** A message committed here; `after` (the ack) runs once it is delivered. */
  own(item: LogItem, after: () => void): void {
    if (!this.deps.sequenced) {
      this.last = Math.max(this.last, item.id);
      this.deps.deliver(item);
      return after();
    }
    this.apply([item], after);
  }

  /** Messages another instance committed (ids ascending). */
  remote(items: readonly LogItem[]): void {
    if (items.length > 0) this.apply(items);
  }

  /** The log is known to reach `head`: whatever is missing up to it is read and delivered. */
  reach(head: number): void {
    if (head <= this.last && this.chain === null) return;
    this.then(() => this.fill(head));
  }

  /** Resolves once everything handed over so far has been delivered (tests). */
  async settled(): Promise<void> {
    while (this.chain) await this.chain;
  }

  private apply(items: readonly LogItem[], after?: () => void): void {
    if (this.chain === null && items[0]!.id <= this.last + 1) return this.deliverAll(items, after);
    this.then(async () => {
      try {
        await this.fill(items[0]!.id - 1);
      } catch (error) {
        // The store stayed unreadable: go on rather than hold every later message back (clients fill
        // the hole from history when they reconnect, which a store outage makes them do).
        this.deps.log.error("log.hole_skipped", {
          after: this.last,
          upTo: items[0]!.id - 1,
          error: String((error as Error)?.message ?? error),
        });
      }
      this.deliverAll(items, after);
    });
  }

  private deliverAll(items: readonly LogItem[], after?: () => void): void {
    for (const item of items) {
      if (item.id <= this.last) continue;
      this.last = item.id;
      this.deps.deliver(item);
    }
    after?.();
  }

  /** Reads and delivers every message in (last, upTo], retrying a failed read for a while. */
  private async fill(upTo: number): Promise<void> {
    let failures = 0;
    while (this.last < upTo) {
      let entries: LogEntry[];
      try {
        entries = await this.deps.read(this.last, upTo, READ_CHUNK);
      } catch (error) {
        if (++failures >= READ_ATTEMPTS) throw error;
        await Bun.sleep(READ_RETRY_MS);
        continue;
      }
      if (entries.length === 0) {
        // Nothing stored there (pruned already): the hole is empty.
        this.last = upTo;
        return;
      }
      for (const entry of entries) {
        if (entry.message.id <= this.last) continue;
        this.last = entry.message.id;
        this.deps.deliver(this.deps.encode(entry));
      }
      if (entries.length < READ_CHUNK) this.last = Math.max(this.last, upTo);
    }
  }

  private then(work: () => Promise<void> | void): void {
    const run = async () => {
      try {
        await work();
      } catch (error) {
        this.deps.log.error("log.read_failed", { error: String((error as Error)?.message ?? error) });
      }
    };
    const next: Promise<void> = (this.chain ?? Promise.resolve()).then(run);
    this.chain = next;
    void next.then(() => {
      if (this.chain === next) this.chain = null;
    });
  }
}
