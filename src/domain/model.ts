/**
 * The records teahouse keeps, independent of where they are kept (no Bun, no
 * Elysia, no SQL). An account outlives its sessions; rooms and direct
 * conversations are one concept, a conversation; what an account belongs to
 * is a membership, with its read position; a message is a record, and frames
 * are encoded from it.
 */

export type AccountKind = "guest" | "member";

export interface Account {
  id: number;
  kind: AccountKind;
  /** The name as shown (trimmed, NFC). */
  name: string;
  /** The comparison key of the name (domain/names.ts); null once a guest's released name went to someone else. */
  nameKey: string | null;
  /** Avatar index. */
  image: number;
  /** The browser (device cookie) that last signed in to it: a guest's own browser gets it back. */
  device: string | null;
  createdAt: number;
  /** Last socket or request activity (ms): a guest's name is held for a grace after it. */
  lastActive: number;
  /** Its server role when above its kind's (domain/policy.ts). */
  role: "owner" | "admin" | null;
}

export interface SessionRecord {
  sid: string;
  accountId: number;
  createdAt: number;
  lastSeen: number;
}

export type ConversationKind = "room" | "direct";

export interface Conversation {
  id: number;
  kind: ConversationKind;
  /** A room's name; null for a direct conversation. */
  name: string | null;
  /** A direct conversation's two accounts, lowest id first (the same twice for notes to oneself). */
  pair: readonly [number, number] | null;
  createdAt: number;
}

/**
 * What a conversation notifies its member of: every message, only mentions and direct messages, or
 * nothing. Kept with the membership; a membership that never chose has its kind's default.
 */
export type NotifyLevel = "all" | "mentions" | "none";
/** Rooms tell of mentions only, direct conversations of everything, until their member chooses. */
export const defaultNotifyLevel = (kind: ConversationKind): NotifyLevel => (kind === "room" ? "mentions" : "all");

/** One of an account's conversations, with what its unread badge needs. */
export interface MembershipView {
  conversation: Conversation;
  /** Its notification level (the kind's default when never chosen). */
  notify: NotifyLevel;
  /** Highest message id the account has read here. */
  readUpTo: number;
  /** Messages from others after `readUpTo` (capped). */
  unread: number;
  /** Newest message id (0: none). */
  lastId: number;
  /** The log position of the newest change to one of its messages (0: none): a resume past both missed nothing. */
  lastChange: number;
  /** Unread messages that mention the account (capped like `unread`). */
  mentions: number;
  /** A direct conversation: the other account (the account itself for notes to oneself). */
  peer?: Pick<Account, "id" | "kind" | "name" | "image" | "nameKey">;
  /** A room: its own settings, and the account's standing there. */
  rules?: RoomRulesView;
}

/** A room's settings and one member's standing in it, as read with the membership. */
export interface RoomRulesView {
  topic: string;
  private: boolean;
  slowSeconds: number;
  /** Its creator (null: the lobby, or unknown). */
  ownerId: number | null;
  /** The member is one of its moderators. */
  moderator: boolean;
  /** The member is muted until then (ms; 0: not). */
  mutedUntil: number;
}

/** The room part of a membership row (both stores select these columns). */
export const rulesOf = (row: {
  kind: string;
  topic?: string | null;
  private?: number | boolean;
  slow_seconds?: number;
  created_by?: number | null;
  moderator?: number | boolean;
  muted_until?: number | null;
}): RoomRulesView | undefined =>
  row.kind !== "room"
    ? undefined
    : {
        topic: row.topic ?? "",
        private: row.private === true || row.private === 1,
        slowSeconds: Number(row.slow_seconds ?? 0),
        ownerId: row.created_by === null || row.created_by === undefined ? null : Number(row.created_by),
        moderator: row.moderator === true || row.moderator === 1,
        mutedUntil: row.muted_until === null || row.muted_until === undefined ? 0 : Number(row.muted_until),
      };

export interface Message {
  id: number;
  conversationId: number;
  senderId: number;
  body: string;
  /** The sender's id for it, for de-duplicating resends; null when none was given. */
  cid: string | null;
  createdAt: number;
  editedAt: number | null;
  deletedAt: number | null;
  /** The message of the same conversation this one answers (null: none). */
  replyTo: number | null;
  /** Accounts mentioned (`@name` of a member, resolved when sent or edited). */
  mentions: readonly number[];
  /** The file it carries (its text is the caption); gone when the message is deleted. */
  file?: FileInfo;
}

/**
 * A file a message carries: its content's SHA-256 (the blob's name: the same bytes are kept once),
 * the sanitised name, the type sniffed from the bytes, the size in bytes, and for an image shown
 * inline its dimensions (as the browser shows it, EXIF orientation applied).
 */
export interface FileInfo {
  hash: string;
  name: string;
  type: string;
  size: number;
  /** Shown inline (PNG, JPEG, GIF, WebP with readable dimensions); anything else is a download. */
  inline: boolean;
  width: number | null;
  height: number | null;
}

/** One emoji's reactions to a message: how many, and the first REACTION_USERS_SHOWN who reacted. */
export interface Reaction {
  emoji: string;
  count: number;
  users: ReadonlyArray<{ id: number; name: string }>;
}

/** The start of the message a reply answers, as the reply shows it. */
export interface ReplyQuote {
  id: number;
  sender: Pick<Account, "id" | "kind" | "name" | "image"> & { nameKey?: string | null };
  /** The original's first REPLY_QUOTE_LENGTH characters ("" once deleted). */
  body: string;
  deletedAt: number | null;
}

/** Characters of the original a reply quotes. */
export const REPLY_QUOTE_LENGTH = 100;
/** Distinct emoji one message may carry. */
export const MAX_REACTIONS_PER_MESSAGE = 20;
/** Accounts named per emoji in a reaction (the count is exact). */
export const REACTION_USERS_SHOWN = 50;
/** `@name`s resolved per message. */
export const MAX_MENTIONS_PER_MESSAGE = 20;

/** What changed a message after it was sent: each change is a log entry of its own (its `seq`). */
export type ChangeKind = "edit" | "delete" | "react";

/** A message with what encoding its frame needs: the sender as others see them. */
export interface MessageView extends Message {
  /** The sender; `nameKey` null: a guest whose released name went to someone else (see shownName). */
  sender: Pick<Account, "id" | "kind" | "name" | "image"> & { nameKey?: string | null };
  /** The answered message as it is now (undefined: no reply, or the original is gone). */
  quote?: ReplyQuote;
  reactions: readonly Reaction[];
  /** The log position of the message's last change, and what it was (null: never changed). */
  rev: number | null;
  change: ChangeKind | null;
}

/**
 * The name others see: a guest whose released name someone else took is shown with its id
 * (`bob#12`), so its old messages are never taken for the new bob's.
 */
export const shownName = (account: Pick<Account, "id" | "name"> & { nameKey?: string | null }): string =>
  account.nameKey === null ? `${account.name}#${account.id}` : account.name;

/** A page of messages, oldest first; `more`: older ones exist. */
export interface MessagePage {
  messages: MessageView[];
  more: boolean;
}

/** The messages after a position; `complete`: none of them was pruned or left out. */
export interface MessageGap {
  messages: MessageView[];
  complete: boolean;
}

/** Unread counts stop at this: the page shows "99+" past 99, and counting further only costs every socket open. */
export const UNREAD_COUNT_CAP = 100;
