/**
 * The Store port on the embedded SQLite database (bun:sqlite): one process,
 * no other service. Every method runs its statements at once, inside one
 * transaction when it writes more than one row, and answers with a settled
 * promise. Writes use `.run()`: an `INSERT … RETURNING` read with `.get()`
 * was seen to keep the WAL from being checkpointed (20,000 sign-ins, 370 MB of
 * WAL); `maintain()` also truncates the WAL whenever it passes its bound.
 */
import type { Database, Statement } from "bun:sqlite";
import { statSync } from "node:fs";
import {
  defaultNotifyLevel,
  rulesOf,
  MAX_REACTIONS_PER_MESSAGE,
  type NotifyLevel,
  shownName,
  UNREAD_COUNT_CAP,
  type Account,
  type AccountKind,
  type Conversation,
  type MembershipView,
  type MessageGap,
  type MessagePage,
  type MessageView,
  type SessionRecord,
} from "../domain/model";
import {
  DEFAULT_SETTINGS,
  MAX_INVITES,
  type AccountListing,
  type AuditEntry,
  type BanRecord,
  type Invite,
  type InviteUse,
  type Report,
  type RoomMember,
  type RoomSettings,
  type ServerSettings,
} from "../domain/moderation";
import {
  isChange,
  NameTakenError,
  type AccountPatch,
  type NewAccount,
  type LogEntry,
  type LogWrite,
  type ReadState,
  type FileUsage,
  type IndexProgress,
  type PushSubscriptionRecord,
  type PushTarget,
  type VapidKeys,
  SEARCH_SCAN,
  type SearchPage,
  type SearchScope,
  type MessageChange,
  type NewMessage,
  type RoomListing,
  type RoomRecord,
  type Store,
} from "../ports/store";
import { LOBBY_ID } from "./migrate-records";
import { indexTokens, type SearchPlan } from "../domain/search";
import { conversationToken, fts5Match, indexedFile, INDEXED_TEXT, type IndexRow } from "./search-query";
import { WriteProbe } from "./probe";
import { BUSY_TIMEOUT_MS } from "./db";
import {
  ACCOUNT_COLUMNS,
  CONVERSATION_COLUMNS,
  MESSAGE_COLUMNS,
  sortMemberships,
  toAccount,
  toConversation,
  toGap,
  toPage,
  toPeer,
  toLog,
  toMessage,
  toSearchPage,
  reactionAccounts,
  storedReactions,
  reactionSummary,
  MESSAGE_FROM,
  FILE_COLUMNS,
  fileValues,
  type LogRow,
  type Names,
  logConversationColumns,
  PEER_COLUMNS,
  PEER_JOIN,
  type PeerRow,
  type AccountRow,
  type ConversationRow,
  type MessageRow,
} from "./rows";

export interface RetentionPolicy {
  /** Keep at most this many messages per conversation (0 = no limit). */
  maxPerConversation: number;
  /** Delete messages older than this (0 = keep forever). */
  maxAgeMs: number;
}

export interface SqliteStoreOptions {
  retention: RetentionPolicy;
  /** The WAL is truncated (checkpointed) once it is larger than this. */
  walMaxBytes: number;
  /** Hears the failure of a write probe. */
  onError?: (error: unknown) => void;
}

/** Rows per multi-row INSERT when a batch is large enough (measured in bench/store.ts). */
const INSERT_CHUNK = 64;

/** Index pages merged per indexing step (instead of FTS5's automatic merges, which can stall an insert). */
const INDEX_MERGE_PAGES = 100;

/** A message's values for an INSERT, in its columns' order (the file's last). */
type MessageValues = [
  number,
  number,
  number,
  string,
  string | null,
  number,
  number | null,
  string | null,
  ...ReturnType<typeof fileValues>,
];
const MESSAGE_PLACEHOLDERS = Array(8 + FILE_COLUMNS.length)
  .fill("?")
  .join(", ");

/**
 * The direct conversations of account `?` (a subquery), read from the account's memberships: CROSS
 * JOIN keeps that order (left to itself, SQLite walked every direct conversation of the server).
 */
const DIRECT_OF = `SELECT ms.conversation_id FROM memberships ms CROSS JOIN conversations c ON c.id = ms.conversation_id
  WHERE ms.account_id = ? AND c.kind = 'direct'`;

/**
 * What a resume from ?2 missed in the conversations `where` names: messages after it up to ?3, and
 * older ones changed since (at most ?4). The older ones are found by their change (`+m.id` keeps
 * SQLite off the id index, which would walk the conversation's whole history before ?2).
 * Exported for the query-plan test.
 */
export const sinceSql = (where: string): string =>
  `SELECT * FROM (SELECT ${MESSAGE_COLUMNS} FROM ${MESSAGE_FROM}
     WHERE ${where} AND m.id > ?2 AND m.id <= ?3
   UNION ALL SELECT ${MESSAGE_COLUMNS} FROM ${MESSAGE_FROM}
     WHERE ${where} AND m.rev > ?2 AND +m.id <= ?2)
   ORDER BY id LIMIT ?4`;
export const SINCE_ROOM = "m.conversation_id = ?1";
export const SINCE_DIRECT = `m.conversation_id IN (${DIRECT_OF.replace("?", "?1")})`;

/** A unique name key violated is the domain's NameTakenError. */
const nameConflicts = <T>(write: () => T): T => {
  try {
    return write();
  } catch (error) {
    if ((error as { code?: unknown })?.code === "SQLITE_CONSTRAINT_UNIQUE") throw new NameTakenError();
    throw error;
  }
};

export class SqliteStore implements Store {
  readonly epoch: string;
  private readonly q;
  private readonly appendBatch: (writes: readonly LogWrite[]) => void;
  private readonly writes: WriteProbe;
  private readonly walPath: string | null;

