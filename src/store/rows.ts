/**
 * Row shapes and their mapping to domain records, shared by the SQL stores
 * (SQLite and PostgreSQL use the same column names), and the order in which
 * an account's conversations are listed.
 */
import type {
  Account,
  AccountKind,
  ChangeKind,
  Conversation,
  Reaction,
  MembershipView,
  MessageGap,
  MessagePage,
  MessageView,
} from "../domain/model";
import { SEARCH_SCAN, type LogEntry, type SearchPage } from "../ports/store";
import { LOBBY_ID } from "./migrate-records";
import { REACTION_USERS_SHOWN, REPLY_QUOTE_LENGTH, type FileInfo } from "../domain/model";
import { showsInline } from "../domain/files";

export interface AccountRow {
  id: number;
  kind: AccountKind;
  name: string;
  name_key: string | null;
  image: number;
  device: string | null;
  created_at: number;
  last_active: number;
  role: "owner" | "admin" | null;
}
export interface ConversationRow {
  id: number;
  kind: "room" | "direct";
  name: string | null;
  a_id: number | null;
  b_id: number | null;
  created_at: number;
  pruned_up_to: number;
}
export interface MessageRow {
  id: number;
  conversation_id: number;
  sender_id: number;
  body: string;
  cid: string | null;
  created_at: number;
  edited_at: number | null;
  deleted_at: number | null;
  reply_to: number | null;
  /** JSON: account ids. */
  mentions: string | null;
  /** JSON: StoredReaction[]. */
  reactions: string | null;
  rev: number | null;
  change: ChangeKind | null;
  /** The file it carries (null: none). */
  file_hash: string | null;
  file_name: string | null;
  file_type: string | null;
  file_size: number | null;
  file_width: number | null;
  file_height: number | null;
  kind: AccountKind;
  name: string;
  image: number;
  sender_key: string | null;
  /** The answered message (null when there is none, or it was pruned). */
  q_sender: number | null;
  q_body: string | null;
  q_deleted: number | null;
  q_kind: AccountKind | null;
  q_name: string | null;
  q_image: number | null;
  q_key: string | null;
}

/** A message's reactions as its row keeps them: per emoji (first reacted first), how many, the first who. */
export type StoredReaction = { e: string; n: number; u: number[] };

/**
 * A message's reaction rows, per emoji (first used first), each with its count and at most
 * REACTION_USERS_SHOWN of its accounts (first first): what its row keeps, however many reacted.
 * `order` breaks ties of the same millisecond (SQLite's rowid, PostgreSQL's seq); `parameter`: the
 * message id's placeholder.
 */
export const reactionSummary = (order: string, parameter: string): string =>
  `SELECT emoji, account_id, n FROM (
     SELECT emoji, account_id, count(*) OVER (PARTITION BY emoji) AS n,
       row_number() OVER (PARTITION BY emoji ORDER BY created_at, ${order}) AS k,
       min(created_at) OVER (PARTITION BY emoji) AS first_at, min(${order}) OVER (PARTITION BY emoji) AS first_order
     FROM reactions WHERE message_id = ${parameter}) r
   WHERE k <= ${REACTION_USERS_SHOWN} ORDER BY first_at, first_order, k`;

export const ACCOUNT_COLUMNS = "id, kind, name, name_key, image, device, created_at, last_active, role";
export const CONVERSATION_COLUMNS = "id, kind, name, a_id, b_id, created_at, pruned_up_to";
/** A message row's columns (`time` casts a bigint column for PostgreSQL), from MESSAGE_FROM. */
export const messageColumns = (time: (column: string) => string, quote: string): string =>
  `${time("m.id")} AS id, m.conversation_id, m.sender_id, m.body, m.cid, ${time("m.created_at")} AS created_at,
   ${time("m.edited_at")} AS edited_at, ${time("m.deleted_at")} AS deleted_at, ${time("m.reply_to")} AS reply_to,
   m.mentions, m.reactions, ${time("m.rev")} AS rev, m.change, m.file_hash, m.file_name, m.file_type,
   ${time("m.file_size")} AS file_size, m.file_width, m.file_height, a.kind, a.name, a.image, a.name_key AS sender_key,
   q.sender_id AS q_sender, ${quote} AS q_body, ${time("q.deleted_at")} AS q_deleted, qa.kind AS q_kind,
   qa.name AS q_name, qa.image AS q_image, qa.name_key AS q_key`;
