/**
 * Batched, durable message writes. A message is stored before anyone sees it:
 * `write` queues it, and the queue is committed in one transaction at the end
 * of the current event-loop turn (or as soon as it holds MAX_BATCH messages);
 * only then does each message's `after` run (broadcast + ack). Under load many
 * messages share one transaction; when idle a message waits for no timer.
 */
import type { MessageRecord, MessageStore } from "./messages";

/** Most messages committed in one transaction. */
const MAX_BATCH = 512;

interface Pending {
  record: MessageRecord;
  after: () => void;
  failed: (error: unknown) => void;
  /** Resends of the same cid that arrived while this one was queued: answered when it is. */
  resends?: Array<{ after: () => void; failed: (error: unknown) => void }>;
}

export interface WriterStats {
  /** Messages committed. */
  stored: number;
  /** Transactions committed. */
  batches: number;
  /** Total time spent committing, ms. */
  commitMs: number;
}

export class MessageWriter {
  private queue: Pending[] = [];
  private scheduled = false;
  /** `${senderId}:${cid}` → the queued message, for messages not committed yet. */
  private readonly queuedCids = new Map<string, Pending>();
  readonly stats: WriterStats = { stored: 0, batches: 0, commitMs: 0 };

  /** `store` null: history off — messages are delivered at once and never stored. */
  constructor(private readonly store: MessageStore | null) {}

  /** Stores a message, then calls `after`; `failed` instead if the commit fails. */
  write(record: MessageRecord, after: () => void, failed: (error: unknown) => void): void {
    if (!this.store) return after();
    const pending: Pending = { record, after, failed };
    this.queue.push(pending);
    if (record.cid !== null) this.queuedCids.set(`${record.senderId}:${record.cid}`, pending);
    if (this.queue.length >= MAX_BATCH) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /**
   * A resend of a client message id: when the original is still queued, `after(id)` runs once it
   * is committed (so the resend's ack never comes before the original's broadcast) and true is
   * returned; when it is stored already, `after(id)` runs now. False: not seen, store it.
   */
  resend(senderId: number, cid: string, after: (id: number) => void, failed: (error: unknown) => void): boolean {
    const queued = this.queuedCids.get(`${senderId}:${cid}`);
    if (queued) {
      (queued.resends ??= []).push({ after: () => after(queued.record.id), failed });
      return true;
    }
    const stored = this.store?.findByCid(senderId, cid);
    if (stored === undefined) return false;
    after(stored);
    return true;
  }

  /** Commits whatever is queued now (also called on shutdown). */
  flush(): void {
    this.scheduled = false;
    if (this.queue.length === 0 || !this.store) return;
    const batch = this.queue;
    this.queue = [];
    this.queuedCids.clear();
    const started = performance.now();
    try {
      this.store.commit(batch.map((pending) => pending.record));
    } catch (error) {
      for (const pending of batch) {
        pending.failed(error);
        for (const resend of pending.resends ?? []) resend.failed(error);
      }
      return;
    }
    this.stats.commitMs += performance.now() - started;
    this.stats.batches++;
    this.stats.stored += batch.length;
    for (const pending of batch) {
      pending.after();
      for (const resend of pending.resends ?? []) resend.after();
    }
  }
}
