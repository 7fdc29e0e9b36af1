/**
 * The chat socket's core: a socket's life (open, frames, close) and the
 * operations the command handlers share (entering and leaving conversations,
 * presence, history, refusals). What each client frame does is in
 * chat/handlers/, one file per command; parsing and encoding are in codec.ts;
 * which sockets exist is the registry's. Broadcasts go through Bun's pub/sub
 * topics, each frame encoded once. A message is stored before it is
 * broadcast or acknowledged. The frames of one socket are handled one after
 * another (each may wait for the store), so a `join` followed by a `chat` is
 * always handled in that order.
 */
import { DEFAULT_ROOM, ErrorCode, type ClientFrame, type Position, type User } from "../protocol";
import type { Conversation, MembershipView, MessageView } from "../domain/model";
import type { Store } from "../ports/store";
import type { MessageWriter } from "../store/writer";
import type { Logger } from "../log";
import type { Metrics } from "../ops/metrics";
import type { RateLimit } from "../security/rate";
import type { Noticed } from "../services/push";
import type { ModerationService } from "../services/moderation";
import { Codec, parseClientFrame, peekCid, toUser } from "./codec";
import { ConnectionRegistry, type OnlineAccount, type Socket } from "./registry";
import { ConversationInterner, Memberships } from "./memberships";
import { Presence, Roster } from "./presence";
import { PresenceFeed } from "./feed";
import { conversationTopic, membersTopic, userTopic } from "./topics";
import { handlers } from "./handlers";
import type { LogEntry } from "../ports/store";
import type { LogItem } from "../ports/bus";
import { LogTail } from "./tail";
import { RoomRules } from "./rules";
import type { ServerRole } from "../domain/policy";
import { LONE, type Peers } from "./cluster";

/** Limits the hub enforces on frames. */
export interface ChatLimits {
  maxMessageLength: number;
  /** Messages per `history` frame (on join, and the largest page). */
  historyPageSize: number;
  /** Rooms one account may be in at once, the lobby included. */
  maxRoomsPerUser: number;
  /** An account whose last socket closed stays online this long (0: leaves at once). */
  presenceGraceMs: number;
  /** Rooms that may exist in all. */
  maxRooms: number;
  /** Bytes of history one socket open sends at most; past it, conversations come empty (`more`). */
  openBudgetBytes: number;
  /** Rooms up to this many online: `join`/`left` per person; above: batched `presence`. */
  presenceFullRoomSize: number;
  /** Rooms above this many online: `presence` frames carry the count alone. */
  presenceBigRoomSize: number;
}

/** How often a big room's batched `presence` frame goes out. */
export const PRESENCE_INTERVAL_MS = 1000;
/** An open's history left to send, in bytes. */
interface Budget {
  bytes: number;
}
/** Bytes a message frame takes at least besides its text (id, type, user, ts). */
const MESSAGE_FRAME_OVERHEAD = 60;
/** An open hands the event loop back after this long of sending history. */
const OPEN_SLICE_MS = 5;
/** Members per `members` page. */
export const MEMBERS_PAGE_SIZE = 100;
/** How long a closed session is remembered, for its sockets still opening. */
const ENDED_SESSION_MEMORY_MS = 60_000;
/** Most closed sessions remembered at once. */
const ENDED_SESSIONS_MAX = 10_000;

export interface HubDeps {
  store: Store;
  writer: MessageWriter;
  /** Whether messages are stored (HISTORY). */
  history: boolean;
  /** Ids of the frames this server makes itself. */
  nextId: () => number;
  /**
   * A new message's id: from the frames' sequence (SQLite, one process), or 0 when the store
   * assigns ids in commit order (PostgreSQL, `sequenced`).
   */
  messageId: () => number;
  /** Message ids are gapless, in commit order, shared by several instances (PostgreSQL). */
  sequenced: boolean;
  /** The other instances (default: none). */
  peers?: Peers;
  /** Bun's server.publish with delivery counting. */
  deliver: (topic: string, text: string) => void;
  /** Room creations per account. */
  roomCreations: RateLimit<number>;
  limits: ChatLimits;
  log: Logger;
  /** Counts refused frames (GET /metrics). */
  metrics?: Pick<Metrics, "frameRefused">;
  /** Hears every failure of a handler (a corrupt store is fatal). */
  onError?: (error: unknown) => void;
  /** Hears each message stored by this instance, once delivered (pushes). */
  stored?: (message: Noticed) => void;
  /** Moderation use cases (invites, the audit log) for the room commands. */
  moderation?: ModerationService;
  /** Hears an account having a page in front of it (here or on another instance): what was held back is seen. */
  looked?: (accountId: number) => void;
  now?: () => number;
}

