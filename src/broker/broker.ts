/**
 * The Broker: everything the chat hub needs that must be shared when several
 * teahouse instances serve one room — message ids, storage and fan-out,
 * presence, history. Two implementations: in-process (Bun pub/sub + SQLite,
 * the default) and Redis (REDIS_URL). The hub does not know which it has.
 *
 * The API takes callbacks rather than promises so the in-process broker
 * answers synchronously (no microtask per message on the hot path) while the
 * Redis broker answers when Redis does.
 */
import type { ServerFrameOf, User } from "../protocol";

/** A message frame before the broker gives it an id. */
export type MessageFrame = Omit<ServerFrameOf<"chat">, "id"> | Omit<ServerFrameOf<"private">, "id">;

/** A chat or private message to store and deliver. */
export interface OutgoingMessage {
  /** The `chat` or `private` frame without its id (the broker assigns it and encodes the frame once). */
  frame: MessageFrame;
  /** Room of a chat message; null for a private message. */
  room: string | null;
  senderId: number;
  /** Recipient of a private message; null for a chat message. */
  toId: number | null;
  cid: string | null;
  ts: number;
  /** Pub/sub topics to deliver to (room topic, or both users' topics). */
  topics: string[];
}

/** A stored message: its id and its frame exactly as delivered. */
export interface StoredFrame {
  id: number;
  frame: string;
}

/** A page of history, oldest first; `more`: older messages exist. */
export interface Page {
  messages: StoredFrame[];
  more: boolean;
}

/** Messages after an id; `complete`: nothing after it was pruned or left out. */
export interface Gap {
  messages: StoredFrame[];
  complete: boolean;
}

/** How a message send ended. */
export type SendResult = { id: number; duplicate: boolean };

export interface RoomCount {
  name: string;
  members: number;
}

/** Presence scope of "has a socket anywhere" (private messages need it). */
export const ONLINE_SCOPE = "\u0000online";

export interface Broker {
  /**
   * Assigns the message its id (increasing across the cluster, in delivery
   * order), stores it when history is on, delivers it to its topics on every
   * instance, then calls `done`. A `cid` already stored for the sender is not
   * stored or delivered again: `done` gets its id with `duplicate: true`.
   */
  sendMessage(message: OutgoingMessage, done: (result: SendResult) => void, failed: (error: unknown) => void): void;
  /** Delivers an encoded event frame (join, left, typing) to a topic on every instance. */
  publish(topic: string, text: string): void;
  /** Highest message id delivered on this instance so far. */
  readonly lastDeliveredId: number;

  /** One more socket of `user` in `scope` (a room, or ONLINE_SCOPE); `first`: the user's first in the cluster. */
  presenceJoin(scope: string, user: User, done: (first: boolean) => void): void;
  /** One socket fewer; `last`: the user has no socket left in `scope` in the cluster. */
  presenceLeave(scope: string, user: User, done: (last: boolean) => void): void;
  /** Whether a user has a socket in a scope anywhere in the cluster. */
  isPresent(scope: string, userId: number, done: (present: boolean) => void): void;
  /** The users in a scope, one entry per user. */
  members(scope: string, done: (users: User[]) => void): void;
  /** The rooms (known ones and occupied ones) with their member counts. */
  roomCounts(limit: number, done: (rooms: RoomCount[]) => void): void;

  /** Whether history is kept. */
  readonly history: boolean;
  roomPage(room: string, limit: number, before: number | undefined, done: (page: Page) => void): void;
  privatePage(
    userId: number,
    limit: number,
    before: number | undefined,
    withId: number | undefined,
    done: (page: Page) => void,
  ): void;
  roomSince(room: string, since: number, cap: number, done: (gap: Gap) => void): void;
  privateSince(userId: number, since: number, cap: number, done: (gap: Gap) => void): void;
  /** Records that a room exists. */
  ensureRoom(room: string): void;

  /** Closes every socket of a user on every instance (sign-out). */
  revokeUser(userId: number): void;
  /** True while the broker can serve (Redis connected). */
  ready(): boolean;
  /** Applies history retention and other periodic work; returns the number of messages pruned. */
  housekeeping(now: number): number;
  /** Flushes pending writes and disconnects. */
  close(): Promise<void>;
}

/** Encodes a message frame with its id first. */
export const encodeMessage = (id: number, frame: MessageFrame): string => JSON.stringify({ id, ...frame });
