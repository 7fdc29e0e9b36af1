/**
 * An online account's conversations, found by id, by room name, and by the other account of a
 * direct one. Kept for every account online, so small on purpose: most accounts are in a handful of
 * conversations, and a list searched in order costs one array where three maps (by id, by name, by
 * peer) cost ~800 bytes per account. Past SMALL_LIST the lookups get maps.
 */
import type { Conversation } from "../domain/model";

/** Conversations searched in order; more are looked up in maps. */
const SMALL_LIST = 8;

interface Index {
  byId: Map<number, Conversation>;
  rooms: Map<string, Conversation>;
  directs: Map<number, Conversation>;
}

export class Memberships {
  /** In the order they were added (rooms are listed, and entered at open, in that order). */
  private readonly list: Conversation[] = [];
  private index: Index | undefined = undefined;

  constructor(private readonly accountId: number) {}

  get(id: number): Conversation | undefined {
    if (this.index) return this.index.byId.get(id);
    for (const conversation of this.list) if (conversation.id === id) return conversation;
    return undefined;
  }

  has(id: number): boolean {
    return this.get(id) !== undefined;
  }

  /** The room of that name among them. */
  room(name: string): Conversation | undefined {
    if (this.index) return this.index.rooms.get(name);
    for (const conversation of this.list) if (conversation.name === name) return conversation;
    return undefined;
  }

  /** The direct conversation with that account among them. */
  direct(accountId: number): Conversation | undefined {
    if (this.index) return this.index.directs.get(accountId);
    for (const conversation of this.list) if (this.peerOf(conversation) === accountId) return conversation;
    return undefined;
  }

  /** The rooms among them, in the order they were added. */
  rooms(): Conversation[] {
    return this.list.filter((conversation) => conversation.kind === "room");
  }

  get roomCount(): number {
    let count = 0;
    for (const conversation of this.list) if (conversation.kind === "room") count++;
    return count;
  }

  /** Adds a conversation (one already there is replaced in its place). */
  add(conversation: Conversation): void {
    const at = this.list.findIndex((known) => known.id === conversation.id);
    if (at >= 0) {
      this.unindex(this.list[at]!);
      this.list[at] = conversation;
    } else this.list.push(conversation);
    if (this.index) this.indexOne(conversation);
    else if (this.list.length > SMALL_LIST) {
      this.index = { byId: new Map(), rooms: new Map(), directs: new Map() };
      for (const known of this.list) this.indexOne(known);
    }
  }

  /** Removes a conversation; false when it was not there. */
  delete(id: number): boolean {
    const at = this.list.findIndex((known) => known.id === id);
    if (at < 0) return false;
    this.unindex(this.list[at]!);
    this.list.splice(at, 1);
    return true;
  }

  /** The other account of a direct conversation (itself for notes to oneself); undefined for a room. */
  private peerOf(conversation: Conversation): number | undefined {
    if (conversation.kind === "room") return undefined;
    const [a, b] = conversation.pair!;
    return a === this.accountId ? b : a;
  }

  private indexOne(conversation: Conversation): void {
    const index = this.index!;
    index.byId.set(conversation.id, conversation);
    const peer = this.peerOf(conversation);
    if (peer === undefined) index.rooms.set(conversation.name!, conversation);
    else index.directs.set(peer, conversation);
  }

  private unindex(conversation: Conversation): void {
    const index = this.index;
    if (!index) return;
    index.byId.delete(conversation.id);
    const peer = this.peerOf(conversation);
    if (peer === undefined) index.rooms.delete(conversation.name!);
    else index.directs.delete(peer);
  }
}

/**
 * One object per conversation for every account online in it: each account's memberships are read
 * from the store apart, and a copy each (~150 bytes with its strings) multiplied by the accounts in
 * the lobby adds up. Conversations never change once made. One nobody holds any more is dropped by
 * the garbage collector (a weak reference), and its entry with it.
 */
export class ConversationInterner {
  private readonly known = new Map<number, WeakRef<Conversation>>();
  private readonly collected = new FinalizationRegistry<number>((id) => {
    if (this.known.get(id)?.deref() === undefined) this.known.delete(id);
  });

  /** The object already held for this conversation, or this one, held from now on. */
  intern(conversation: Conversation): Conversation {
    const held = this.known.get(conversation.id)?.deref();
    if (held && sameConversation(held, conversation)) return held;
    this.known.set(conversation.id, new WeakRef(conversation));
    this.collected.register(conversation, conversation.id);
    return conversation;
  }

  /** Conversations held (tests). */
  get size(): number {
    return this.known.size;
  }
}

const sameConversation = (a: Conversation, b: Conversation): boolean =>
  a.kind === b.kind &&
  a.name === b.name &&
  a.createdAt === b.createdAt &&
  a.pair?.[0] === b.pair?.[0] &&
  a.pair?.[1] === b.pair?.[1];