/** Where a reconnecting client was: a log position and the rooms it was in. */
export interface ResumePoint {
  since: number;
  /** The position's epoch; absent for a bare id (older clients). */
  epoch?: string;
}

/** Most messages replayed per conversation on resume; a larger gap gets the latest page and `recovered: false`. */
export const RESUME_MAX_MESSAGES = 1000;

export class ChatHub {
  readonly registry = new ConnectionRegistry();
  /** The conversations of the accounts online here, one object each. */
  readonly interner = new ConversationInterner();
  readonly presence = new Presence();
  /** Who is online in each room on every instance (counts; kept only with other instances, see onlineCount). */
  readonly roster = new Roster();
  readonly feed: PresenceFeed;
  /** Room settings, mutes and slow mode, in memory (rules.ts). */
  readonly rules: RoomRules;
  /** When opens last gave the event loop back (see `breathe`). */
  private sliceStarted = performance.now();
  /** Accounts whose last socket closed here, within the presence grace: their departure, pending. */
  private readonly departing = new Map<number, Timer>();
  /** Sessions closed lately: a socket of one that was still opening is closed when it registers. */
  private readonly endedSessions = new Map<string, { until: number; code: number; reason: string }>();
  /** Every socket was closed (`disconnectAll`) this many times, the last with this code. */
  private disconnected = { generation: 0, code: 0, reason: "" };
  readonly codec: Codec;
  readonly now: () => number;
  /** Delivers committed messages here, in id order. */
  readonly tail: LogTail;
  readonly peers: Peers;

  constructor(readonly deps: HubDeps) {
    this.now = deps.now ?? Date.now;
    this.codec = new Codec(deps.nextId, this.now);
    this.rules = new RoomRules(this.now);
    this.peers = deps.peers ?? LONE;
    this.feed = new PresenceFeed({
      fullRoomSize: deps.limits.presenceFullRoomSize,
      bigRoomSize: deps.limits.presenceBigRoomSize,
      intervalMs: PRESENCE_INTERVAL_MS,
      count: (room) => this.onlineCount(room),
      encode: (frame) => this.codec.encode(frame),
      deliver: (topic, text) => deps.deliver(topic, text),
    });
    this.tail = new LogTail({
      sequenced: deps.sequenced,
      read: (after, upTo, limit) => deps.store.log(after, upTo, limit),
      encode: (entry) => this.logItem(entry),
      deliver: (item) => this.deliverItem(item),
      log: deps.log,
    });
  }

  /**
   * Highest message id delivered on this instance (at start: the highest stored): history sent to a
   * socket stops there, later ones come live.
   */
  get lastDeliveredId(): number {
    return this.tail.last;
  }

  set lastDeliveredId(id: number) {
    this.tail.last = Math.max(this.tail.last, id);
  }

  /** Accounts this instance last told the others it has a page in front of (with peers only). */
  private readonly seenHere = new Set<number>();

  /** Whether any socket of the account, here or on another instance, has its page in front of its reader. */
  visible(accountId: number): boolean {
    return this.registry.isVisible(accountId) || this.peers.visible(accountId);
  }

  visibleAccounts(): number[] {
    return [...this.seenHere];
  }

  /** A socket of the account opened, closed or said whether it is seen: the others hear of a change. */
  visibilityChanged(accountId: number): void {
    const visible = this.registry.isVisible(accountId);
    if (visible) this.deps.looked?.(accountId);
    if (this.peers === LONE) return;
    if (visible === this.seenHere.has(accountId)) return;
    if (visible) this.seenHere.add(accountId);
    else this.seenHere.delete(accountId);
    this.peers.publish({ t: "seen", account: accountId, visible });
  }

  /** Messages committed here since the last bus announcement (one `messages` event per batch). */
  private outbox: LogItem[] = [];

  /** A message committed here, for the other instances: announced with the rest of its batch. */
  announced(item: LogItem): void {
    if (this.peers === LONE) return;
    if (this.outbox.push(item) > 1) return;
    queueMicrotask(() => {
      const items = this.outbox;
      this.outbox = [];
      this.peers.publish({ t: "messages", items });
    });
  }

  /** A stored message as delivered: its frame and the topics of its conversation. */
  logItem({ seq, change, message, conversation }: LogEntry): LogItem {
    const text =
      change === null
        ? this.codec.message(message, conversation)
        : this.codec.change(seq, change, message, conversation);
    return { id: seq, text, ...this.whereTo(conversation) };
  }

  /** The topics of a conversation's log entries (a direct one's members online learn it with them). */
  whereTo(conversation: Conversation): Pick<LogItem, "topics" | "direct"> {
    if (conversation.kind === "room") return { topics: [conversationTopic(conversation.id)] };
    const [a, b] = conversation.pair!;
    return { topics: a === b ? [userTopic(a)] : [userTopic(a), userTopic(b)], direct: conversation };
  }

