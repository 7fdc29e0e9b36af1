/**
 * Batched, durable message writes. A message is stored before anyone sees it:
 * `write` queues it, and the queue is committed in one transaction at the end
 * of the current event-loop turn (or as soon as it holds MAX_BATCH messages);
 * only then does each message's `after` run (broadcast + ack). Under load many
 * messages share one transaction; when idle a message waits for no timer.
 */
import { isChange, type LogWrite, type MessageChange, type NewMessage } from "../ports/store";

/** Most messages committed in one transaction. */
const MAX_BATCH = 512;

interface Pending {
  /** A message, or a change to one (edit, delete, reaction): the log's entries, committed in order. */
  message: LogWrite;
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

export interface WriterStore {
  /** Commits a batch (all or none). */
  commit(writes: readonly LogWrite[]): void | Promise<void>;
  /** The id of the sender's stored message with this client id: at once (SQLite) or later. */
  findByCid(senderId: number, cid: string): number | undefined | Promise<number | undefined>;
}

export class MessageWriter {
  private queue: Pending[] = [];
  private scheduled = false;
  /** `${senderId}:${cid}` → the queued message, for messages not committed yet. */
  private readonly queuedCids = new Map<string, Pending>();
  /** Batches being committed; `close` waits for them. */
  private inFlight = new Set<Promise<void>>();
  /** Client ids being looked up in the store, by `${senderId}:${cid}`: a second one waits for the answer. */
  private readonly checks = new Map<string, Promise<void>>();
  /** Called once the queue as it is now has been committed (or has failed). */
  private flushWaiters: Array<() => void> = [];
  readonly stats: WriterStats = { stored: 0, batches: 0, commitMs: 0 };

  /** `store` null: history off — messages are delivered at once and never stored. */
  constructor(private readonly store: WriterStore | null) {}

  /** Stores a message, then calls `after`; `failed` instead if the commit fails. */
  write(message: LogWrite, after: () => void, failed: (error: unknown) => void): void {
    if (!this.store) return after();
    const pending: Pending = { message, after, failed };
    this.queue.push(pending);
    if (!isChange(message) && message.cid !== null) this.queuedCids.set(`${message.senderId}:${message.cid}`, pending);
    if (this.queue.length >= MAX_BATCH) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /**
   * Stores a change to a message in the log's order, then calls `after` (whether or not the store
   * applied it: see `change.applied`); `failed` instead if the commit fails.
   */
  change(change: MessageChange, after: () => void, failed: (error: unknown) => void): void {
    if (!this.store) {
      // History off: there is no stored message to change.
      change.applied = false;
      change.refused = "not_found";
      return after();
    }
    this.write(change, after, failed);
  }

  /**
   * Writes the message `make` gives, unless the sender's client id is already stored or queued: then
   * `duplicate(id)` runs with the original's id, once the original is committed (so a resend's ack
   * never comes before the original's broadcast). A second message with the same id arriving while
   * the store is still being asked waits for that answer, so two sockets of one account resending
   * together store it once.
   */
  writeOnce(
    senderId: number,
    cid: string,
    make: () => NewMessage,
    stored: (message: NewMessage) => void,
    duplicate: (id: number) => void,
    failed: (error: unknown) => void,
  ): Promise<void> | void {
    const key = `${senderId}:${cid}`;
    const queued = this.queuedCids.get(key);
    if (queued) {
      const original = queued.message as NewMessage;
      (queued.resends ??= []).push({ after: () => duplicate(original.id), failed });
      return;
    }
    const asking = this.checks.get(key);
    if (asking) return asking.then(() => this.writeOnce(senderId, cid, make, stored, duplicate, failed));
    if (!this.store) {
      const message = make();
      return this.write(message, () => stored(message), failed);
    }
    let found: number | undefined | Promise<number | undefined>;
    try {
      found = this.store.findByCid(senderId, cid);
    } catch (error) {
      return failed(error);
    }
    // Answered at once: no promise, and the socket's next frame need not wait for one.
    if (!(found instanceof Promise)) {
      if (found !== undefined) return duplicate(found);
      const message = make();
      return this.write(message, () => stored(message), failed);
    }
    const check = found.then(
      (id) => {
        if (id !== undefined) return duplicate(id);
        const message = make();
        this.write(message, () => stored(message), failed);
      },
      (error: unknown) => failed(error),
    );
    this.checks.set(key, check);
    return check.finally(() => this.checks.delete(key));
  }

  /** Resolves once every message queued so far is committed (or failed) and answered. */
  async settled(): Promise<void> {
    for (;;) {
      if (this.queue.length > 0) await new Promise<void>((resolve) => this.flushWaiters.push(resolve));
      else if (this.inFlight.size > 0) await Promise.all(this.inFlight);
      else return;
    }
  }

  /** Commits whatever is queued now (also called on shutdown). */
  flush(): void {
    this.scheduled = false;
    const waiters = this.flushWaiters;
    this.flushWaiters = [];
    try {
      this.commitQueue();
    } finally {
      for (const wake of waiters) wake();
    }
  }

  private commitQueue(): void {
    // One batch at a time: a batch committed before the one ahead of it would be delivered out of order.
    if (this.queue.length === 0 || !this.store || this.inFlight.size > 0) return;
    const batch = this.queue;
    this.queue = [];
    const started = performance.now();
    const settle = (error?: unknown) => {
      for (const pending of batch) {
        const message = pending.message;
        if (!isChange(message) && message.cid !== null) {
          const key = `${message.senderId}:${message.cid}`;
          if (this.queuedCids.get(key) === pending) this.queuedCids.delete(key);
        }
      }
      if (error !== undefined) {
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
    };
    let result: void | Promise<void>;
    try {
      result = this.store.commit(batch.map((pending) => pending.message));
    } catch (error) {
      return settle(error ?? new Error("commit failed"));
    }
    if (!(result instanceof Promise)) return settle();
    const done = result.then(
      () => settle(),
      (error: unknown) => settle(error ?? new Error("commit failed")),
    );
    this.inFlight.add(done);
    void done.finally(() => {
      this.inFlight.delete(done);
      if (this.queue.length > 0) this.flush();
    });
  }

  /** Commits what is queued and waits for every batch in flight. */
  async close(): Promise<void> {
    this.flush();
    await Promise.all(this.inFlight);
  }
}
