/**
 * The durable store, as the services see it: accounts, sessions,
 * conversations, memberships with read positions, and the message log. Every
 * method answers with a promise (a networked store, PostgreSQL, comes next);
 * the SQLite adapter (store/sqlite.ts) answers at once. A method that cannot
 * do its job rejects: nothing half done stays behind (each is one transaction).
 */
import type {
  Account,
  AccountKind,
  ChangeKind,
  Conversation,
  Message,
  MessageView,
  MessageGap,
  MessagePage,
  MembershipView,
  NotifyLevel,
  SessionRecord,
} from "../domain/model";
import type { SearchPlan } from "../domain/search";
import type {
  AccountListing,
  AuditEntry,
  BanRecord,
  Invite,
  InviteUse,
  Report,
  RoomMember,
  RoomSettings,
  ServerSettings,
} from "../domain/moderation";

/** Index matches a search looks at per call at most (then it says where to go on). */
export const SEARCH_SCAN = 2000;

export interface NewAccount {
  kind: AccountKind;
  name: string;
  nameKey: string;
  image: number;
  passwordHash: string | null;
  device: string | null;
  now: number;
}

export interface AccountPatch {
  kind?: AccountKind;
  name?: string;
  nameKey?: string | null;
  passwordHash?: string | null;
  device?: string | null;
}

/**
 * A new message before it is stored. Its id is either taken before (SQLite: one process, one id
 * sequence) or 0, and then set by `append` in commit order (PostgreSQL: the log's head row).
 */
export type NewMessage = Omit<Message, "editedAt" | "deletedAt">;

/**
 * A change to a stored message, written to the log like a message: `seq` is its log position, taken
 * before (SQLite) or 0 and set by `append` in commit order (PostgreSQL). `append` applies it only if
 * it still may (the message is there, not deleted, and for an edit or a delete by its author unless
 * `anyAuthor`), and says so in `applied`; then `message` is the message as it is after the change.
 */
export interface MessageChange {
  seq: number;
  kind: ChangeKind;
  messageId: number;
  actorId: number;
  at: number;
  /** An edit's new text and mentions. */
  body?: string;
  mentions?: readonly number[];
  /** A reaction toggled by `actorId`. */
  emoji?: string;
  /** A delete by a moderator (any author's message). */
  anyAuthor?: boolean;
  /** Set by `append`. */
  applied?: boolean;
  /** Why it was not applied: the message is gone or deleted, not the actor's, or has too many reactions. */
  refused?: "not_found" | "not_yours" | "too_many_reactions";
  message?: MessageView;
}

/** One entry of a batch: a new message or a change to one, applied in order. */
export type LogWrite = NewMessage | MessageChange;
export const isChange = (write: LogWrite): write is MessageChange => "kind" in write;

/**
 * A log entry with its conversation (what delivering it needs): a message at its id (`seq` = id), or
 * the last change to a message at that change's position (`change` set, `message` as it is now).
 */
export interface LogEntry {
  seq: number;
  change: ChangeKind | null;
  message: MessageView;
  conversation: Conversation;
}

/** A read position after `markRead`, with what is still unread after it (capped). */
export interface ReadState {
  readUpTo: number;
  unread: number;
  mentions: number;
}

/** Which messages a search may find: the account's conversations, and the query's filters. */
export interface SearchScope {
  conversationIds: readonly number[];
  senderId?: number;
  /** Sent at or after / before these times (ms). */
  after?: number;
  before?: number;
}

/** A page of search results, newest first; `next`: the `before` of the next page, while there may be more. */
export interface SearchPage {
  messages: MessageView[];
  next?: number;
}

/** How far the search index has come: every message with id <= `upTo` is indexed. */
/** A browser's push subscription (the PushSubscription JSON's endpoint and keys). */
export interface PushSubscriptionRecord {
  endpoint: string;
  /** The browser's P-256 public key, base64url. */
  p256dh: string;
  /** The browser's authentication secret, base64url. */
  auth: string;
}

/** A member of a conversation who may be pushed to there: one row per subscription. */
export interface PushTarget extends PushSubscriptionRecord {
  conversationId: number;
  accountId: number;
  level: NotifyLevel;
}

export interface VapidKeys {
  publicKey: string;
  privateKey: string;
}

export interface IndexProgress {
  upTo: number;
  /** Messages indexed by this call (0: nothing new, or another instance is at it). */
  indexed: number;
  /** Another indexer (another instance, or this one's background step) held the position. */
  busy?: boolean;
}

export interface RoomListing {
  name: string;
  /** Accounts that are members. */
  members: number;
}

