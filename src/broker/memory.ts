/**
 * The in-process broker (the default): ids from the SQLite-backed sequence,
 * history in SQLite through the batching writer, fan-out through Bun's
 * pub/sub, presence in memory. Every callback is called synchronously, except
 * `sendMessage`'s, which waits for the batch commit.
 */
import type { User } from "../protocol";
import type { IdSequence } from "../store/db";
import type { MessageStore } from "../store/messages";
import { MessageWriter } from "../store/writer";
import {
  ONLINE_SCOPE,
  encodeMessage,
  type Broker,
  type Gap,
  type OutgoingMessage,
  type Page,
  type RoomCount,
  type SendResult,
} from "./broker";

export interface MemoryBrokerDeps {
  ids: IdSequence;
  /** SQLite history; null when history is off. */
  store: MessageStore | null;
  /** Bun's `server.publish`. */
  deliver: (topic: string, text: string) => void;
  /** Closes a user's sockets on this instance. */
  onRevoke: (userId: number) => void;
}

const EMPTY_PAGE: Page = { messages: [], more: false };

export class MemoryBroker implements Broker {
  readonly writer: MessageWriter;
  lastDeliveredId: number;
  /** Scope → user id → sockets, with the user. */
  private readonly scopes = new Map<string, Map<number, { user: User; sockets: number }>>();

  constructor(private readonly deps: MemoryBrokerDeps) {
    this.writer = new MessageWriter(deps.store);
    this.lastDeliveredId = deps.store?.maxId() ?? 0;
  }

  get history(): boolean {
    return this.deps.store !== null;
  }

  sendMessage(message: OutgoingMessage, done: (result: SendResult) => void, failed: (error: unknown) => void): void {
    const resent =
      message.cid !== null &&
      this.writer.resend(message.senderId, message.cid, (id) => done({ id, duplicate: true }), failed);
    if (resent) return;
    const id = this.deps.ids.take();
    const frame = encodeMessage(id, message.frame);
    this.writer.write(
      {
        id,
        room: message.room,
        senderId: message.senderId,
        toId: message.toId,
        cid: message.cid,
        ts: message.ts,
        frame,
      },
      () => {
        this.lastDeliveredId = id;
        for (const topic of message.topics) this.deps.deliver(topic, frame);
        done({ id, duplicate: false });
      },
      failed,
    );
  }

  publish(topic: string, text: string): void {
    this.deps.deliver(topic, text);
  }

  presenceJoin(scope: string, user: User, done: (first: boolean) => void): void {
    let members = this.scopes.get(scope);
    if (!members) this.scopes.set(scope, (members = new Map()));
    const entry = members.get(user.id);
    if (entry) entry.sockets++;
    else members.set(user.id, { user, sockets: 1 });
    done(entry === undefined);
  }

  presenceLeave(scope: string, user: User, done: (last: boolean) => void): void {
    const members = this.scopes.get(scope);
    const entry = members?.get(user.id);
    if (!members || !entry) return done(false);
    if (--entry.sockets > 0) return done(false);
    members.delete(user.id);
    if (members.size === 0) this.scopes.delete(scope);
    done(true);
  }

  members(scope: string, done: (users: User[]) => void): void {
    done([...(this.scopes.get(scope)?.values() ?? [])].map((entry) => entry.user));
  }

  roomCounts(limit: number, done: (rooms: RoomCount[]) => void): void {
    const names = this.deps.store?.roomNames(limit) ?? [];
    for (const scope of this.scopes.keys()) if (scope !== ONLINE_SCOPE && !names.includes(scope)) names.push(scope);
    done(names.map((name) => ({ name, members: this.scopes.get(name)?.size ?? 0 })));
  }

  roomPage(room: string, limit: number, before: number | undefined, done: (page: Page) => void): void {
    done(this.deps.store?.roomPage(room, limit, before) ?? EMPTY_PAGE);
  }

  privatePage(
    userId: number,
    limit: number,
    before: number | undefined,
    withId: number | undefined,
    done: (page: Page) => void,
  ): void {
    done(this.deps.store?.privatePage(userId, limit, before, withId) ?? EMPTY_PAGE);
  }

  roomSince(room: string, since: number, cap: number, done: (gap: Gap) => void): void {
    done(this.deps.store?.roomSince(room, since, cap) ?? { messages: [], complete: true });
  }

  privateSince(userId: number, since: number, cap: number, done: (gap: Gap) => void): void {
    done(this.deps.store?.privateSince(userId, since, cap) ?? { messages: [], complete: true });
  }

  ensureRoom(room: string): void {
    this.deps.store?.ensureRoom(room, Date.now());
  }

  revokeUser(userId: number): void {
    this.deps.onRevoke(userId);
  }

  ready(): boolean {
    return true;
  }

  housekeeping(now: number): number {
    return this.deps.store?.prune(now) ?? 0;
  }

  isPresent(scope: string, userId: number, done: (present: boolean) => void): void {
    done(this.scopes.get(scope)?.has(userId) ?? false);
  }

  async close(): Promise<void> {
    this.writer.flush();
  }
}