  /** One message to its topics here; members online here learn a direct conversation that is new to them. */
  private deliverItem(item: LogItem): void {
    const direct = item.direct;
    if (direct)
      for (const accountId of new Set(direct.pair!)) {
        const account = this.registry.get(accountId);
        if (account && !account.conversations.has(direct.id)) this.addConversation(account, direct);
      }
    for (const topic of item.topics) this.deps.deliver(topic, item.text);
  }

  get position(): Position {
    return { epoch: this.deps.store.epoch, offset: this.lastDeliveredId };
  }

  /**
   * Runs `work` after the socket's earlier frames (at once when none is pending: most frames never
   * wait for anything, so they cost no promise); a failure costs that frame, never the process.
   */
  enqueue(ws: Socket, what: string, work: () => Promise<void> | void): void {
    const state = ws.data;
    if (state.closed && what !== "close") return;
    if (state.queue === null) {
      const pending = this.run(ws, what, work);
      if (pending) this.track(ws, pending);
      return;
    }
    this.track(
      ws,
      state.queue.then(() => (state.closed && what !== "close" ? undefined : this.run(ws, what, work))),
    );
  }

  private run(ws: Socket, what: string, work: () => Promise<void> | void): Promise<void> | undefined {
    let result: Promise<void> | void;
    try {
      result = work();
    } catch (error) {
      this.failed(ws, what, error);
      return undefined;
    }
    return result instanceof Promise ? result.catch((error: unknown) => this.failed(ws, what, error)) : undefined;
  }

  /** `pending` is the socket's last queued work: frames arriving before it settles wait for it. */
  private track(ws: Socket, pending: Promise<void>): void {
    const state = ws.data;
    state.queue = pending;
    void pending.then(() => {
      if (state.queue === pending) state.queue = null;
    });
  }

  // ------------------------------------------------------------ a socket's life

  /**
   * A socket of a signed-in session opened. The account's first socket here brings it online in
   * its rooms (`join` to each). The socket gets `conversations`, then `list` and `history` per
   * room, then the history of its direct conversations; resuming, only what it missed. Run it in
   * the socket's queue (`enqueue`), before any of its frames.
   */
  async open(ws: Socket, user: User, resume?: ResumePoint, role: ServerRole = user.type): Promise<void> {
    const { store } = this.deps;
    const generation = this.disconnected.generation;
    const deliveredBefore = this.lastDeliveredId;
    const memberships = await store.memberships(user.id);
    if (ws.data.closed) return;
    const { account, first } = this.registry.add(ws, user, () => this.stateFrom(memberships, user.id), role);
    for (const view of memberships) if (view.rules) this.rules.learn(view.conversation.id, user.id, view.rules);
    this.visibilityChanged(user.id);
    // Closed while it was opening: its session signed out, or every socket was sent away.
    const ended = this.endedSessions.get(ws.data.sid);
    if (ended) return ws.close(ended.code, ended.reason);
    if (this.disconnected.generation !== generation) return ws.close(this.disconnected.code, this.disconnected.reason);
    // A new name heard here first (a sign-in elsewhere renamed the account): everything here follows.
    if (!first && (account.user.name !== user.name || account.user.type !== user.type)) this.renamed(user, false);
    else if (!first) account.user = user;
    // Every topic at once, with nothing awaited until `upTo` is read: a message delivered in between
    // would come both live and in history.
    // Its account's topic and EVERYONE_TOPIC reach it through the registry (app.ts, `deliver`).
    for (const room of account.conversations.rooms()) ws.subscribe(conversationTopic(room.id));
    // Read now: from here on messages reach this socket live, so history stops here.
    const upTo = this.lastDeliveredId;
    this.sendConversations(ws, account, memberships);
    if (first) {
      void store.touchAccount(user.id, this.now()).catch(() => {});
      if (this.departing.has(user.id)) this.reconcile(account);
      for (const room of account.conversations.rooms()) this.arrive(account.user, room.id, room.name!);
    }
    const since = resume && (await this.validSince(resume)) ? resume.since : resume ? -1 : undefined;
    // What an open sends is bounded in bytes, and it gives the event loop back between conversations.
    const budget: Budget = { bytes: this.deps.limits.openBudgetBytes };
    // The memberships' newest ids hold up to `upTo` only if nothing was delivered since they were read.
    const current = deliveredBefore === upTo;
    // A conversation's last log position: its newest message or its newest change to one.
    const lastOf = (view: MembershipView) => Math.max(view.lastId, view.lastChange);
    const lastIds = new Map(memberships.map((view) => [view.conversation.id, current ? lastOf(view) : undefined]));
    let lastDirect: number | undefined = current ? 0 : undefined;
    for (const view of memberships)
      if (view.conversation.kind === "direct" && lastDirect !== undefined)
        lastDirect = Math.max(lastDirect, lastOf(view));
    for (const room of account.conversations.rooms()) {
      // Left meanwhile (another tab): nothing to send. One entered meanwhile was sent by enterRoom.
      if (!account.conversations.has(room.id)) continue;
      await this.sendRoomState(ws, room, upTo, since, budget, lastIds.get(room.id));
      await this.breathe();
    }
    await this.sendDirectHistory(ws, account, upTo, since, budget, lastDirect);
  }

