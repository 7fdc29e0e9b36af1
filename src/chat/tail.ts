/**
 * Delivers the message log on this instance, in id order, each message once.
 *
 * With one process (SQLite) the writer commits one batch at a time and ids
 * are taken in commit order: a committed message is delivered at once. With
 * PostgreSQL several instances commit into one log whose ids are gapless and
 * assigned in commit order (store/postgres.ts), so "delivered up to N" is a
 * prefix of the log: a message is delivered when every id below it has been.
 * Messages arrive three ways: this instance's own commits, other instances'
 * over the bus, and reads of the store. A message past a hole waits in a
 * reorder buffer; the hole is usually filled by the bus within a moment
 * (another instance committed just before and is announcing it), and only if
 * it is not, after HOLE_GRACE_MS, is it read from the store. A periodic poll
 * of the log's head (`reach`) brings whatever the bus lost.
 */
import type { LogEntry } from "../ports/store";
import type { LogItem } from "../ports/bus";
import type { Logger } from "../log";

export interface TailDeps {
  /** Whether ids are gapless (PostgreSQL): holes are waited for, then read from the store. */
  sequenced: boolean;
  /** The log's entries in (after, upTo] by position, and how far that read is complete (Store.log). */
  read: (after: number, upTo: number, limit: number) => Promise<{ entries: LogEntry[]; reached: number }>;
  encode: (entry: LogEntry) => LogItem;
  /** Hands one message to this instance's sockets. */
  deliver: (item: LogItem) => void;
  log: Logger;
}

/** How long a hole may wait for the bus before it is read from the store. */
export const HOLE_GRACE_MS = 30;
/** Messages read from the store per query when filling a hole. */
const READ_CHUNK = 500;
/** A failed read is tried again after this long, this many times in all; then the hole is skipped. */
const READ_RETRY_MS = 500;
const READ_ATTEMPTS = 10;

interface Waiting {
  item: LogItem;
  /** The ack of a message committed here. */
  after?: () => void;
}

export class LogTail {
  /** Highest id delivered here: history sent to a socket stops there, later ones come live. */
  last = 0;
  /** Messages past a hole, by id. */
  private readonly waiting = new Map<number, Waiting>();
  /** The log is known to reach at least this far (from the poll of its head). */
  private head = 0;
  private timer: Timer | undefined;
  private filling: Promise<void> | null = null;

  constructor(private readonly deps: TailDeps) {}

  /** A message committed here; `after` (the ack) runs once it is delivered. */
  own(item: LogItem, after: () => void): void {
    if (!this.deps.sequenced) {
      this.last = Math.max(this.last, item.id);
      this.deps.deliver(item);
      return after();
    }
    this.accept(item, after);
    this.advance();
  }

  /** Messages another instance committed (ids ascending). */
  remote(items: readonly LogItem[]): void {
    if (!this.deps.sequenced) {
      // Not a shared log (history off): nothing to order by, delivered as heard.
      for (const item of items) this.deps.deliver(item);
      return;
    }
    for (const item of items) this.accept(item);
    this.advance();
  }

  /** The log is known to reach `head`: whatever is missing up to it is read and delivered. */
  reach(head: number): void {
    if (head <= this.last) return;
    this.head = Math.max(this.head, head);
    this.advance();
  }

  /** Resolves once nothing is waiting (tests). */
  async settled(): Promise<void> {
    while (this.waiting.size > 0 || this.filling || this.timer) await Bun.sleep(5);
  }

  private accept(item: LogItem, after?: () => void): void {
    if (item.id <= this.last) {
      after?.();
      return;
    }
    const known = this.waiting.get(item.id);
    if (known) {
      // The same message twice (own commit and a read of the store): keep the ack.
      if (after) known.after = after;
      return;
    }
    this.waiting.set(item.id, after ? { item, after } : { item });
  }

  /** Delivers whatever follows `last` without a hole; a hole left starts its grace timer. */
  private advance(): void {
    for (let next = this.waiting.get(this.last + 1); next; next = this.waiting.get(this.last + 1)) {
      this.waiting.delete(this.last + 1);
      this.last++;
      this.deps.deliver(next.item);
      next.after?.();
    }
    const behind = this.waiting.size > 0 || this.head > this.last;
    if (!behind) {
      clearTimeout(this.timer);
      this.timer = undefined;
      return;
    }
    if (this.timer || this.filling) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.filling = this.fill().finally(() => {
        this.filling = null;
        this.advance();
      });
    }, HOLE_GRACE_MS);
  }

  /** The lowest id waiting (or the head): the hole is everything between `last` and it. */
  private holeEnd(): number {
    let lowest = Number.POSITIVE_INFINITY;
    for (const id of this.waiting.keys()) if (id < lowest) lowest = id;
    return lowest === Number.POSITIVE_INFINITY ? this.head : lowest - 1;
  }

  /** Reads the hole from the store and delivers it, retrying a failed read for a while. */
  private async fill(): Promise<void> {
    let failures = 0;
    for (let upTo = this.holeEnd(); this.last < upTo; upTo = this.holeEnd()) {
      let entries: LogEntry[];
      let reached: number;
      try {
        ({ entries, reached } = await this.deps.read(this.last, upTo, READ_CHUNK));
      } catch (error) {
        if (++failures < READ_ATTEMPTS) {
          await Bun.sleep(READ_RETRY_MS);
          continue;
        }
        // The store stayed unreadable: go on rather than hold every later message back (clients fill
        // the hole from history when they reconnect, which a store outage makes them do).
        this.deps.log.error("log.hole_skipped", {
          after: this.last,
          upTo,
          error: String((error as Error)?.message ?? error),
        });
        this.last = Math.max(this.last, upTo);
        return;
      }
      for (const entry of entries) {
        const id = entry.seq;
        if (id <= this.last) continue;
        const waiting = this.waiting.get(id);
        this.waiting.delete(id);
        this.last = id;
        this.deps.deliver(waiting?.item ?? this.deps.encode(entry));
        waiting?.after?.();
      }
      // Positions the store does not have up to where the read reached were pruned already, or were
      // changes superseded by a later one to the same message: empty.
      this.last = Math.max(this.last, reached);
      for (const [id, waiting] of this.waiting)
        if (id <= this.last) {
          this.waiting.delete(id);
          waiting.after?.();
        }
    }
  }
}