/** A room as the admin page lists it: private ones and empty ones too. */
export interface RoomRecord {
  id: number;
  name: string;
  /** Accounts that are members. */
  members: number;
  topic: string;
  private: boolean;
  /** Its creator (null: the lobby, or made before rooms had owners). */
  ownerId: number | null;
  createdAt: number;
}

/** What files take (see Store.fileUsage), in bytes. */
export interface FileUsage {
  account: number;
  total: number;
}

/** createAccount/updateAccount: another account holds that name key (it was taken meanwhile). */
export class NameTakenError extends Error {
  constructor() {
    super("name key already held");
  }
}

export interface Store {
  /** Names the log: changes when the message ids start again (a new database). */
  readonly epoch: string;

  // ------------------------------------------------------------ accounts
  account(id: number): Promise<Account | undefined>;
  /** The account holding a name key (released names belong to nobody). */
  accountByKey(nameKey: string): Promise<Account | undefined>;
  passwordHash(id: number): Promise<string | null>;
  /** The accounts holding these name keys, by key. */
  accountsByKeys(nameKeys: readonly string[]): Promise<Map<string, number>>;
  /**
   * Creates an account and its lobby membership. `releaseFrom`: a guest whose released name the
   * new account takes (its key is cleared in the same transaction).
   */
  createAccount(account: NewAccount, releaseFrom?: number): Promise<Account>;
  /** Changes an account; `releaseFrom` as for createAccount. */
  updateAccount(id: number, patch: AccountPatch, releaseFrom?: number): Promise<Account>;
  /** Records activity (ms). */
  touchAccount(id: number, now: number): Promise<void>;

  // ------------------------------------------------------------ sessions
  session(sid: string): Promise<SessionRecord | undefined>;
  createSession(accountId: number, now: number): Promise<SessionRecord>;
  touchSession(sid: string, now: number): Promise<void>;
  /** `touchSession` for many sessions at once (those with sockets open), in one transaction. */
  touchSessions(sids: readonly string[], now: number): Promise<void>;
  /** Which of these sessions still exist (not ended, not swept). */
  liveSessions(sids: readonly string[]): Promise<Set<string>>;
  /** Ends one session; resolves once that is recorded. */
  endSession(sid: string): Promise<void>;
  /** Ends every session of an account; returns their ids. */
  endSessions(accountId: number): Promise<string[]>;
  /** Ends sessions idle since before `before`; returns them. */
  sweepSessions(before: number): Promise<SessionRecord[]>;

  // ------------------------------------------------------------ conversations
  room(nameKey: string): Promise<Conversation | undefined>;
  /** Creates a room (the creator becomes a member), or answers the existing one with that key. */
  createRoom(
    name: string,
    nameKey: string,
    createdBy: number,
    now: number,
  ): Promise<{ room: Conversation; created: boolean }>;
  /** The direct conversation of two accounts, created (both as members) on first use. */
  direct(a: number, b: number, now: number): Promise<Conversation>;
  /**
   * The account's conversations and a direct one's other account, without the counts `memberships`
   * computes (what a search's scope needs).
   */
  conversationsOf(accountId: number): Promise<Array<Pick<MembershipView, "conversation" | "peer">>>;
  /** The account's conversations: rooms (lobby first), then direct ones, newest activity first. */
  memberships(accountId: number): Promise<MembershipView[]>;
  /** Adds a membership (read position: the newest message now); false if it was there. */
  join(accountId: number, conversationId: number, now: number): Promise<boolean>;
  /** Sets the account's notification level in a conversation; false: not a member. */
  setNotify(accountId: number, conversationId: number, level: NotifyLevel): Promise<boolean>;
  /** Removes a membership; false if there was none. */
  leave(accountId: number, conversationId: number): Promise<boolean>;
  /** Moves a read position forward (never back, never past the newest message); undefined: not a member. */
  markRead(accountId: number, conversationId: number, upTo: number): Promise<ReadState | undefined>;
  /** Conversation ids above `after`, ascending, at most `limit` (retention walks them in chunks). */
  conversationIds(after: number, limit: number): Promise<number[]>;
  /** How many rooms have members (an empty room does not count against MAX_ROOMS: joining it is free). */
  roomCount(): Promise<number>;
  /** Public rooms with at least one member, the lobby first, then the most members (private ones are never listed). */
  listRooms(limit: number): Promise<RoomListing[]>;