  /**
   * The resume position is of this log and not beyond its end. (Another instance may have delivered
   * a little further than this one: its messages come here live.)
   */
  private async validSince(resume: ResumePoint): Promise<boolean> {
    if (resume.epoch !== undefined && resume.epoch !== this.deps.store.epoch) return false;
    if (resume.since <= this.lastDeliveredId) return true;
    return this.deps.sequenced && resume.since <= (await this.deps.store.lastMessageId());
  }

  private stateFrom(memberships: readonly MembershipView[], accountId: number): Memberships {
    const state = new Memberships(accountId);
    for (const { conversation } of memberships) state.add(this.interner.intern(conversation));
    return state;
  }

  /** Records a conversation in an online account's state. */
  addConversation(account: OnlineAccount, conversation: Conversation): void {
    account.conversations.add(this.interner.intern(conversation));
  }

  /**
   * A socket closed (for any reason): the account's last socket here takes it offline in its rooms,
   * after the presence grace (a reload or a reconnect within it is neither a `left` nor a `join`).
   */
  close(ws: Socket): void {
    ws.data.closed = true;
    this.enqueue(ws, "close", () => {
      const removed = this.registry.remove(ws);
      if (removed) this.visibilityChanged(removed.account.user.id);
      if (!removed?.last) return;
      const { account } = removed;
      void this.deps.store.touchAccount(account.user.id, this.now()).catch(() => {});
      const graceMs = this.deps.limits.presenceGraceMs;
      if (graceMs <= 0) return this.departRooms(account);
      clearTimeout(this.departing.get(account.user.id));
      const timer = setTimeout(() => {
        this.departing.delete(account.user.id);
        this.departRooms(account);
      }, graceMs);
      timer.unref();
      this.departing.set(account.user.id, timer);
    });
  }

  /**
   * An account that had no socket left here: offline in every room where presence still holds it
   * and it has not come back (presence, not the account's rooms then: it may have left some since).
   */
  private departRooms(account: OnlineAccount): void {
    const back = this.registry.get(account.user.id);
    for (const [id, name, held] of this.presence.roomsOf(account.user.id))
      if (!back?.conversations.has(id)) this.depart(back?.user ?? held, id, name);
  }

  /**
   * An account back within the presence grace (its first socket here again): rooms it left meanwhile
   * are departed now, and a name or kind that changed meanwhile is announced (`join` again).
   */
  private reconcile(account: OnlineAccount): void {
    const user = account.user;
    for (const [id, name, held] of this.presence.roomsOf(user.id)) {
      if (!account.conversations.has(id)) this.depart(held, id, name);
      else if (held.name !== user.name || held.type !== user.type || held.image !== user.image) {
        this.presence.update(id, user);
        this.announce("renamed", user, id, name);
      }
    }
  }

  /** One client frame. Bad frames get an `error` frame; the socket stays open. */
  message(ws: Socket, raw: string | Buffer): void {
    // Refusals too wait their turn: answers come in the order the frames came.
    if (typeof raw !== "string")
      return this.enqueue(ws, "message", () =>
        this.refuse(ws, ErrorCode.BinaryFrame, "Binary frames are not supported; send JSON text"),
      );
    const parsed = parseClientFrame(raw);
    if (!parsed.ok) {
      const cid = peekCid(raw);
      return this.enqueue(ws, "message", () => this.refuse(ws, parsed.code, parsed.message, cid));
    }
    const frame = parsed.frame;
    this.enqueue(ws, "message", () => {
      const account = ws.data.account;
      if (!account) return;
      return (
        handlers[frame.type] as (
          hub: ChatHub,
          ws: Socket,
          account: OnlineAccount,
          frame: ClientFrame,
        ) => Promise<void> | void
      )(this, ws, account, frame);
    });
  }

  // ------------------------------------------------------------ shared operations

  /** The account is online in a room here: `join` to the room when it was online nowhere. */
  arrive(user: User, conversationId: number, room: string): void {
    if (!this.presence.add(conversationId, user, room)) return;
    if (this.peers !== LONE) this.roster.hold(conversationId, user.id);
    this.peers.publish({ t: "arrive", room: conversationId, name: room, user });
    if (!this.peers.present(conversationId, user.id)) this.announce("join", user, conversationId, room);
  }