export const MESSAGE_COLUMNS = messageColumns((column) => column, `substr(q.body, 1, ${REPLY_QUOTE_LENGTH})`);
/** The message `m` with its sender `a`, and the message it answers `q` with its sender `qa`. */
export const MESSAGE_FROM = `messages m JOIN accounts a ON a.id = m.sender_id
  LEFT JOIN messages q ON q.id = m.reply_to LEFT JOIN accounts qa ON qa.id = q.sender_id`;

/** The accounts named in these rows' reactions. */
export const reactionAccounts = (rows: readonly Pick<MessageRow, "reactions">[]): number[] => {
  const ids = new Set<number>();
  for (const row of rows)
    if (row.reactions)
      for (const reaction of JSON.parse(row.reactions) as StoredReaction[]) for (const id of reaction.u) ids.add(id);
  return [...ids];
};

/** A message's reactions for its row, from its reaction rows in the order they were made (null: none). */
export const storedReactions = (rows: readonly { emoji: string; account_id: number; n: number }[]): string | null => {
  if (rows.length === 0) return null;
  const byEmoji = new Map<string, StoredReaction>();
  for (const row of rows) {
    const known = byEmoji.get(row.emoji);
    if (known) known.u.push(row.account_id);
    else byEmoji.set(row.emoji, { e: row.emoji, n: Number(row.n), u: [row.account_id] });
  }
  return JSON.stringify([...byEmoji.values()]);
};

/** Names as shown, by account id (what reactions need). */
export type Names = ReadonlyMap<number, string>;

export const toAccount = (row: AccountRow): Account => ({
  id: row.id,
  kind: row.kind,
  name: row.name,
  nameKey: row.name_key,
  image: row.image,
  device: row.device,
  createdAt: row.created_at,
  lastActive: row.last_active,
  role: row.role ?? null,
});

export const toConversation = (row: ConversationRow): Conversation => ({
  id: row.id,
  kind: row.kind,
  name: row.name,
  pair: row.kind === "direct" ? [row.a_id!, row.b_id!] : null,
  createdAt: row.created_at,
});

const toReactions = (json: string | null, names: Names): Reaction[] =>
  json === null
    ? []
    : (JSON.parse(json) as StoredReaction[]).map((reaction) => ({
        emoji: reaction.e,
        count: reaction.n,
        users: reaction.u.map((id) => ({ id, name: names.get(id) ?? `#${id}` })),
      }));

export const toMessage = (row: MessageRow, names: Names = new Map()): MessageView => ({
  id: row.id,
  conversationId: row.conversation_id,
  senderId: row.sender_id,
  body: row.body,
  cid: row.cid,
  createdAt: row.created_at,
  editedAt: row.edited_at,
  deletedAt: row.deleted_at,
  replyTo: row.reply_to,
  mentions: row.mentions === null ? [] : (JSON.parse(row.mentions) as number[]),
  sender: { id: row.sender_id, kind: row.kind, name: row.name, image: row.image, nameKey: row.sender_key },
  ...(row.reply_to !== null && row.q_sender !== null
    ? {
        quote: {
          id: row.reply_to,
          sender: { id: row.q_sender, kind: row.q_kind!, name: row.q_name!, image: row.q_image!, nameKey: row.q_key },
          body: row.q_deleted === null ? row.q_body! : "",
          deletedAt: row.q_deleted,
        },
      }
    : {}),
  reactions: toReactions(row.reactions, names),
  rev: row.rev,
  change: row.change,
  ...(row.file_hash === null ? {} : { file: toFile(row) }),
});

/** The file of a message row that has one. */
const toFile = (row: MessageRow): FileInfo => ({
  hash: row.file_hash!,
  name: row.file_name!,
  type: row.file_type!,
  size: row.file_size!,
  inline: showsInline(row.file_type!, row.file_width, row.file_height),
  width: row.file_width,
  height: row.file_height,
});

/** A new message's file as its row's columns (all null without one), in FILE_COLUMNS' order. */
export const fileValues = (file: FileInfo | undefined) =>
  [
    file?.hash ?? null,
    file?.name ?? null,
    file?.type ?? null,
    file?.size ?? null,
    file?.width ?? null,
    file?.height ?? null,
  ] as const;
/** The file columns of `messages`, as inserts name them. */
export const FILE_COLUMNS = ["file_hash", "file_name", "file_type", "file_size", "file_width", "file_height"] as const;

/** Rows came newest first with one extra to tell whether there is more; answer oldest first. */
export const toPage = (rows: MessageRow[], limit: number, names?: Names): MessagePage => ({
  messages: rows
    .slice(0, limit)
    .reverse()
    .map((row) => toMessage(row, names)),
  more: rows.length > limit,
});