  // ------------------------------------------------------------ messages
  /**
   * Stores a batch in one transaction (all or none), in order: messages (one with id 0 gets the log's
   * next id) and changes (see MessageChange: one not applied takes no log position).
   */
  append(writes: readonly LogWrite[]): Promise<void>;
  /** One message as it is now (with its conversation's id), or undefined. */
  message(id: number): Promise<MessageView | undefined>;
  /**
   * The page of a conversation around message `id`: up to `limit` before it, it, and up to `limit`
   * after it, oldest first; `more`: older ones exist; `newer`: newer ones exist.
   */
  around(conversationId: number, id: number, limit: number): Promise<MessagePage & { newer: boolean }>;
  /** Which of these accounts are members of the conversation. */
  membersAmong(conversationId: number, accountIds: readonly number[]): Promise<Set<number>>;
  /** The id of a sender's message with this client id, if stored. */
  findByCid(senderId: number, cid: string): Promise<number | undefined>;
  /** The log's highest position committed: a message's id or a change's (0: none). */
  lastMessageId(): Promise<number>;
  /**
   * The log entries in (`after`, `upTo`] of every conversation, by position, from at most `limit`
   * messages: each message at its id, and its last change at that change's position. (A change
   * superseded by a later one to the same message is not there: its position is an empty one.)
   */
  log(after: number, upTo: number, limit: number): Promise<{ entries: LogEntry[]; reached: number }>;
  /** The newest `limit` messages of a conversation with id < `before`. */
  page(conversationId: number, limit: number, before: number): Promise<MessagePage>;
  /**
   * A conversation's messages, as they are now, that a client at `after` has not seen: id in
   * (`after`, `upTo`], or id <= `upTo` and changed after `after`; by id, at most `cap`.
   */
  since(conversationId: number, after: number, upTo: number, cap: number): Promise<MessageGap>;
  /** The newest `limit` messages of every direct conversation of an account, id < `before`. */
  directPage(accountId: number, limit: number, before: number): Promise<MessagePage>;
  /** `since` over every direct conversation of an account. */
  directSince(accountId: number, after: number, upTo: number, cap: number): Promise<MessageGap>;
  /**
   * Applies retention; returns how many messages were deleted. The age limit costs what it deletes;
   * the per-conversation limit is checked in `touched` (the conversations written to since the
   * last prune), or in every conversation when `touched` is absent.
   */
  prune(now: number, touched?: readonly number[]): Promise<number>;

  // ------------------------------------------------------------ search
  /**
   * Messages of the scope matching every term, newest first, with id < `before`, at most `limit`;
   * never a deleted one. Bounded: at most SEARCH_SCAN matches are looked at per call (then `next`
   * says where to go on).
   */
  search(plan: SearchPlan, scope: SearchScope, before: number, limit: number): Promise<SearchPage>;
  /**
   * Indexes the next messages (by id) not indexed yet, at most `limit`, and records how far it got.
   * New messages are indexed this way, shortly after they are stored, and so are those stored before
   * search existed; edits and deletions change the index at once, in their own transaction.
   */
  indexMessages(limit: number): Promise<IndexProgress>;

  // ------------------------------------------------------------ push
  /**
   * Keeps a browser's push subscription for a session: one per endpoint (a repeat by the same account
   * replaces it; false: another account holds that endpoint); an account keeps its `maxPerAccount`
   * newest. Gone with the session.
   */
  savePushSubscription(
    sid: string,
    accountId: number,
    subscription: PushSubscriptionRecord,
    now: number,
    maxPerAccount: number,
  ): Promise<boolean>;
  /** Removes the account's subscription at `endpoint`; false: it had none there. */
  deletePushSubscription(accountId: number, endpoint: string): Promise<boolean>;
  /** Removes a subscription whatever its account (its push service said it is gone: 404, 410). */
  dropPushEndpoint(endpoint: string): Promise<void>;
  /** The subscriptions of members of these conversations whose level there is not `none`, with that level. */
  pushTargets(conversationIds: readonly number[]): Promise<PushTarget[]>;
  /** The server's VAPID key pair: the stored one, or `generate`'s, stored first by whoever comes first. */
  vapidKeys(generate: () => VapidKeys): Promise<VapidKeys>;
  // ------------------------------------------------------------ files
  /**
   * Records that the blob `hash` is being stored (or is stored again): a blob claimed at or after a
   * collection's `before` is never collected, so an upload between its claim and its message is
   * safe. True when it was already known (its bytes may already be stored).
   */
  claimBlob(hash: string, size: number, now: number): Promise<boolean>;
  /**
   * Bytes the files of the account's messages take (each message counting its file, deduplicated or
   * not) and the bytes of every blob kept (each content once).
   */
  fileUsage(accountId: number): Promise<FileUsage>;
  /** Blobs no message refers to any more (deleted, pruned), claimed before `before`: at most `limit`. */
  orphanBlobs(before: number, limit: number): Promise<string[]>;
  /**
   * Forgets the blob `hash` if no message refers to it and it was claimed before `before`, calling
   * `remove` (which deletes its bytes) first; a claim waits for it to finish (PostgreSQL: the row is
   * locked meanwhile). True when it was collected.
   */
  collectBlob(hash: string, before: number, remove: () => Promise<void>): Promise<boolean>;