  /** The account is no longer online in a room here: `left` to the room when it is online nowhere now. */
  depart(user: User, conversationId: number, room: string): void {
    if (!this.presence.remove(conversationId, user.id)) return;
    if (this.peers !== LONE) this.roster.release(conversationId, user.id);
    this.peers.publish({ t: "depart", room: conversationId, name: room, user });
    if (!this.peers.present(conversationId, user.id)) this.announce("left", user, conversationId, room);
  }

  /** Someone came online in a room anywhere (or was renamed: `join` again), or is online nowhere now. */
  announce(type: "join" | "renamed" | "left", user: User, conversationId: number, room: string): void {
    this.feed.changed(type, user, conversationId, room);
  }

  /**
   * People online in a room, on every instance. Alone, that is presence here: the roster, which
   * would hold the same accounts again (~70 bytes each per room), is kept only with other instances.
   */
  onlineCount(conversationId: number): number {
    if (this.peers === LONE) return this.presence.count(conversationId);
    return this.roster.count(conversationId);
  }

  /** A `list` frame's members: all of them, or in a room above the full size, the count and `more`. */
  private listOf(conversationId: number): { data: User[]; count: number; more?: boolean } {
    const count = this.onlineCount(conversationId);
    if (count > this.deps.limits.presenceFullRoomSize) return { data: [], count, more: true };
    return { data: this.members(conversationId), count };
  }

  /** Who is online in a room, on every instance (an account once). */
  members(conversationId: number): User[] {
    const users = this.presence.members(conversationId);
    const here = new Set(users.map((user) => user.id));
    for (const user of this.peers.members(conversationId)) if (!here.has(user.id)) users.push(user);
    return users;
  }

  /**
   * An online account became a member of a room (a `join`, or a resume naming it): its state, every
   * socket subscribed, `room` (joined) to its sockets, `join` to the room, then `list` and `history`
   * to each socket but `except` (a resuming socket gets its own below). `publish`: its sockets on
   * the other instances enter it too (false: the news came from there).
   */
  async enterRoom(account: OnlineAccount, room: Conversation, except?: Socket, publish = true): Promise<void> {
    const name = room.name!;
    // A new member: the room's rules as they are, no mute, no moderation (its creator owns it).
    const settings = this.rules.room(room.id) ?? (await this.deps.store.roomSettings(room.id));
    // A mute outlives the membership: leaving and joining again does not lift it.
    const mutedUntil =
      (await this.deps.store.roomMembers(room.id, [account.user.id])).get(account.user.id)?.mutedUntil ?? 0;
    if (settings) this.rules.learn(room.id, account.user.id, { ...settings, moderator: false, mutedUntil });
    this.addConversation(account, room);
    this.subscribeAll(account, room.id);
    const upTo = this.lastDeliveredId;
    if (publish) this.peers.publish({ t: "entered", account: account.user.id, room });
    const standing = this.standing(account, room.id, settings);
    this.toAccountHere(
      account.user.id,
      this.codec.encode({ type: "room", user: account.user, data: { name, event: "joined", ...standing }, room: name }),
    );
    this.arrive(account.user, room.id, name);
    for (const socket of account.sockets) if (socket !== except) await this.sendRoomState(socket, room, upTo);
  }

  /** A room's settings and the account's standing there, as `conversations` and `room` (joined) carry them. */
  private standing(
    account: OnlineAccount,
    roomId: number,
    settings: { topic: string; slowSeconds: number; private: boolean; ownerId: number | null } | undefined,
  ) {
    const owns = account.role === "owner" || account.role === "admin" || settings?.ownerId === account.user.id;
    return {
      ...(settings?.topic ? { topic: settings.topic } : {}),
      ...(settings?.slowSeconds ? { slow: settings.slowSeconds } : {}),
      ...(settings?.private ? { private: true } : {}),
      ...(this.moderates(account, roomId) ? { moderates: true } : {}),
      ...(owns ? { owns: true } : {}),
    };
  }

  /** An account's server role changed: its sockets here act with it (and, `publish`, on every instance). */
  roleChanged(accountId: number, role: ServerRole, publish = true): void {
    const account = this.registry.get(accountId);
    if (account) account.role = role;
    if (publish) this.peers.publish({ t: "role", account: accountId, role });
  }

  /** Whether the account moderates the room: a server admin, the room's owner or one of its moderators. */
  moderates(account: OnlineAccount, roomId: number): boolean {
    return account.role === "owner" || account.role === "admin" || this.rules.isModerator(roomId, account.user.id);
  }