  constructor(
    /** The database (tests use it to make writes fail). */
    readonly db: Database,
    private readonly options: SqliteStoreOptions,
  ) {
    this.epoch = this.loadEpoch();
    this.writes = new WriteProbe((now) => {
      db.query(
        "INSERT INTO settings (key, value) VALUES ('probe', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
      ).run(String(now));
    }, options.onError);
    this.walPath = db.filename && db.filename !== ":memory:" ? `${db.filename}-wal` : null;
    const q = <R, P extends unknown[]>(sql: string): Statement<R, P & import("bun:sqlite").SQLQueryBindings[]> =>
      db.query(sql) as never;
    this.q = {
      account: q<AccountRow, [number]>(`SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE id = ?`),
      accountByKey: q<AccountRow, [string]>(`SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE name_key = ?`),
      byKeys: q<{ id: number; name_key: string }, [string]>(
        "SELECT id, name_key FROM accounts WHERE name_key IN (SELECT value FROM json_each(?))",
      ),
      passwordHash: q<{ password_hash: string | null }, [number]>("SELECT password_hash FROM accounts WHERE id = ?"),
      release: q<unknown, [number]>("UPDATE accounts SET name_key = NULL WHERE id = ?"),
      insertAccount: q<unknown, [AccountKind, string, string, number, string | null, string | null, number, number]>(
        `INSERT INTO accounts (kind, name, name_key, image, password_hash, device, created_at, last_active)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      touchAccount: q<unknown, [number, number]>("UPDATE accounts SET last_active = ? WHERE id = ?"),
      session: q<{ sid: string; account_id: number; created_at: number; last_seen: number }, [string]>(
        "SELECT sid, account_id, created_at, last_seen FROM sessions WHERE sid = ?",
      ),
      insertSession: q<unknown, [string, number, number, number]>(
        "INSERT INTO sessions (sid, account_id, created_at, last_seen) VALUES (?, ?, ?, ?)",
      ),
      touchSession: q<unknown, [number, string]>("UPDATE sessions SET last_seen = ? WHERE sid = ?"),
      endSession: q<unknown, [string]>("DELETE FROM sessions WHERE sid = ?"),
      sessionsOf: q<{ sid: string }, [number]>("SELECT sid FROM sessions WHERE account_id = ?"),
      endSessionsOf: q<unknown, [number]>("DELETE FROM sessions WHERE account_id = ?"),
      idleSessions: q<{ sid: string; account_id: number; created_at: number; last_seen: number }, [number]>(
        "SELECT sid, account_id, created_at, last_seen FROM sessions WHERE last_seen < ?",
      ),
      room: q<ConversationRow, [string]>(
        `SELECT ${CONVERSATION_COLUMNS} FROM conversations WHERE kind = 'room' AND name_key = ?`,
      ),
      conversation: q<ConversationRow, [number]>(`SELECT ${CONVERSATION_COLUMNS} FROM conversations WHERE id = ?`),
      insertRoom: q<unknown, [string, string, number, number]>(
        "INSERT INTO conversations (kind, name, name_key, created_by, created_at) VALUES ('room', ?, ?, ?, ?)",
      ),
      direct: q<ConversationRow, [number, number]>(
        `SELECT ${CONVERSATION_COLUMNS} FROM conversations WHERE kind = 'direct' AND a_id = ? AND b_id = ?`,
      ),
      insertDirect: q<unknown, [number, number, number]>(
        "INSERT INTO conversations (kind, a_id, b_id, created_at) VALUES ('direct', ?, ?, ?)",
      ),
      memberships: q<
        ConversationRow & PeerRow & Parameters<typeof rulesOf>[0] & { read_up_to: number; notify: NotifyLevel | null },
        [number]
      >(
        `SELECT c.id, c.kind, c.name, c.a_id, c.b_id, c.created_at, c.pruned_up_to, ms.read_up_to, ms.notify,
           c.topic, c.private, c.slow_seconds, c.created_by, ms.moderator,
           (SELECT mu.until FROM mutes mu WHERE mu.conversation_id = c.id AND mu.account_id = ms.account_id) AS muted_until,
           ${PEER_COLUMNS}
         FROM memberships ms JOIN conversations c ON c.id = ms.conversation_id ${PEER_JOIN}
         WHERE ms.account_id = ?`,
      ),
      join: q<unknown, [number, number, number, number]>(
        "INSERT OR IGNORE INTO memberships (account_id, conversation_id, joined_at, read_up_to) VALUES (?, ?, ?, ?)",
      ),
      leave: q<unknown, [number, number]>("DELETE FROM memberships WHERE account_id = ? AND conversation_id = ?"),
      setNotify: q<unknown, [string, number, number]>(
        "UPDATE memberships SET notify = ? WHERE account_id = ? AND conversation_id = ?",
      ),
      readUpTo: q<{ read_up_to: number }, [number, number]>(
        "SELECT read_up_to FROM memberships WHERE account_id = ? AND conversation_id = ?",
      ),
      markRead: q<unknown, [number, number, number]>(
        "UPDATE memberships SET read_up_to = max(read_up_to, ?) WHERE account_id = ? AND conversation_id = ?",
      ),
      lastId: q<{ id: number | null }, [number]>("SELECT max(id) AS id FROM messages WHERE conversation_id = ?"),
      unread: q<{ n: number }, [number, number, number, number]>(
        `SELECT count(*) AS n FROM (SELECT 1 FROM messages WHERE conversation_id = ? AND id > ? AND sender_id != ?
         AND deleted_at IS NULL LIMIT ?)`,
      ),
      unreadMentions: q<{ n: number }, [number, number, number, number]>(
        `SELECT count(*) AS n FROM (SELECT 1 FROM mentions WHERE account_id = ? AND conversation_id = ?
         AND message_id > ? LIMIT ?)`,
      ),
      // What an open needs of each membership, in two statements (each statement costs more than its lookups).
      ends: q<{ id: number | null; rev: number | null }, [number]>(
        `SELECT (SELECT max(id) FROM messages WHERE conversation_id = ?1) AS id,
           (SELECT max(rev) FROM messages WHERE conversation_id = ?1 AND rev IS NOT NULL) AS rev`,
      ),
      behind: q<{ unread: number; mentions: number }, [number, number, number, number]>(
        `SELECT (SELECT count(*) FROM (SELECT 1 FROM messages WHERE conversation_id = ?1 AND id > ?2
             AND sender_id != ?3 AND deleted_at IS NULL LIMIT ?4)) AS unread,
           (SELECT count(*) FROM (SELECT 1 FROM mentions WHERE account_id = ?3 AND conversation_id = ?1
             AND message_id > ?2 LIMIT ?4)) AS mentions`,
      ),
      // The lobby, then the biggest others: both read from the members index, a page's worth.
      listRooms: q<RoomListing, [number, number]>(
        `SELECT name, members FROM (SELECT id, name, members, 0 AS rank FROM conversations WHERE id = ?1 AND members > 0
         UNION ALL SELECT * FROM (SELECT id, name, members, 1 AS rank FROM conversations
           WHERE kind = 'room' AND id <> ?1 AND members > 0 AND private = 0 ORDER BY kind, members DESC, id DESC LIMIT ?2))
         ORDER BY rank, members DESC, id DESC LIMIT ?2`,
      ),
      insertMessage: q<unknown, MessageValues>(
        `INSERT INTO messages (id, conversation_id, sender_id, body, cid, created_at, reply_to, mentions, ${FILE_COLUMNS.join(", ")})
         VALUES (${MESSAGE_PLACEHOLDERS})`,
      ),
      insertMention: q<unknown, [number, number, number]>(
        "INSERT OR IGNORE INTO mentions (account_id, conversation_id, message_id) VALUES (?, ?, ?)",
      ),
      dropMentions: q<unknown, [number]>("DELETE FROM mentions WHERE message_id = ?"),
      messageState: q<IndexRow & { sender_id: number; deleted_at: number | null }, [number]>(
        `SELECT sender_id, conversation_id, deleted_at, ${INDEXED_TEXT} FROM messages WHERE id = ?`,
      ),
      edit: q<unknown, [string, string | null, number, number, number]>(
        "UPDATE messages SET body = ?, mentions = ?, edited_at = ?, rev = ?, change = 'edit' WHERE id = ?",
      ),
      delete: q<unknown, [number, number, number]>(
        `UPDATE messages SET body = '', mentions = NULL, reactions = NULL, reply_to = NULL, deleted_at = ?, rev = ?,
         change = 'delete', ${FILE_COLUMNS.map((column) => `${column} = NULL`).join(", ")} WHERE id = ?`,
      ),
      dropReactions: q<unknown, [number]>("DELETE FROM reactions WHERE message_id = ?"),
      reacted: q<unknown, [number, string, number]>(
        "DELETE FROM reactions WHERE message_id = ? AND emoji = ? AND account_id = ?",
      ),
      react: q<unknown, [number, string, number, number]>(
        "INSERT INTO reactions (message_id, emoji, account_id, created_at) VALUES (?, ?, ?, ?)",
      ),
      reactionRows: q<{ emoji: string; account_id: number; n: number }, [number]>(reactionSummary("rowid", "?")),
      setReactions: q<unknown, [string | null, number, number]>(
        "UPDATE messages SET reactions = ?, rev = ?, change = 'react' WHERE id = ?",
      ),
      names: q<{ id: number; name: string; name_key: string | null }, [string]>(
        "SELECT id, name, name_key FROM accounts WHERE id IN (SELECT value FROM json_each(?))",
      ),
      membersAmong: q<{ account_id: number }, [number, string]>(
        `SELECT account_id FROM memberships WHERE conversation_id = ?
         AND account_id IN (SELECT value FROM json_each(?))`,
      ),
      message: q<MessageRow, [number]>(`SELECT ${MESSAGE_COLUMNS} FROM ${MESSAGE_FROM} WHERE m.id = ?`),
      byCid: q<{ id: number }, [number, string]>("SELECT id FROM messages WHERE sender_id = ? AND cid = ?"),
      maxId: q<{ id: number | null }, []>("SELECT max(id) AS id FROM messages"),
      maxRev: q<{ rev: number | null }, []>("SELECT max(rev) AS rev FROM messages WHERE rev IS NOT NULL"),
      page: q<MessageRow, [number, number, number]>(
        `SELECT ${MESSAGE_COLUMNS} FROM ${MESSAGE_FROM}
         WHERE m.conversation_id = ? AND m.id < ? ORDER BY m.id DESC LIMIT ?`,
      ),
      after: q<MessageRow, [number, number, number]>(
        `SELECT ${MESSAGE_COLUMNS} FROM ${MESSAGE_FROM}
         WHERE m.conversation_id = ? AND m.id > ? ORDER BY m.id LIMIT ?`,
      ),
      since: q<MessageRow, [number, number, number, number]>(sinceSql(SINCE_ROOM)),
      directPage: q<MessageRow, [number, number, number]>(
        `SELECT ${MESSAGE_COLUMNS} FROM ${MESSAGE_FROM}
         WHERE m.conversation_id IN (${DIRECT_OF}) AND m.id < ? ORDER BY m.id DESC LIMIT ?`,
      ),
      directSince: q<MessageRow, [number, number, number, number]>(sinceSql(SINCE_DIRECT)),
      roomCount: q<{ n: number }, []>("SELECT count(*) AS n FROM conversations WHERE kind = 'room' AND members > 0"),
      conversationIds: q<{ id: number }, [number, number]>(
        "SELECT id FROM conversations WHERE id > ? ORDER BY id LIMIT ?",
      ),
      indexRead: q<IndexRow & { id: number }, [number, number]>(
        `SELECT id, conversation_id, ${INDEXED_TEXT} FROM messages WHERE id > ? AND deleted_at IS NULL ORDER BY id LIMIT ?`,
      ),
      unindex: q<unknown, [number]>("DELETE FROM message_index WHERE rowid = ?"),
      mergeIndex: q<unknown, []>(
        `INSERT INTO message_index (message_index, rank) VALUES ('merge', ${INDEX_MERGE_PAGES})`,
      ),
      index: q<unknown, [number, string, string, string]>(
        "INSERT INTO message_index (rowid, stream, chars, facts) VALUES (?, ?, ?, ?)",
      ),
      indexed: q<{ value: string }, []>("SELECT value FROM settings WHERE key = 'search_indexed'"),
      saveIndexed: q<unknown, [string]>("UPDATE settings SET value = ? WHERE key = 'search_indexed'"),
      searchHits: q<{ id: number }, [string, number, number]>(
        "SELECT rowid AS id FROM message_index WHERE message_index MATCH ? AND rowid < ? ORDER BY rowid DESC LIMIT ?",
      ),
      searchMessages: q<MessageRow, [string, string, number | null, number | null, number | null, number]>(
        `SELECT ${MESSAGE_COLUMNS} FROM ${MESSAGE_FROM}
         WHERE m.id IN (SELECT value FROM json_each(?1)) AND m.deleted_at IS NULL
           AND m.conversation_id IN (SELECT value FROM json_each(?2))
           AND (?3 IS NULL OR m.sender_id = ?3) AND (?4 IS NULL OR m.created_at >= ?4)
           AND (?5 IS NULL OR m.created_at < ?5)
         ORDER BY m.id DESC LIMIT ?6`,
      ),
      logCreated: q<LogRow, [number, number, number]>(
        `SELECT ${MESSAGE_COLUMNS}, ${logConversationColumns((column) => column)} FROM ${MESSAGE_FROM}
         JOIN conversations c ON c.id = m.conversation_id WHERE m.id > ? AND m.id <= ? ORDER BY m.id LIMIT ?`,
      ),
      logChanged: q<LogRow, [number, number, number]>(
        `SELECT ${MESSAGE_COLUMNS}, ${logConversationColumns((column) => column)} FROM ${MESSAGE_FROM}
         JOIN conversations c ON c.id = m.conversation_id WHERE m.rev > ? AND m.rev <= ? ORDER BY m.rev LIMIT ?`,
      ),
      directPruned: q<{ pruned: number | null }, [number]>(
        `SELECT max(c.pruned_up_to) AS pruned FROM memberships ms CROSS JOIN conversations c ON c.id = ms.conversation_id
         WHERE ms.account_id = ? AND c.kind = 'direct'`,
      ),
    };
    const insertChunk = db.query<unknown, Array<string | number | null>>(
      `INSERT INTO messages (id, conversation_id, sender_id, body, cid, created_at, reply_to, mentions, ${FILE_COLUMNS.join(", ")})
       VALUES ${Array(INSERT_CHUNK).fill(`(${MESSAGE_PLACEHOLDERS})`).join(", ")}`,
    );
    const row = (m: NewMessage): MessageValues => [
      m.id,
      m.conversationId,
      m.senderId,
      m.body,
      m.cid,
      m.createdAt,
      m.replyTo,
      m.mentions.length > 0 ? JSON.stringify(m.mentions) : null,
      ...fileValues(m.file),
    ];
    const insertMessages = (messages: readonly NewMessage[]) => {
      let at = 0;
      for (; at + INSERT_CHUNK <= messages.length; at += INSERT_CHUNK)
        insertChunk.run(...messages.slice(at, at + INSERT_CHUNK).flatMap(row));
      for (; at < messages.length; at++) this.q.insertMessage.run(...row(messages[at]!));
      for (const m of messages) for (const id of m.mentions) this.q.insertMention.run(id, m.conversationId, m.id);
    };
    this.indexedUpTo = this.loadIndexed();
    this.appendBatch = db.transaction((writes: readonly LogWrite[]) => {
      // Runs of messages go in multi-row INSERTs; each change is applied where it stands.
      let run: NewMessage[] = [];
      for (const write of writes) {
        if (!isChange(write)) {
          run.push(write);
          continue;
        }
        if (run.length > 0) insertMessages(run);
        run = [];
        this.applyChange(write);
      }
      if (run.length > 0) insertMessages(run);
    });
  }

  /** Applies one change in the batch's transaction (see MessageChange). */
  private applyChange(change: MessageChange): void {
    const state = this.q.messageState.get(change.messageId);
    const refuse = (why: NonNullable<MessageChange["refused"]>) => {
      change.applied = false;
      change.refused = why;
    };
    if (!state || state.deleted_at !== null) return refuse("not_found");
    if (change.kind !== "react" && !change.anyAuthor && state.sender_id !== change.actorId) return refuse("not_yours");
    if (change.kind === "edit") {
      const mentions = change.mentions ?? [];
      // The index follows the edit at once (a message not indexed yet is indexed as it is now, later).
      if (change.messageId <= this.indexedUpTo) this.indexNow(change.messageId, { ...state, body: change.body! });
      this.q.edit.run(
        change.body!,
        mentions.length > 0 ? JSON.stringify(mentions) : null,
        change.at,
        change.seq,
        change.messageId,
      );
      this.q.dropMentions.run(change.messageId);
      for (const id of mentions) this.q.insertMention.run(id, state.conversation_id, change.messageId);
    } else if (change.kind === "delete") {
      this.q.delete.run(change.at, change.seq, change.messageId);
      this.q.unindex.run(change.messageId);
      this.q.dropReactions.run(change.messageId);
      this.q.dropMentions.run(change.messageId);
    } else {
      const emoji = change.emoji!;
      if (this.q.reacted.run(change.messageId, emoji, change.actorId).changes === 0) {
        const rows = this.q.reactionRows.all(change.messageId);
        if (!rows.some((r) => r.emoji === emoji) && new Set(rows.map((r) => r.emoji)).size >= MAX_REACTIONS_PER_MESSAGE)
          return refuse("too_many_reactions");
        this.q.react.run(change.messageId, emoji, change.actorId, change.at);
      }
      this.q.setReactions.run(storedReactions(this.q.reactionRows.all(change.messageId)), change.seq, change.messageId);
    }
    change.applied = true;
    change.message = this.messageNow(change.messageId);
  }

  /** Messages up to this id are in the search index (see indexMessages). */
  private indexedUpTo = 0;

  /** A message's tokens in the search index, in place of whatever was there. */
  private indexNow(id: number, row: IndexRow): void {
    const tokens = indexTokens(row.body, indexedFile(row));
    this.q.unindex.run(id);
    const facts = [...tokens.facts, conversationToken(row.conversation_id)];
    this.q.index.run(id, tokens.stream.join(" "), tokens.chars.join(" "), facts.join(" "));
  }

  async indexMessages(limit: number): Promise<IndexProgress> {
    return this.db.transaction(() => {
      const rows = this.q.indexRead.all(this.indexedUpTo, limit);
      for (const row of rows) this.indexNow(row.id, row);
      // The merging automatic merges would do, a bounded amount at a time (see migration 7).
      if (rows.length > 0) this.q.mergeIndex.run();
      if (rows.length > 0) {
        this.indexedUpTo = rows[rows.length - 1]!.id;
        this.q.saveIndexed.run(String(this.indexedUpTo));
      }
      return { upTo: this.indexedUpTo, indexed: rows.length };
    })();
  }

  // ------------------------------------------------------------ push

  private pushQueries?: ReturnType<SqliteStore["preparePush"]>;

  private preparePush() {
    const q = <R, P extends unknown[]>(sql: string): Statement<R, P & import("bun:sqlite").SQLQueryBindings[]> =>
      this.db.query(sql) as never;
    return {
      save: q<unknown, [string, string, number, string, string, number]>(
        `INSERT INTO push_subscriptions (endpoint, sid, account_id, p256dh, auth, created_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (endpoint) DO UPDATE SET sid = excluded.sid, p256dh = excluded.p256dh, auth = excluded.auth,
           created_at = excluded.created_at WHERE push_subscriptions.account_id = excluded.account_id`,
      ),
      trim: q<unknown, [number, number]>(
        `DELETE FROM push_subscriptions WHERE endpoint IN (SELECT endpoint FROM push_subscriptions
           WHERE account_id = ?1 ORDER BY created_at DESC, endpoint LIMIT -1 OFFSET ?2)`,
      ),
      delete: q<unknown, [number, string]>("DELETE FROM push_subscriptions WHERE account_id = ? AND endpoint = ?"),
      drop: q<unknown, [string]>("DELETE FROM push_subscriptions WHERE endpoint = ?"),
      targets: q<
        {
          conversation_id: number;
          account_id: number;
          level: NotifyLevel;
          endpoint: string;
          p256dh: string;
          auth: string;
        },
        [string]
      >(
        `SELECT ms.conversation_id, ms.account_id, coalesce(ms.notify, CASE c.kind WHEN 'room' THEN 'mentions' ELSE 'all' END) AS level,
           p.endpoint, p.p256dh, p.auth
         FROM push_subscriptions p
         JOIN memberships ms ON ms.account_id = p.account_id AND ms.conversation_id IN (SELECT value FROM json_each(?))
         JOIN conversations c ON c.id = ms.conversation_id
         WHERE coalesce(ms.notify, '') <> 'none'`,
      ),
      vapid: q<{ value: string }, []>("SELECT value FROM settings WHERE key = 'vapid'"),
      saveVapid: q<unknown, [string]>(
        "INSERT INTO settings (key, value) VALUES ('vapid', ?) ON CONFLICT (key) DO NOTHING",
      ),
    };
  }

  private get push() {
    return (this.pushQueries ??= this.preparePush());
  }

  async savePushSubscription(
    sid: string,
    accountId: number,
    { endpoint, p256dh, auth }: PushSubscriptionRecord,
    now: number,
    maxPerAccount: number,
  ): Promise<boolean> {
    return this.db.transaction(() => {
      if (this.push.save.run(endpoint, sid, accountId, p256dh, auth, now).changes === 0) return false;
      this.push.trim.run(accountId, maxPerAccount);
      return true;
    })();
  }

  async deletePushSubscription(accountId: number, endpoint: string): Promise<boolean> {
    return this.push.delete.run(accountId, endpoint).changes > 0;
  }

  async dropPushEndpoint(endpoint: string): Promise<void> {
    this.push.drop.run(endpoint);
  }

  async pushTargets(conversationIds: readonly number[]): Promise<PushTarget[]> {
    if (conversationIds.length === 0) return [];
    return this.push.targets.all(JSON.stringify(conversationIds)).map((row) => ({
      conversationId: row.conversation_id,
      accountId: row.account_id,
      level: row.level,
      endpoint: row.endpoint,
      p256dh: row.p256dh,
      auth: row.auth,
    }));
  }

  async vapidKeys(generate: () => VapidKeys): Promise<VapidKeys> {
    const stored = this.push.vapid.get();
    if (stored) return JSON.parse(stored.value) as VapidKeys;
    this.push.saveVapid.run(JSON.stringify(generate()));
    return JSON.parse(this.push.vapid.get()!.value) as VapidKeys;
  }

  // ------------------------------------------------------------ moderation

  private moderationQueries?: ReturnType<SqliteStore["prepareModeration"]>;

  private prepareModeration() {
    const q = <R, P extends unknown[]>(sql: string): Statement<R, P & import("bun:sqlite").SQLQueryBindings[]> =>
      this.db.query(sql) as never;
    return {
      setRole: q<unknown, [string | null, number]>("UPDATE accounts SET role = ? WHERE id = ?"),
      roles: q<{ id: number; role: "owner" | "admin" }, [string]>(
        "SELECT id, role FROM accounts WHERE role IS NOT NULL AND id IN (SELECT value FROM json_each(?))",
      ),
      owner: q<{ id: number }, []>("SELECT id FROM accounts WHERE role = 'owner'"),
      list: q<
        {
          id: number;
          name: string;
          kind: "guest" | "member";
          role: "owner" | "admin" | null;
          banned: number;
          created_at: number;
          last_active: number;
        },
        [string, number, number]
      >(
        `SELECT a.id, a.name, a.kind, a.role, (b.account_id IS NOT NULL) AS banned, a.created_at, a.last_active
         FROM accounts a LEFT JOIN bans b ON b.account_id = a.id
         WHERE a.id > ?2 AND (?1 = '' OR a.name_key LIKE ?1 || '%' ESCAPE '\\') ORDER BY a.id LIMIT ?3`,
      ),
      settings: q<{ value: string }, []>("SELECT value FROM settings WHERE key = 'server'"),
      saveSettings: q<unknown, [string]>(
        "INSERT INTO settings (key, value) VALUES ('server', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
      ),
      room: q<{ topic: string | null; private: number; slow_seconds: number; created_by: number | null }, [number]>(
        "SELECT topic, private, slow_seconds, created_by FROM conversations WHERE id = ? AND kind = 'room'",
      ),
      setTopic: q<unknown, [string, number]>("UPDATE conversations SET topic = ? WHERE id = ?"),
      setPrivate: q<unknown, [number, number]>("UPDATE conversations SET private = ? WHERE id = ?"),
      setSlow: q<unknown, [number, number]>("UPDATE conversations SET slow_seconds = ? WHERE id = ?"),
      members: q<
        {
          account_id: number;
          role: "owner" | "admin" | null;
          kind: "guest" | "member";
          moderator: number;
          muted_until: number | null;
          created_by: number | null;
        },
        [number, string]
      >(
        `SELECT ms.account_id, a.role, a.kind, ms.moderator, c.created_by,
           (SELECT mu.until FROM mutes mu WHERE mu.conversation_id = ms.conversation_id AND mu.account_id = ms.account_id) AS muted_until
         FROM memberships ms JOIN accounts a ON a.id = ms.account_id JOIN conversations c ON c.id = ms.conversation_id
         WHERE ms.conversation_id = ? AND ms.account_id IN (SELECT value FROM json_each(?))`,
      ),
      setModerator: q<unknown, [number, number, number]>(
        "UPDATE memberships SET moderator = ? WHERE conversation_id = ? AND account_id = ?",
      ),
      isMember: q<{ one: number }, [number, number]>(
        "SELECT 1 AS one FROM memberships WHERE conversation_id = ? AND account_id = ?",
      ),
      mute: q<unknown, [number, number, number]>(
        `INSERT INTO mutes (conversation_id, account_id, until) VALUES (?, ?, ?)
         ON CONFLICT (conversation_id, account_id) DO UPDATE SET until = excluded.until`,
      ),
      unmute: q<unknown, [number, number]>("DELETE FROM mutes WHERE conversation_id = ? AND account_id = ?"),
      ban: q<unknown, [number, string | null, string | null, string, number | null, number]>(
        `INSERT INTO bans (account_id, name_key, device, reason, by_id, created_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (account_id) DO UPDATE SET name_key = excluded.name_key, device = excluded.device,
           reason = excluded.reason, by_id = excluded.by_id, created_at = excluded.created_at`,
      ),
      banAddress: q<unknown, [string, number]>(
        "INSERT OR IGNORE INTO ban_addresses (address, account_id) VALUES (?, ?)",
      ),
      unban: q<unknown, [number]>("DELETE FROM bans WHERE account_id = ?"),
      banned: q<{ hit: number }, [number, string, string, string]>(
        `SELECT EXISTS (SELECT 1 FROM bans WHERE account_id = ?1 OR (?2 <> '' AND name_key = ?2) OR (?3 <> '' AND device = ?3))
           OR EXISTS (SELECT 1 FROM ban_addresses WHERE ?4 <> '' AND address = ?4) AS hit`,
      ),
      bannedSince: q<{ account_id: number }, [number]>("SELECT account_id FROM bans WHERE created_at >= ?"),
      audit: q<unknown, [number, number | null, string, number | null, number | null, number | null, string]>(
        `INSERT INTO audit (at, actor_id, action, account_id, conversation_id, message_id, detail) VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      auditLog: q<
        {
          id: number;
          at: number;
          actor_id: number | null;
          action: AuditEntry["action"];
          account_id: number | null;
          conversation_id: number | null;
          message_id: number | null;
          detail: string;
        },
        [number, number]
      >("SELECT * FROM audit WHERE id < ? ORDER BY id DESC LIMIT ?"),
      report: q<unknown, [number, number, number, string, number]>(
        `INSERT OR IGNORE INTO reports (message_id, conversation_id, reporter_id, reason, at) VALUES (?, ?, ?, ?, ?)`,
      ),
      reports: q<
        {
          id: number;
          message_id: number;
          conversation_id: number;
          reporter_id: number;
          reason: string;
          at: number;
          resolved_by: number | null;
          resolved_at: number | null;
        },
        [number, number, number]
      >("SELECT * FROM reports WHERE (?1 = 1 OR resolved_at IS NULL) AND id < ?2 ORDER BY id DESC LIMIT ?3"),
      resolve: q<unknown, [number, number, number]>(
        "UPDATE reports SET resolved_by = ?, resolved_at = ? WHERE id = ? AND resolved_at IS NULL",
      ),
      invite: q<unknown, [string, number | null, number, number, number | null, number | null]>(
        "INSERT INTO invites (token, conversation_id, created_by, created_at, expires_at, uses_left) VALUES (?, ?, ?, ?, ?, ?)",
      ),
      invitesTrim: q<unknown, [number | null, number, number]>(
        `DELETE FROM invites WHERE conversation_id IS ?1 AND (
           (expires_at IS NOT NULL AND expires_at <= ?2) OR uses_left <= 0
           OR token IN (SELECT token FROM invites WHERE conversation_id IS ?1 ORDER BY created_at DESC, token LIMIT -1 OFFSET ?3))`,
      ),
      auditTrim: q<unknown, [number]>("DELETE FROM audit WHERE id <= (SELECT max(id) FROM audit) - ?"),
      inviteGet: q<
        { conversation_id: number | null; created_at: number; expires_at: number | null; uses_left: number | null },
        [string]
      >("SELECT conversation_id, created_at, expires_at, uses_left FROM invites WHERE token = ?"),
      removedAt: q<{ at: number }, [number, number]>(
        "SELECT at FROM removals WHERE conversation_id = ? AND account_id = ?",
      ),
      remove: q<unknown, [number, number, number]>(
        `INSERT INTO removals (conversation_id, account_id, at) VALUES (?, ?, ?)
         ON CONFLICT (conversation_id, account_id) DO UPDATE SET at = excluded.at`,
      ),
      inviteUse: q<unknown, [string]>(
        "UPDATE invites SET uses_left = uses_left - 1 WHERE token = ? AND uses_left IS NOT NULL",
      ),
      reset: q<unknown, [string, number, number]>(
        `INSERT INTO password_resets (token_hash, account_id, expires_at) VALUES (?, ?, ?)`,
      ),
      resetClear: q<unknown, [number]>("DELETE FROM password_resets WHERE account_id = ?"),
      resetTake: q<{ account_id: number; expires_at: number }, [string]>(
        "DELETE FROM password_resets WHERE token_hash = ? RETURNING account_id, expires_at",
      ),
    };
  }

  private get mod() {
    return (this.moderationQueries ??= this.prepareModeration());
  }

  async setRole(accountId: number, role: "owner" | "admin" | null): Promise<boolean> {
    return this.mod.setRole.run(role, accountId).changes > 0;
  }

  async rolesOf(accountIds: readonly number[]): Promise<Map<number, "owner" | "admin">> {
    return new Map(this.mod.roles.all(JSON.stringify(accountIds)).map((row) => [row.id, row.role]));
  }

  async ownerId(): Promise<number | undefined> {
    return this.mod.owner.get()?.id;
  }

  async listAccounts(q: string, after: number, limit: number): Promise<AccountListing[]> {
    const prefix = q.replace(/[\\%_]/g, (c) => `\\${c}`);
    return this.mod.list.all(prefix, after, limit).map((row) => ({
      id: row.id,
      name: row.name,
      kind: row.kind,
      role: row.role ?? row.kind,
      banned: row.banned === 1,
      createdAt: row.created_at,
      lastActive: row.last_active,
    }));
  }

  async serverSettings(): Promise<ServerSettings> {
    const row = this.mod.settings.get();
    return row
      ? { ...DEFAULT_SETTINGS, ...(JSON.parse(row.value) as Partial<ServerSettings>) }
      : { ...DEFAULT_SETTINGS };
  }

  async saveServerSettings(settings: ServerSettings): Promise<void> {
    this.mod.saveSettings.run(JSON.stringify(settings));
  }

  async roomSettings(conversationId: number): Promise<RoomSettings | undefined> {
    const row = this.mod.room.get(conversationId);
    if (!row) return undefined;
    return {
      topic: row.topic ?? "",
      private: row.private === 1,
      slowSeconds: row.slow_seconds,
      ownerId: row.created_by,
    };
  }

  async setRoomSettings(conversationId: number, patch: Partial<Omit<RoomSettings, "ownerId">>): Promise<void> {
    this.db.transaction(() => {
      if (patch.topic !== undefined) this.mod.setTopic.run(patch.topic, conversationId);
      if (patch.private !== undefined) this.mod.setPrivate.run(patch.private ? 1 : 0, conversationId);
      if (patch.slowSeconds !== undefined) this.mod.setSlow.run(patch.slowSeconds, conversationId);
    })();
  }

  async roomMembers(conversationId: number, accountIds: readonly number[]): Promise<Map<number, RoomMember>> {
    return new Map(
      this.mod.members.all(conversationId, JSON.stringify(accountIds)).map((row) => [
        row.account_id,
        {
          accountId: row.account_id,
          role: row.role ?? row.kind,
          roomRole: row.created_by === row.account_id ? "owner" : row.moderator === 1 ? "moderator" : undefined,
          mutedUntil: row.muted_until ?? 0,
        },
      ]),
    );
  }

  async setModerator(conversationId: number, accountId: number, on: boolean): Promise<boolean> {
    return this.mod.setModerator.run(on ? 1 : 0, conversationId, accountId).changes > 0;
  }

  async setMuted(conversationId: number, accountId: number, until: number): Promise<boolean> {
    if (!this.mod.isMember.get(conversationId, accountId)) return false;
    if (until > 0) this.mod.mute.run(conversationId, accountId, until);
    else this.mod.unmute.run(conversationId, accountId);
    return true;
  }

  async ban(record: BanRecord): Promise<string[]> {
    return this.db.transaction(() => {
      this.mod.ban.run(record.accountId, record.nameKey, record.device, record.reason, record.byId, record.at);
      for (const address of record.addresses) this.mod.banAddress.run(address, record.accountId);
      const sids = this.q.sessionsOf.all(record.accountId).map((row) => row.sid);
      this.q.endSessionsOf.run(record.accountId);
      return sids;
    })();
  }

  async unban(accountId: number): Promise<boolean> {
    return this.mod.unban.run(accountId).changes > 0;
  }

  async isBanned(who: { accountId?: number; nameKey?: string; device?: string; address?: string }): Promise<boolean> {
    return this.mod.banned.get(who.accountId ?? -1, who.nameKey ?? "", who.device ?? "", who.address ?? "")?.hit === 1;
  }

  async bannedSince(since: number): Promise<number[]> {
    return this.mod.bannedSince.all(since).map((row) => row.account_id);
  }

  async audit(entry: Omit<AuditEntry, "id">): Promise<void> {
    this.mod.audit.run(
      entry.at,
      entry.actorId,
      entry.action,
      entry.accountId,
      entry.conversationId,
      entry.messageId,
      JSON.stringify(entry.detail),
    );
  }

  async auditLog(before: number, limit: number): Promise<AuditEntry[]> {
    return this.mod.auditLog.all(before, limit).map((row) => ({
      id: row.id,
      at: row.at,
      actorId: row.actor_id,
      action: row.action,
      accountId: row.account_id,
      conversationId: row.conversation_id,
      messageId: row.message_id,
      detail: JSON.parse(row.detail) as Record<string, unknown>,
    }));
  }

  async report(report: Omit<Report, "id" | "resolvedBy" | "resolvedAt">): Promise<boolean> {
    return (
      this.mod.report.run(report.messageId, report.conversationId, report.reporterId, report.reason, report.at)
        .changes > 0
    );
  }

  async reports(all: boolean, before: number, limit: number): Promise<Report[]> {
    return this.mod.reports.all(all ? 1 : 0, before, limit).map((row) => ({
      id: row.id,
      messageId: row.message_id,
      conversationId: row.conversation_id,
      reporterId: row.reporter_id,
      reason: row.reason,
      at: row.at,
      resolvedBy: row.resolved_by,
      resolvedAt: row.resolved_at,
    }));
  }

  async resolveReport(id: number, by: number, at: number): Promise<boolean> {
    return this.mod.resolve.run(by, at, id).changes > 0;
  }

  async createInvite(invite: Invite): Promise<void> {
    this.db.transaction(() => {
      this.mod.invite.run(
        invite.token,
        invite.conversationId,
        invite.createdBy,
        invite.createdAt,
        invite.expiresAt,
        invite.usesLeft,
      );
      this.mod.invitesTrim.run(invite.conversationId, invite.createdAt, MAX_INVITES);
    })();
  }

  async trimAudit(keep: number): Promise<number> {
    return this.mod.auditTrim.run(keep).changes;
  }

  async useInvite(token: string, conversationId: number | null, now: number, accountId?: number): Promise<InviteUse> {
    return this.db.transaction((): InviteUse => {
      const row = this.mod.inviteGet.get(token);
      if (!row) return "unknown";
      if (row.conversation_id !== conversationId) return "wrong_room";
      const removed =
        conversationId === null || accountId === undefined
          ? undefined
          : this.mod.removedAt.get(conversationId, accountId);
      if (removed && removed.at >= row.created_at) return "revoked";
      if (row.expires_at !== null && row.expires_at <= now) return "expired";
      if (row.uses_left !== null && row.uses_left <= 0) return "used_up";
      this.mod.inviteUse.run(token);
      return "ok";
    })();
  }

  async removeMember(conversationId: number, accountId: number, at: number): Promise<boolean> {
    return this.db.transaction(() => {
      if (this.q.leave.run(accountId, conversationId).changes === 0) return false;
      this.mod.remove.run(conversationId, accountId, at);
      return true;
    })();
  }

  async createPasswordReset(tokenHash: string, accountId: number, expiresAt: number): Promise<void> {
    this.db.transaction(() => {
      this.mod.resetClear.run(accountId);
      this.mod.reset.run(tokenHash, accountId, expiresAt);
    })();
  }

  async usePasswordReset(tokenHash: string, now: number): Promise<number | undefined> {
    const row = this.mod.resetTake.get(tokenHash);
    return row && row.expires_at > now ? row.account_id : undefined;
  }

  // The admin page's reads.

  private adminQueries?: ReturnType<SqliteStore["prepareAdmin"]>;

  private prepareAdmin() {
    const q = <R, P extends unknown[]>(sql: string): Statement<R, P & import("bun:sqlite").SQLQueryBindings[]> =>
      this.db.query(sql) as never;
    return {
      roomNames: q<{ id: number; name: string }, [string]>(
        "SELECT id, name FROM conversations WHERE kind = 'room' AND id IN (SELECT value FROM json_each(?))",
      ),
      allRooms: q<
        {
          id: number;
          name: string;
          members: number;
          topic: string | null;
          private: number;
          created_by: number | null;
          created_at: number;
        },
        [number, number]
      >(
        `SELECT id, name, members, topic, private, created_by, created_at FROM conversations
         WHERE kind = 'room' AND id > ? ORDER BY id LIMIT ?`,
      ),
    };
  }

  private get admin() {
    return (this.adminQueries ??= this.prepareAdmin());
  }

  async accountNames(accountIds: readonly number[]): Promise<ReadonlyMap<number, string>> {
    return this.namesNow([...new Set(accountIds)]);
  }

  async roomNames(conversationIds: readonly number[]): Promise<Map<number, string>> {
    if (conversationIds.length === 0) return new Map();
    return new Map(this.admin.roomNames.all(JSON.stringify([...new Set(conversationIds)])).map((r) => [r.id, r.name]));
  }

  async allRooms(after: number, limit: number): Promise<RoomRecord[]> {
    return this.admin.allRooms.all(after, limit).map((row) => ({
      id: row.id,
      name: row.name,
      members: row.members,
      topic: row.topic ?? "",
      private: row.private === 1,
      ownerId: row.created_by,
      createdAt: row.created_at,
    }));
  }

  async search(plan: SearchPlan, scope: SearchScope, before: number, limit: number): Promise<SearchPage> {
    if (scope.conversationIds.length === 0) return { messages: [] };
    const hits = this.q.searchHits
      .all(fts5Match(plan, scope.conversationIds), before, SEARCH_SCAN)
      .map((row) => row.id);
    if (hits.length === 0) return { messages: [] };
    const rows = this.q.searchMessages.all(
      JSON.stringify(hits),
      JSON.stringify(scope.conversationIds),
      scope.senderId ?? null,
      scope.after ?? null,
      scope.before ?? null,
      limit,
    );
    return toSearchPage(rows, hits, limit, this.namesFor(rows));
  }

  /** Names for the accounts in these rows' reactions. */
  private namesFor(rows: readonly MessageRow[]): Names {
    return this.namesNow(reactionAccounts(rows));
  }

  /** The shown names of these accounts, by id. */
  private namesNow(ids: readonly number[]): Names {
    if (ids.length === 0) return new Map();
    return new Map(
      this.q.names
        .all(JSON.stringify(ids))
        .map((r) => [r.id, shownName({ id: r.id, name: r.name, nameKey: r.name_key })]),
    );
  }

  private messageNow(id: number): MessageView | undefined {
    const row = this.q.message.get(id);
    return row ? toMessage(row, this.namesFor([row])) : undefined;
  }

  private loadIndexed(): number {
    return Number(this.q.indexed.get()?.value ?? 0);
  }

  private loadEpoch(): string {
    const row = this.db.query<{ value: string }, []>("SELECT value FROM settings WHERE key = 'epoch'").get();
    if (row) return row.value;
    const epoch = crypto.randomUUID().replaceAll("-", "").slice(0, 12);
    this.db.query("INSERT INTO settings (key, value) VALUES ('epoch', ?)").run(epoch);
    return epoch;
  }

  private accountNow(id: number): Account | undefined {
    const row = this.q.account.get(id);
    return row ? toAccount(row) : undefined;
  }

  private lastIdNow(conversationId: number): number {
    return this.q.lastId.get(conversationId)?.id ?? 0;
  }

  private unreadNow(conversationId: number, accountId: number, readUpTo: number): number {
    return this.q.unread.get(conversationId, readUpTo, accountId, UNREAD_COUNT_CAP)?.n ?? 0;
  }

  private mentionsNow(conversationId: number, accountId: number, readUpTo: number): number {
    return this.q.unreadMentions.get(accountId, conversationId, readUpTo, UNREAD_COUNT_CAP)?.n ?? 0;
  }

  // ------------------------------------------------------------ accounts

  async account(id: number): Promise<Account | undefined> {
    return this.accountNow(id);
  }

  async accountByKey(nameKey: string): Promise<Account | undefined> {
    const row = this.q.accountByKey.get(nameKey);
    return row ? toAccount(row) : undefined;
  }

  async accountsByKeys(nameKeys: readonly string[]): Promise<Map<string, number>> {
    if (nameKeys.length === 0) return new Map();
    return new Map(this.q.byKeys.all(JSON.stringify(nameKeys)).map((row) => [row.name_key, row.id]));
  }

  async passwordHash(id: number): Promise<string | null> {
    return this.q.passwordHash.get(id)?.password_hash ?? null;
  }

  async createAccount(account: NewAccount, releaseFrom?: number): Promise<Account> {
    return nameConflicts(() => this.createAccountNow(account, releaseFrom));
  }

  private createAccountNow(account: NewAccount, releaseFrom?: number): Account {
    return this.db.transaction(() => {
      if (releaseFrom !== undefined) this.q.release.run(releaseFrom);
      const { lastInsertRowid } = this.q.insertAccount.run(
        account.kind,
        account.name,
        account.nameKey,
        account.image,
        account.passwordHash,
        account.device,
        account.now,
        account.now,
      );
      const id = Number(lastInsertRowid);
      this.q.join.run(id, LOBBY_ID, account.now, this.lastIdNow(LOBBY_ID));
      return this.accountNow(id)!;
    })();
  }

  async updateAccount(id: number, patch: AccountPatch, releaseFrom?: number): Promise<Account> {
    return nameConflicts(() => this.updateAccountNow(id, patch, releaseFrom));
  }

  private updateAccountNow(id: number, patch: AccountPatch, releaseFrom?: number): Account {
    return this.db.transaction(() => {
      if (releaseFrom !== undefined) this.q.release.run(releaseFrom);
      const columns: Record<string, string | number | null | undefined> = {
        kind: patch.kind,
        name: patch.name,
        name_key: patch.nameKey,
        password_hash: patch.passwordHash,
        device: patch.device,
      };
      const set = Object.entries(columns).filter(([, value]) => value !== undefined);
      if (set.length > 0)
        this.db
          .query(`UPDATE accounts SET ${set.map(([column]) => `${column} = ?`).join(", ")} WHERE id = ?`)
          .run(...set.map(([, value]) => value as string | number | null), id);
      const account = this.accountNow(id);
      if (!account) throw new Error(`no account ${id}`);
      return account;
    })();
  }

  async touchAccount(id: number, now: number): Promise<void> {
    this.q.touchAccount.run(now, id);
  }

  // ------------------------------------------------------------ sessions

  async liveSessions(sids: readonly string[]): Promise<Set<string>> {
    const live = new Set<string>();
    for (const sid of sids) if (this.q.session.get(sid)) live.add(sid);
    return live;
  }

  async session(sid: string): Promise<SessionRecord | undefined> {
    const row = this.q.session.get(sid);
    return row
      ? { sid: row.sid, accountId: row.account_id, createdAt: row.created_at, lastSeen: row.last_seen }
      : undefined;
  }

  async createSession(accountId: number, now: number): Promise<SessionRecord> {
    const sid = crypto.randomUUID();
    this.db.transaction(() => {
      this.q.insertSession.run(sid, accountId, now, now);
      this.q.touchAccount.run(now, accountId);
    })();
    return { sid, accountId, createdAt: now, lastSeen: now };
  }

  async touchSession(sid: string, now: number): Promise<void> {
    this.q.touchSession.run(now, sid);
  }

  async touchSessions(sids: readonly string[], now: number): Promise<void> {
    this.db.transaction(() => {
      for (const sid of sids) this.q.touchSession.run(now, sid);
    })();
  }

  async endSession(sid: string): Promise<void> {
    this.q.endSession.run(sid);
  }

  async endSessions(accountId: number): Promise<string[]> {
    return this.db.transaction(() => {
      const sids = this.q.sessionsOf.all(accountId).map((row) => row.sid);
      this.q.endSessionsOf.run(accountId);
      return sids;
    })();
  }

  async sweepSessions(before: number): Promise<SessionRecord[]> {
    return this.db.transaction(() => {
      const rows = this.q.idleSessions.all(before);
      for (const row of rows) this.q.endSession.run(row.sid);
      return rows.map((row) => ({
        sid: row.sid,
        accountId: row.account_id,
        createdAt: row.created_at,
        lastSeen: row.last_seen,
      }));
    })();
  }

  // ------------------------------------------------------------ conversations

  async room(nameKey: string): Promise<Conversation | undefined> {
    const row = this.q.room.get(nameKey);
    return row ? toConversation(row) : undefined;
  }

  async createRoom(
    name: string,
    nameKey: string,
    createdBy: number,
    now: number,
  ): Promise<{ room: Conversation; created: boolean }> {
    return this.db.transaction(() => {
      const existing = this.q.room.get(nameKey);
      if (existing) return { room: toConversation(existing), created: false };
      const { lastInsertRowid } = this.q.insertRoom.run(name, nameKey, createdBy, now);
      const id = Number(lastInsertRowid);
      this.q.join.run(createdBy, id, now, 0);
      return { room: toConversation(this.q.conversation.get(id)!), created: true };
    })();
  }

  async direct(a: number, b: number, now: number): Promise<Conversation> {
    const [low, high] = a <= b ? [a, b] : [b, a];
    return this.db.transaction(() => {
      let row = this.q.direct.get(low, high);
      if (!row) {
        const { lastInsertRowid } = this.q.insertDirect.run(low, high, now);
        row = this.q.conversation.get(Number(lastInsertRowid))!;
      }
      this.q.join.run(low, row.id, now, 0);
      this.q.join.run(high, row.id, now, 0);
      return toConversation(row);
    })();
  }

  async conversationsOf(accountId: number): Promise<Array<Pick<MembershipView, "conversation" | "peer">>> {
    return this.q.memberships.all(accountId).map((row) => ({ conversation: toConversation(row), peer: toPeer(row) }));
  }

  async memberships(accountId: number): Promise<MembershipView[]> {
    const views = this.q.memberships.all(accountId).map((row) => {
      const ends = this.q.ends.get(row.id);
      const lastId = ends?.id ?? 0;
      const counts =
        lastId > row.read_up_to
          ? this.q.behind.get(row.id, row.read_up_to, accountId, UNREAD_COUNT_CAP)
          : { unread: 0, mentions: 0 };
      return {
        conversation: toConversation(row),
        notify: row.notify ?? defaultNotifyLevel(row.kind),
        readUpTo: row.read_up_to,
        lastId,
        lastChange: ends?.rev ?? 0,
        unread: counts?.unread ?? 0,
        mentions: counts?.mentions ?? 0,
        peer: toPeer(row),
        rules: rulesOf(row),
      };
    });
    return sortMemberships(views);
  }

  async join(accountId: number, conversationId: number, now: number): Promise<boolean> {
    return this.q.join.run(accountId, conversationId, now, this.lastIdNow(conversationId)).changes > 0;
  }

  async setNotify(accountId: number, conversationId: number, level: NotifyLevel): Promise<boolean> {
    return this.q.setNotify.run(level, accountId, conversationId).changes > 0;
  }

  async leave(accountId: number, conversationId: number): Promise<boolean> {
    return this.q.leave.run(accountId, conversationId).changes > 0;
  }

  async markRead(accountId: number, conversationId: number, upTo: number): Promise<ReadState | undefined> {
    const capped = Math.min(upTo, this.lastIdNow(conversationId));
    if (this.q.markRead.run(capped, accountId, conversationId).changes === 0) return undefined;
    const readUpTo = this.q.readUpTo.get(accountId, conversationId)?.read_up_to ?? 0;
    return {
      readUpTo,
      unread: this.unreadNow(conversationId, accountId, readUpTo),
      mentions: this.mentionsNow(conversationId, accountId, readUpTo),
    };
  }

  async conversationIds(after: number, limit: number): Promise<number[]> {
    return this.q.conversationIds.all(after, limit).map((row) => row.id);
  }

  async roomCount(): Promise<number> {
    return this.q.roomCount.get()!.n;
  }

  async listRooms(limit: number): Promise<RoomListing[]> {
    return this.q.listRooms.all(LOBBY_ID, limit);
  }

  // ------------------------------------------------------------ messages

  async append(writes: readonly LogWrite[]): Promise<void> {
    this.appendBatch(writes);
  }

  /** `append`, synchronously: the batching writer commits at the end of an event-loop turn. */
  appendNow(writes: readonly LogWrite[]): void {
    this.appendBatch(writes);
  }

  async message(id: number): Promise<MessageView | undefined> {
    return this.messageNow(id);
  }

  async around(conversationId: number, id: number, limit: number): Promise<MessagePage & { newer: boolean }> {
    const before = this.q.page.all(conversationId, id, limit + 1);
    const after = this.q.after.all(conversationId, id - 1, limit + 2);
    const newer = after.length > limit + 1;
    const rows = [...before.slice(0, limit).reverse(), ...after.slice(0, limit + 1)];
    const names = this.namesFor(rows);
    return { messages: rows.map((row) => toMessage(row, names)), more: before.length > limit, newer };
  }

  async membersAmong(conversationId: number, accountIds: readonly number[]): Promise<Set<number>> {
    if (accountIds.length === 0) return new Set();
    return new Set(this.q.membersAmong.all(conversationId, JSON.stringify(accountIds)).map((r) => r.account_id));
  }

  async findByCid(senderId: number, cid: string): Promise<number | undefined> {
    return this.findByCidNow(senderId, cid);
  }

  /** `findByCid`, synchronously: the writer checks a resend without a promise. */
  findByCidNow(senderId: number, cid: string): number | undefined {
    return this.q.byCid.get(senderId, cid)?.id;
  }

  async lastMessageId(): Promise<number> {
    return this.lastMessageIdNow();
  }

  /** The log's highest position: a message's id or a change's. */
  lastMessageIdNow(): number {
    return Math.max(this.q.maxId.get()?.id ?? 0, this.q.maxRev.get()?.rev ?? 0);
  }

  async log(after: number, upTo: number, limit: number): Promise<{ entries: LogEntry[]; reached: number }> {
    const created = this.q.logCreated.all(after, upTo, limit);
    const changed = this.q.logChanged.all(after, upTo, limit);
    return toLog(created, changed, after, upTo, limit, this.namesFor([...created, ...changed]));
  }

  async page(conversationId: number, limit: number, before: number): Promise<MessagePage> {
    const rows = this.q.page.all(conversationId, before, limit + 1);
    return toPage(rows, limit, this.namesFor(rows));
  }

  async since(conversationId: number, after: number, upTo: number, cap: number): Promise<MessageGap> {
    const pruned = this.q.conversation.get(conversationId)?.pruned_up_to ?? 0;
    const rows = this.q.since.all(conversationId, after, upTo, cap + 1);
    return toGap(rows, cap, after, pruned, this.namesFor(rows));
  }

  async directPage(accountId: number, limit: number, before: number): Promise<MessagePage> {
    const rows = this.q.directPage.all(accountId, before, limit + 1);
    return toPage(rows, limit, this.namesFor(rows));
  }

  async directSince(accountId: number, after: number, upTo: number, cap: number): Promise<MessageGap> {
    const pruned = this.q.directPruned.get(accountId)?.pruned ?? 0;
    const rows = this.q.directSince.all(accountId, after, upTo, cap + 1);
    return toGap(rows, cap, after, pruned, this.namesFor(rows));
  }

  /**
   * The highest message id sent before `ts` (0: none). Ids grow with time, so a binary search on
   * the primary key finds it without an index on the time (which would cost every insert).
   */
  private lastIdBefore(ts: number): number {
    const firstFrom = this.db.query<{ id: number; created_at: number }, [number]>(
      "SELECT id, created_at FROM messages WHERE id >= ? ORDER BY id LIMIT 1",
    );
    let low = 0;
    let high = this.q.maxId.get()?.id ?? 0;
    // Invariant: messages with id <= low were sent before `ts` (or low = 0); those with id > high were not.
    while (low < high) {
      const middle = Math.floor((low + high + 1) / 2);
      const row = firstFrom.get(middle);
      if (row && row.created_at < ts) low = row.id;
      else high = middle - 1;
    }
    return low;
  }

  async prune(now: number, touched?: readonly number[]): Promise<number> {
    const { maxPerConversation, maxAgeMs } = this.options.retention;
    let deleted = 0;
    this.db.transaction(() => {
      if (maxAgeMs > 0) {
        const cutoffId = this.lastIdBefore(now - maxAgeMs);
        if (cutoffId > 0) {
          // Watermarks first: the highest id about to go, per conversation (resume must know).
          this.db
            .query(
              `UPDATE conversations SET pruned_up_to = max(pruned_up_to,
                 (SELECT coalesce(max(id), 0) FROM messages WHERE conversation_id = conversations.id AND id <= ?1))
               WHERE id IN (SELECT DISTINCT conversation_id FROM messages WHERE id <= ?1)`,
            )
            .run(cutoffId);
          deleted += this.db.query("DELETE FROM messages WHERE id <= ?").run(cutoffId).changes;
        }
      }
      if (maxPerConversation > 0) {
        // Rooms and direct conversations alike.
        const cutAt = this.db.query<{ id: number }, [number, number]>(
          "SELECT id FROM messages WHERE conversation_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?",
        );
        const ids =
          touched ??
          this.db
            .query<{ id: number }, []>("SELECT id FROM conversations")
            .all()
            .map((r) => r.id);
        for (const id of ids) {
          const cut = cutAt.get(id, maxPerConversation);
          if (!cut) continue;
          this.db.query("UPDATE conversations SET pruned_up_to = max(pruned_up_to, ?) WHERE id = ?").run(cut.id, id);
          deleted += this.db
            .query("DELETE FROM messages WHERE conversation_id = ? AND id <= ?")
            .run(id, cut.id).changes;
        }
      }
    })();
    return deleted;
  }

  // ------------------------------------------------------------ files

  async claimBlob(hash: string, size: number, now: number): Promise<boolean> {
    return this.db.transaction(() => {
      const known = this.db.query("SELECT 1 FROM blobs WHERE hash = ?").get(hash) !== null;
      this.db
        .query(
          `INSERT INTO blobs (hash, size, claimed_at) VALUES (?, ?, ?)
           ON CONFLICT(hash) DO UPDATE SET claimed_at = max(claimed_at, excluded.claimed_at)`,
        )
        .run(hash, size, now);
      return known;
    })();
  }

  async fileUsage(accountId: number): Promise<FileUsage> {
    const row = this.db
      .query<{ account: number; total: number }, [number]>(
        `SELECT (SELECT coalesce(sum(file_size), 0) FROM messages WHERE sender_id = ? AND file_hash IS NOT NULL) AS account,
           (SELECT coalesce(sum(size), 0) FROM blobs) AS total`,
      )
      .get(accountId)!;
    return { account: row.account, total: row.total };
  }

  async orphanBlobs(before: number, limit: number): Promise<string[]> {
    return this.db
      .query<{ hash: string }, [number, number]>(
        `SELECT hash FROM blobs b WHERE claimed_at < ?
           AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.file_hash = b.hash) LIMIT ?`,
      )
      .all(before, limit)
      .map((row) => row.hash);
  }

  async collectBlob(hash: string, before: number, remove: () => Promise<void>): Promise<boolean> {
    // One process: the file service holds this hash's lock, so no claim can come in between.
    const orphan = this.db
      .query(
        `SELECT 1 FROM blobs b WHERE hash = ? AND claimed_at < ?
           AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.file_hash = b.hash)`,
      )
      .get(hash, before);
    if (!orphan) return false;
    await remove();
    this.db.query("DELETE FROM blobs WHERE hash = ?").run(hash);
    return true;
  }

  // ------------------------------------------------------------ life

  /** Whether a write goes through (proved at most every few seconds while it does). */
  healthy(): Promise<boolean> {
    return this.writes.healthy();
  }

  /** Proves a write now (whatever the last probe said). */
  probe(): Promise<boolean> {
    return this.writes.probe();
  }

  /** Records that a write failed: unhealthy until a probe write goes through. */
  writeFailed(): void {
    this.writes.failed();
  }

  /** Size of the WAL file in bytes (0 in memory). */
  walBytes(): number {
    if (!this.walPath) return 0;
    try {
      return statSync(this.walPath).size;
    } catch {
      return 0;
    }
  }

  maintain(): void {
    if (this.walBytes() <= this.options.walMaxBytes) return;
    // Without waiting: a reader in another process (`teahouse backup`'s snapshot) would make a TRUNCATE
    // checkpoint wait out the busy timeout on the event loop (5 s, measured), every check. What it
    // cannot do now is done at a later check.
    this.db.exec("PRAGMA busy_timeout = 0");
    try {
      this.db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    } finally {
      this.db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    }
  }

  async close(): Promise<void> {
    if (this.walPath) this.db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    this.db.close();
  }
}