  // ------------------------------------------------------------ moderation
  /** An account's server role: "owner" or "admin"; null: by its kind (member, guest). False: no such account. */
  setRole(accountId: number, role: "owner" | "admin" | null): Promise<boolean>;
  /** The server role kept for each of these accounts (absent: none kept, i.e. by their kind). */
  rolesOf(accountIds: readonly number[]): Promise<Map<number, "owner" | "admin">>;
  /** The owner's account id, if there is one. */
  ownerId(): Promise<number | undefined>;
  /** Accounts by id after `after` (a name prefix `q` narrows them), at most `limit`. */
  listAccounts(q: string, after: number, limit: number): Promise<AccountListing[]>;
  serverSettings(): Promise<ServerSettings>;
  saveServerSettings(settings: ServerSettings): Promise<void>;
  /** A room's own settings; undefined: not a room. */
  roomSettings(conversationId: number): Promise<RoomSettings | undefined>;
  setRoomSettings(conversationId: number, patch: Partial<Omit<RoomSettings, "ownerId">>): Promise<void>;
  /** These members' roles in a room (accounts not in it are absent). */
  roomMembers(conversationId: number, accountIds: readonly number[]): Promise<Map<number, RoomMember>>;
  /** Names or unnames a moderator; false: not a member. */
  setModerator(conversationId: number, accountId: number, on: boolean): Promise<boolean>;
  /** Mutes a member until `until` (0: unmutes); false: not a member. */
  setMuted(conversationId: number, accountId: number, until: number): Promise<boolean>;
  /**
   * Bans an account: kept by account, name, browser and addresses, and every session of it ended.
   * Answers the ended sessions' ids.
   */
  ban(record: BanRecord): Promise<string[]>;
  /** Lifts a ban; false: there was none. */
  unban(accountId: number): Promise<boolean>;
  /** Whether any of these is banned: the account, a name key, a browser, an address. */
  isBanned(who: { accountId?: number; nameKey?: string; device?: string; address?: string }): Promise<boolean>;
  /** Accounts banned at or after `since` (a running server closes their sockets). */
  bannedSince(since: number): Promise<number[]>;
  audit(entry: Omit<AuditEntry, "id">): Promise<void>;
  /** The audit log, newest first, ids below `before`. */
  auditLog(before: number, limit: number): Promise<AuditEntry[]>;
  /** Files a report; false: this account reported this message already. */
  report(report: Omit<Report, "id" | "resolvedBy" | "resolvedAt">): Promise<boolean>;
  /** Reports, newest first, ids below `before`; open ones only unless `all`. */
  reports(all: boolean, before: number, limit: number): Promise<Report[]>;
  resolveReport(id: number, by: number, at: number): Promise<boolean>;
  /** Keeps an invite; the conversation's (or the server's) expired and used-up ones go, and the oldest past MAX_INVITES. */
  createInvite(invite: Invite): Promise<void>;
  /** Drops the audit log's oldest lines past the newest `keep`; answers how many went. */
  trimAudit(keep: number): Promise<number>;
  /**
   * Uses an invite for `conversationId` (null: sign-up): one use less, if it is good now and, for
   * `accountId`, made after that account was last removed from the room.
   */
  useInvite(token: string, conversationId: number | null, now: number, accountId?: number): Promise<InviteUse>;
  /** Takes a member out of a room, remembering when (an invite made before then does not let it back). */
  removeMember(conversationId: number, accountId: number, at: number): Promise<boolean>;
  /** Keeps a one-time password reset (its token's hash) for an account, replacing any earlier one. */
  createPasswordReset(tokenHash: string, accountId: number, expiresAt: number): Promise<void>;
  /** Uses a password reset: its account, once, before it expires. */
  usePasswordReset(tokenHash: string, now: number): Promise<number | undefined>;
  // The admin page's reads (names for ids, every room).
  /** The names these accounts are shown under (`shownName`), by id (unknown ids are absent). */
  accountNames(accountIds: readonly number[]): Promise<ReadonlyMap<number, string>>;
  /** The names of these conversations that are rooms, by id (direct ones and unknown ids are absent). */
  roomNames(conversationIds: readonly number[]): Promise<Map<number, string>>;
  /** Every room by id after `after` (private and empty ones too), at most `limit`. */
  allRooms(after: number, limit: number): Promise<RoomRecord[]>;

  // ------------------------------------------------------------ life
  /** Whether the store answers and takes writes. */
  healthy(): Promise<boolean>;
  /** Periodic upkeep (WAL checkpoint). */
  maintain(): void;
  close(): Promise<void>;
}
