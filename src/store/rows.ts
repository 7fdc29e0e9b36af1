/**
 * Row shapes and their mapping to domain records, shared by the SQL stores
 * (SQLite and PostgreSQL use the same column names), and the order in which
 * an account's conversations are listed.
 */
import type {
  Account,
  AccountKind,
  Conversation,
  MembershipView,
  MessageGap,
  MessagePage,
  MessageView,
} from "../domain/model";
import type { LogEntry } from "../ports/store";
import { LOBBY_ID } from "./migrate-records";

export interface AccountRow {
  id: number;
  kind: AccountKind;
  name: string;
  name_key: string | null;
  image: number;
  device: string | null;
  created_at: number;
  last_active: number;
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
  kind: AccountKind;
  name: string;
  image: number;
  sender_key: string | null;
}

export const ACCOUNT_COLUMNS = "id, kind, name, name_key, image, device, created_at, last_active";
export const CONVERSATION_COLUMNS = "id, kind, name, a_id, b_id, created_at, pruned_up_to";
export const MESSAGE_COLUMNS =
  "m.id, m.conversation_id, m.sender_id, m.body, m.cid, m.created_at, m.edited_at, m.deleted_at, a.kind, a.name, a.image, a.name_key AS sender_key";

export const toAccount = (row: AccountRow): Account => ({
  id: row.id,
  kind: row.kind,
  name: row.name,
  nameKey: row.name_key,
  image: row.image,
  device: row.device,
  createdAt: row.created_at,
  lastActive: row.last_active,
});

export const toConversation = (row: ConversationRow): Conversation => ({
  id: row.id,
  kind: row.kind,
  name: row.name,
  pair: row.kind === "direct" ? [row.a_id!, row.b_id!] : null,
  createdAt: row.created_at,
});

export const toMessage = (row: MessageRow): MessageView => ({
  id: row.id,
  conversationId: row.conversation_id,
  senderId: row.sender_id,
  body: row.body,
  cid: row.cid,
  createdAt: row.created_at,
  editedAt: row.edited_at,
  deletedAt: row.deleted_at,
  sender: { id: row.sender_id, kind: row.kind, name: row.name, image: row.image, nameKey: row.sender_key },
});

/** Rows came newest first with one extra to tell whether there is more; answer oldest first. */
export const toPage = (rows: MessageRow[], limit: number): MessagePage => ({
  messages: rows.slice(0, limit).reverse().map(toMessage),
  more: rows.length > limit,
});

/**
 * The messages after a position, from rows read with one extra (`cap + 1`): complete unless some
 * were pruned (the watermark is past `after`) or there are more than `cap`.
 */
export const toGap = (rows: MessageRow[], cap: number, after: number, prunedUpTo: number): MessageGap => ({
  messages: rows.slice(0, cap).map(toMessage),
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
export const toLogEntry = (row: LogRow): LogEntry => ({
  message: toMessage(row),
  conversation: toConversation({
    id: row.conversation_id,
    kind: row.c_kind,
    name: row.c_name,
    a_id: row.a_id,
    b_id: row.b_id,
    created_at: row.c_created_at,
    pruned_up_to: 0,
  }),
});