/**
 * The messages after a position, from rows read with one extra (`cap + 1`): complete unless some
 * were pruned (the watermark is past `after`) or there are more than `cap`.
 */
export const toGap = (
  rows: MessageRow[],
  cap: number,
  after: number,
  prunedUpTo: number,
  names?: Names,
): MessageGap => ({
  messages: rows.slice(0, cap).map((row) => toMessage(row, names)),
  complete: after >= prunedUpTo && rows.length <= cap,
});

/** The other account of a direct conversation, as the memberships queries select it. */
export const PEER_COLUMNS =
  "p.id AS peer_id, p.kind AS peer_kind, p.name AS peer_name, p.image AS peer_image, p.name_key AS peer_key";
export const PEER_JOIN =
  "LEFT JOIN accounts p ON c.kind = 'direct' AND p.id = CASE WHEN c.a_id = ms.account_id THEN c.b_id ELSE c.a_id END";
export interface PeerRow {
  peer_id: number | null;
  peer_kind: AccountKind | null;
  peer_name: string | null;
  peer_image: number | null;
  peer_key: string | null;
}
export const toPeer = (row: PeerRow): MembershipView["peer"] =>
  row.peer_id === null
    ? undefined
    : { id: row.peer_id, kind: row.peer_kind!, name: row.peer_name!, image: row.peer_image!, nameKey: row.peer_key };

/** The lobby first, then rooms in the order joined, then direct conversations with the newest activity first. */
export const sortMemberships = (views: MembershipView[]): MembershipView[] => {
  const rank = (view: MembershipView) =>
    view.conversation.id === LOBBY_ID ? 0 : view.conversation.kind === "room" ? 1 : 2;
  return views.sort(
    (x, y) =>
      rank(x) - rank(y) ||
      (x.conversation.kind === "room"
        ? x.conversation.id - y.conversation.id
        : y.lastId - x.lastId || y.conversation.id - x.conversation.id),
  );
};

/** The conversation beside a message in one row (`log`): aliased, the sender's columns have the same names. */
export const logConversationColumns = (time: (column: string) => string): string =>
  `c.kind AS c_kind, c.name AS c_name, c.a_id, c.b_id, ${time("c.created_at")} AS c_created_at`;
type LogRow = MessageRow & {
  c_kind: "room" | "direct";
  c_name: string | null;
  a_id: number | null;
  b_id: number | null;
  c_created_at: number;
};
export type { LogRow };
const logConversation = (row: LogRow): Conversation =>
  toConversation({
    id: row.conversation_id,
    kind: row.c_kind,
    name: row.c_name,
    a_id: row.a_id,
    b_id: row.b_id,
    created_at: row.c_created_at,
    pruned_up_to: 0,
  });

/**
 * The log in (`after`, `upTo`] from two reads of at most `limit` rows each, by id (`created`) and by
 * last change (`changed`): each message at its id, its last change at that change's position; and
 * how far that is complete (a full read stops at its last row).
 */
export const toLog = (
  created: LogRow[],
  changed: LogRow[],
  after: number,
  upTo: number,
  limit: number,
  names?: Names,
): { entries: LogEntry[]; reached: number } => {
  let reached = upTo;
  if (created.length >= limit) reached = Math.min(reached, created[created.length - 1]!.id);
  if (changed.length >= limit) reached = Math.min(reached, changed[changed.length - 1]!.rev!);
  const entries: LogEntry[] = [];
  for (const row of created)
    if (row.id <= reached)
      entries.push({ seq: row.id, change: null, message: toMessage(row, names), conversation: logConversation(row) });
  for (const row of changed)
    if (row.rev! <= reached && row.rev! > after)
      entries.push({
        seq: row.rev!,
        change: row.change,
        message: toMessage(row, names),
        conversation: logConversation(row),
      });
  entries.sort((x, y) => x.seq - y.seq);
  return { entries, reached };
};

/**
 * A page of search results from the rows found among `hits` (the index's matches looked at, newest
 * first): the next page starts below the last result, or below the last match looked at when the
 * scan stopped at SEARCH_SCAN without filling the page.
 */
export const toSearchPage = (rows: MessageRow[], hits: readonly number[], limit: number, names: Names): SearchPage => {
  const messages = rows.map((row) => toMessage(row, names));
  const next =
    messages.length === limit
      ? messages[messages.length - 1]!.id
      : hits.length === SEARCH_SCAN
        ? hits.at(-1)
        : undefined;
  return next === undefined ? { messages } : { messages, next };
};