  /** The account left a room (`leave`): `room` (left) to its sockets, `left` to the room; `publish` as for enterRoom. */
  leaveRoom(account: OnlineAccount, room: Conversation, publish = true, event: "left" | "removed" = "left"): void {
    const name = room.name!;
    this.rules.forget(room.id, account.user.id);
    account.conversations.delete(room.id);
    if (publish) this.peers.publish({ t: "left", account: account.user.id, room: room.id });
    this.toAccountHere(
      account.user.id,
      this.codec.encode({ type: "room", user: account.user, data: { name, event }, room: name }),
    );
    this.depart(account.user, room.id, name);
    this.unsubscribeAll(account, room.id);
  }

  /** Every socket of the account subscribes to a room it entered. */
  subscribeAll(account: OnlineAccount, conversationId: number): void {
    for (const socket of account.sockets)
      if (socket.readyState === 1) socket.subscribe(conversationTopic(conversationId));
  }

  unsubscribeAll(account: OnlineAccount, conversationId: number): void {
    for (const socket of account.sockets)
      if (socket.readyState === 1) {
        socket.unsubscribe(conversationTopic(conversationId));
        socket.unsubscribe(membersTopic(conversationId));
      }
  }

  sendConversations(ws: Socket, account: OnlineAccount, memberships: readonly MembershipView[]): void {
    const data = [];
    for (const view of memberships) {
      const c = view.conversation;
      const entry = {
        unread: view.unread,
        mentions: view.mentions,
        read: view.readUpTo,
        last: view.lastId,
        notify: view.notify,
      };
      if (c.kind === "room") {
        const rules = view.rules;
        data.push({
          room: c.name!,
          ...entry,
          ...this.standing(account, c.id, rules),
          ...(rules && rules.mutedUntil > this.now() ? { mutedUntil: rules.mutedUntil } : {}),
        });
        continue;
      }
      if (view.peer) data.push({ with: view.peer.id, user: toUser(view.peer), ...entry });
    }
    this.sendTo(ws, this.codec.encode({ type: "conversations", user: account.user, data, position: this.position }));
  }

  /**
   * `list` and `history` for a room this socket is subscribed to. History stops at `upTo`, the last
   * message delivered here when the socket subscribed: every later one reaches the socket live, so
   * none is missing and none comes twice. `since` -1: a resume whose position is not of this log.
   */
  async sendRoomState(
    ws: Socket,
    room: Conversation,
    upTo: number,
    since?: number,
    budget?: Budget,
    /** The room's last log position when the socket opened (a spent budget still says "nothing missed"). */
    lastId?: number,
  ): Promise<void> {
    if (ws.readyState !== 1) return;
    const name = room.name!;
    this.sendTo(
      ws,
      this.codec.encode({
        type: "list",
        user: ws.data.account!.user,
        ...this.listOf(room.id),
        room: name,
      }),
    );
    if (!this.deps.history) return;
    const { store, limits } = this.deps;
    const position = { epoch: store.epoch, offset: upTo };
    const recoveredIf = (recovered?: boolean) => (recovered === undefined ? {} : { recovered });
    // Nothing missed since the resume position (the room's log ends there): recovered, without reading
    // the store, whatever is left of the budget. Most sockets of a restart storm are this.
    if (since !== undefined && since >= 0 && lastId !== undefined && lastId <= since)
      return this.sendTo(ws, this.codec.history([], { room: name, more: since > 0, recovered: true, position }));
    if (budget?.bytes === 0) {
      const recovered = since === undefined ? {} : { recovered: false };
      return this.sendTo(ws, this.codec.history([], { room: name, more: true, position, ...recovered }));
    }
    const latest = async (recovered?: boolean) => {
      const page = await store.page(room.id, limits.historyPageSize, upTo + 1);
      await this.breathe();
      const text = this.codec.history(
        page.messages.map((message) => ({ message, conversation: room })),
        { room: name, more: page.more, position, ...recoveredIf(recovered) },
      );
      this.sendTo(
        ws,
        this.fits(budget, text)
          ? text
          : this.codec.history([], { room: name, more: true, position, ...recoveredIf(recovered) }),
      );
    };
    if (since === undefined) return latest();
    if (since < 0) return latest(false);
    const gap = await store.since(room.id, since, upTo, RESUME_MAX_MESSAGES);
    if (!gap.complete || this.surelyOver(budget, gap.messages)) return latest(false);
    await this.breathe();
    const text = this.codec.history(
      gap.messages.map((message) => ({ message, conversation: room })),
      { room: name, more: since > 0, recovered: true, position },
    );
    // Over the open's budget: the latest page (or none) and `recovered: false`; the client pages back.
    if (!this.fits(budget, text, false)) return latest(false);
    this.sendTo(ws, text);
  }

  /** Whether these messages cannot fit what is left of the budget (checked before encoding them). */
  private surelyOver(budget: Budget | undefined, messages: readonly MessageView[]): boolean {
    if (!budget) return false;
    let least = 0;
    for (const message of messages) least += message.body.length + MESSAGE_FRAME_OVERHEAD;
    return least > budget.bytes;
  }

  /**
   * Gives the event loop back once opens have held it for OPEN_SLICE_MS since it was last given back
   * (a store that answers at once, SQLite, would otherwise run a whole burst of opens in one turn).
   */
  private async breathe(): Promise<void> {
    if (performance.now() - this.sliceStarted < OPEN_SLICE_MS) return;
    await new Promise((resolve) => setImmediate(resolve));
    this.sliceStarted = performance.now();
  }

  /**
   * Whether a frame fits what is left of an open's byte budget (taken from it if so). One that does
   * not spends the rest: the conversations after it come empty without reading the store.
   */
  private fits(budget: Budget | undefined, text: string, spendOnFailure = true): boolean {
    if (!budget) return true;
    const bytes = Buffer.byteLength(text);
    if (bytes > budget.bytes) {
      if (spendOnFailure) budget.bytes = 0;
      return false;
    }
    budget.bytes -= bytes;
    return true;
  }

  /** The latest messages of every direct conversation of the account (no `room`, no `with`). */
  async sendDirectHistory(
    ws: Socket,
    account: OnlineAccount,
    upTo: number,
    since?: number,
    budget?: Budget,
    /** The newest direct message id when the socket opened. */
    lastId?: number,
  ): Promise<void> {
    if (!this.deps.history || ws.readyState !== 1) return;
    const { store, limits } = this.deps;
    const position = { epoch: store.epoch, offset: upTo };
    const withConversation = (messages: readonly MessageView[]) =>
      messages.flatMap((message) => {
        const conversation = account.conversations.get(message.conversationId);
        return conversation ? [{ message, conversation }] : [];
      });
    const recoveredIf = (recovered?: boolean) => (recovered === undefined ? {} : { recovered });
    if (since !== undefined && since >= 0 && lastId !== undefined && lastId <= since)
      return this.sendTo(ws, this.codec.history([], { more: since > 0, recovered: true, position }));
    if (budget?.bytes === 0) {
      const recovered = since === undefined ? {} : { recovered: false };
      return this.sendTo(ws, this.codec.history([], { more: true, position, ...recovered }));
    }
    const latest = async (recovered?: boolean) => {
      const page = await store.directPage(account.user.id, limits.historyPageSize, upTo + 1);
      await this.breathe();
      const text = this.codec.history(withConversation(page.messages), {
        more: page.more,
        position,
        ...recoveredIf(recovered),
      });
      this.sendTo(
        ws,
        this.fits(budget, text) ? text : this.codec.history([], { more: true, position, ...recoveredIf(recovered) }),
      );
    };
    if (since === undefined) return latest();
    if (since < 0) return latest(false);
    const gap = await store.directSince(account.user.id, since, upTo, RESUME_MAX_MESSAGES);
    if (!gap.complete || this.surelyOver(budget, gap.messages)) return latest(false);
    await this.breathe();
    const text = this.codec.history(withConversation(gap.messages), { more: since > 0, recovered: true, position });
    if (!this.fits(budget, text, false)) return latest(false);
    this.sendTo(ws, text);
  }

  /** Sends an encoded frame to one socket if it is still open. */
  sendTo(ws: Socket, text: string): void {
    if (ws.readyState === 1) ws.send(text);
  }

  /** Acks waiting for the end of this batch's delivery, by socket (null: none). */
  private acks: Map<Socket, string[]> | null = null;

  /**
   * Sends an ack once the current batch of stored messages is delivered: each socket's acks of a
   * batch go out together, in one write (one send each was a write each: a third of the server's
   * CPU under load with client ids). Every broadcast of the batch is published before them.
   */
  ackLater(ws: Socket, text: string): void {
    if (this.acks === null) {
      this.acks = new Map();
      queueMicrotask(() => this.flushAcks());
    }
    const waiting = this.acks.get(ws);
    if (waiting) waiting.push(text);
    else this.acks.set(ws, [text]);
  }

  private flushAcks(): void {
    const acks = this.acks;
    this.acks = null;
    for (const [ws, texts] of acks ?? [])
      if (ws.readyState === 1)
        ws.cork(() => {
          for (const text of texts) ws.send(text);
        });
  }

  /** Sends an encoded frame to every socket of an account, on every instance. */
  toAccount(accountId: number, text: string): void {
    this.broadcast(userTopic(accountId), text);
  }

  /** Sends an encoded frame to every socket of an account on this instance. */
  toAccountHere(accountId: number, text: string): void {
    this.deps.deliver(userTopic(accountId), text);
  }

  /** Sends an encoded frame to a topic's sockets on every instance. */
  broadcast(topic: string, text: string): void {
    this.deps.deliver(topic, text);
    this.peers.publish({ t: "frame", topic, text });
  }

  /** The room a frame names (default: the lobby), among the account's rooms. */
  roomOf(account: OnlineAccount, room: string | undefined): Conversation | undefined {
    return account.conversations.room(room ?? DEFAULT_ROOM);
  }

  refuse(ws: Socket, code: ErrorCode, message: string, cid?: string, retryMs?: number): void {
    this.deps.metrics?.frameRefused(code);
    this.sendTo(
      ws,
      this.codec.encode({
        type: "error",
        user: null,
        data: { code, message, ...(retryMs === undefined ? {} : { retryMs }), ...(cid ? { cid } : {}) },
      }),
    );
  }

  /** Tells a socket its frame was dropped by the rate limit, when to try again, and which message it was. */
  rateLimited(ws: Socket, retryMs: number, cid?: string): void {
    this.refuse(ws, ErrorCode.RateLimited, "Too many frames; slow down", cid, retryMs);
  }

  /** A handler threw: log it and tell the client its frame was not handled (the socket stays open). */
  failed(ws: Socket, what: string, error: unknown): void {
    this.deps.onError?.(error);
    this.deps.log.error("ws.handler_failed", {
      handler: what,
      user: ws.data.account?.user.id ?? null,
      error: String((error as Error)?.message ?? error),
    });
    try {
      if (what === "message") this.refuse(ws, ErrorCode.InternalError, "The server could not handle that frame");
    } catch {
      // Even the error frame failed: the log line above must do.
    }
  }

  // ------------------------------------------------------------ whole-instance

  /**
   * An account changed its name or registered: its sockets and its entries in room lists carry the
   * new user at once. Each room where it is online (on any instance) gets a `join` with the new user
   * (clients update the member they know, no new arrival), and each of the account's sockets a
   * fresh `list` (whose `user` is it). `publish`: tell the other instances (false: they told us).
   */
  renamed(user: User, publish = true): void {
    const account = this.registry.get(user.id);
    if (account) {
      const was = account.user;
      if (was.name === user.name && was.type === user.type && was.image === user.image) return;
      account.user = user;
    }
    if (publish) this.peers.publish({ t: "rename", user });
    const rooms = this.peers.roomsOf(user.id);
    for (const room of account?.conversations.rooms() ?? [])
      if (this.presence.has(room.id, user.id)) rooms.set(room.id, room.name!);
    for (const [id, room] of rooms) {
      this.presence.update(id, user);
      this.announce("renamed", user, id, room);
      if (!account?.conversations.has(id)) continue;
      const list = this.codec.encode({ type: "list", user, ...this.listOf(id), room });
      for (const socket of account.sockets) this.sendTo(socket, list);
    }
  }

  /** Closes a session's sockets on every instance. */
  closeSession(sid: string, code: number, reason: string): void {
    this.closeSessions([sid], code, reason);
  }

  /**
   * Closes these sessions' sockets here (`publish`: and on every other instance). A socket of one of
   * them still opening (not registered yet) is closed as soon as it registers.
   */
  closeSessions(sids: readonly string[], code: number, reason: string, publish = true): void {
    if (sids.length === 0) return;
    const until = this.now() + ENDED_SESSION_MEMORY_MS;
    for (const sid of sids) this.endedSessions.set(sid, { until, code, reason });
    this.registry.closeSessions(sids, code, reason);
    this.forgetEndedSessions();
    if (publish) this.peers.publish({ t: "close", sids: [...sids], code, reason });
  }

  private forgetEndedSessions(): void {
    const now = this.now();
    for (const [sid, ended] of this.endedSessions) {
      // Oldest first (insertion order): stop at the first one still remembered, unless over the cap.
      if (ended.until > now && this.endedSessions.size <= ENDED_SESSIONS_MAX) break;
      this.endedSessions.delete(sid);
    }
  }

  closeAccount(accountId: number, code: number, reason: string): void {
    this.registry.closeAccount(accountId, code, reason);
  }

  disconnectAll(code: number, reason: string): void {
    this.disconnected = { generation: this.disconnected.generation + 1, code, reason };
    this.registry.closeAll(code, reason);
  }

  /** Stops the timers (presence batches and pending departures) at shutdown. */
  stop(): void {
    this.feed.stop();
    for (const timer of this.departing.values()) clearTimeout(timer);
    this.departing.clear();
  }

  get connectionCount(): number {
    return this.registry.connectionCount;
  }

  get usersOnline(): number {
    return this.registry.usersOnline;
  }
}
