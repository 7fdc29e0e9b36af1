/**
 * The signed-in chat: owns the connection, the conversations and what the
 * room view shows. One instance per sign-in; `dispose()` on sign-out.
 *
 * The server is the source of truth for what the account is in: each socket
 * starts with `conversations` (its rooms and direct conversations, with
 * unread counts and read positions), and `room` / `read` frames keep every
 * tab of the account in step. Nothing about rooms or unread counts is kept
 * only in this page, so a reload or another tab shows the same.
 *
 * Messages go out through an outbox, one at a time and in order: a message
 * is the next one's turn once the server has answered it (`ack`, or an
 * `error` with its cid). Refused for the rate, it is sent again (same cid)
 * after the wait the server names; sent while the socket was down, or
 * unanswered when it dropped, it goes again when the socket is back (the
 * server de-duplicates by cid). Only a refusal for another reason marks it
 * "not sent", with a retry.
 */
import {
  DEFAULT_ROOM,
  RESUME_EPOCH_PARAM,
  RESUME_SINCE_PARAM,
  TYPING_TTL_MS,
  worthTelling,
  type ClientFrame,
  type NotifyLevel,
  type ServerFrame,
  type ServerFrameOf,
  type User,
} from "../../protocol";
import { errorKey, type StringKey } from "../i18n";
import { Connection, type ConnectionStatus } from "./connection";
import { askReport } from "./report";
import { Conversation, privateKey, roomKey, type Message, type MessageChange } from "./conversation";
import { dayKey, timeLabel, untilMidnight } from "./dates";
import { inviteFromHash, type RoomTools } from "./room-tools";
import { byId, el } from "./dom";
import { EmojiPicker } from "./picker";
import { notificationTitle, type Notifier } from "./notify";
import { Scroller } from "./scroller";
import { avatar, renderPrivates, renderRooms, renderUsers } from "./sidebar";
import { label, lang, t } from "./text";
import { Typing } from "./typing";
import { Uploads } from "./files";

/** Send at most one `typing` frame this often while keys are pressed (the indicator lives TYPING_TTL_MS). */
const TYPING_SEND_EVERY_MS = TYPING_TTL_MS / 2;

/** Wait this long after a join/leave before asking for the room list again (a burst asks once). */
const ROOMS_REFRESH_DELAY_MS = 1500;

/** A `read` goes out this long after the newest messages came into view (a burst of messages sends one). */
const READ_DELAY_MS = 500;
/** A `read` not answered within this long may be sent again. */
const READ_RESEND_MS = 5000;

/** A message the server has not answered within this long is sent again (same cid: never stored twice). */
const ANSWER_TIMEOUT_MS = 10_000;

/**
 * After a `rate_limited`, messages are spaced by the longest wait the server named (about the time its
 * bucket takes to refill one frame), a little more, so a backlog goes out at the allowed rate instead of
 * every other frame being refused (each refusal is a strike towards being cut off with 4008). The
 * spacing ends once nothing was sent for PACE_RESET_MS.
 */
const PACE_MAX_MS = 5000;
const PACE_RESET_MS = 3000;
const paced = (pace: number): number => Math.ceil(pace * 1.15) + 5;

/** A rate-limit wait longer than this on a `join` is the room-creation limit, not the frame rate. */

/** A random id for a message, unique enough per sender (crypto.randomUUID needs a secure context; this does not). */
/**
 * A message's client id: the time (base 36, fixed width, so ids sort by it) and 12 random bytes. The
 * server indexes client ids: ids that begin with the time are stored side by side.
 */
const newCid = (): string => {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Date.now().toString(36).padStart(9, "0") + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
};

/** The server's room-name normalisation (what its frames carry for a name we typed). */
const normalRoom = (name: string): string => name.normalize("NFC").trim().replace(/\s+/gu, " ");

/**
 * Roughly the server's comparison key (it also folds look-alike letters): "Dev" and "dev " are one
 * room, so a join answered under the existing room's name is matched to the one we asked for.
 */
const looseKey = (name: string): string =>
  name.normalize("NFKC").toLowerCase().toUpperCase().toLowerCase().replace(/\s+/gu, "");

type Outgoing = {
  cid: string;
  frame: Extract<ClientFrame, { type: "chat" | "private" }>;
  conv: Conversation;
};

/** What the composer is doing besides writing a new message: answering one, or editing one of ours. */
type ComposeMode =
  { kind: "reply"; message: Message; conv: Conversation } | { kind: "edit"; message: Message; conv: Conversation };

export interface ChatOptions {
  /** The session ended (signed out here or elsewhere, or — `nameLost` — a guest's name was taken): show sign-in. */
  onSignedOut: (nameLost: boolean) => void;
  /** The account was banned (its socket closed with 4403): show why, never reconnect. */
  onBanned: () => void;
  /** Who we are changed (the server's `conversations` frame, or a registration). */
  onUser: (user: User) => void;
  /** Browser notifications, the sound, the favicon (one for the page, across sign-ins). */
  notifier: Notifier;
  /** The room settings form and the member menu (one for the page, across sign-ins). */
  roomTools: RoomTools;
}

export class Chat {
  private readonly connection: Connection;
  private readonly conversations = new Map<string, Conversation>();
  /** Rooms the account is in, lobby first (the server's list, plus joins on their way). */
  private joined: string[] = [DEFAULT_ROOM];
  /** Joins sent and not yet answered, oldest first (an `invalid_room` or `too_many_rooms` error refers to the oldest). */
  private readonly pendingJoins: string[] = [];
  /** Room → user id → user, from `list`, `join`, `left`, `presence` and `members`. */
  private readonly members = new Map<string, Map<number, User>>();
  /** Room → how many are online, when the server said (big rooms: more than the members known here). */
  private readonly onlineCounts = new Map<string, number>();
  /** Room → the `after` of the next members page, while there are more. */
  private readonly membersNext = new Map<string, number>();
  /** Rooms too big for a full `list` whose members were not asked for yet (shown: the count, a button). */
  private readonly membersUnasked = new Set<string>();
  /** Rooms whose member list this socket watches (asked with `watch`). */
  private readonly watching = new Set<string>();
  /** Every room on the server with its member count when known (`rooms` frame, `room` created). */
  private knownRooms = new Map<string, number | undefined>();
  private active: Conversation;
  /** Highest chat/private id received. */
  private since = 0;
  /** Where a resume starts: `since` as of the last socket that got all of its history. */
  private resumeFrom = 0;
  /** This socket has had its whole opening sequence (the direct-message history is last). */
  private synced = false;
  /** The epoch of the server's log positions (from `conversations`). */
  private epoch: string | undefined;
  /** Messages that arrived while the tab was hidden (for the title). */
  private hiddenUnread = 0;
  private status: ConnectionStatus = { state: "connecting" };
  private countdown: ReturnType<typeof setInterval> | undefined;
  private lastTypingSent = 0;
  private roomsTimer: ReturnType<typeof setTimeout> | undefined;
  private readTimer: ReturnType<typeof setTimeout> | undefined;
  /** Some connect succeeded before: later connects are "reconnecting". */
  private everOpened = false;
  /** Messages not yet answered by the server, in the order they were written. */
  private readonly outbox: Outgoing[] = [];
  /** The message sent and waiting for its answer (at most one: keeps the order, paces the rate). */
  private inflight: Outgoing | undefined;
  private inflightTimer: ReturnType<typeof setTimeout> | undefined;
  /** The server asked us to wait until then (`rate_limited`). */
  private pausedUntil = 0;
  private pauseTimer: ReturnType<typeof setTimeout> | undefined;
  /** Spacing between messages since the last `rate_limited` (0: none). */
  private pace = 0;
  private lastSentAt = 0;
  private readonly scroller: Scroller;
  private readonly typing: Typing;
  private readonly scrollBox = byId("scroller");
  /** The local day the dates on the page were rendered for ("Today" turns into "Yesterday" at midnight). */
  private today = dayKey(Date.now());
  private midnightTimer: ReturnType<typeof setTimeout> | undefined;
  /** Answering or editing a message (the composer's bar says which). */
  private mode: ComposeMode | undefined;
  private readonly emojiPicker = new EmojiPicker(byId("emoji-picker"));
  /** Conversations showing a page around an older message: the latest page comes back on the next visit. */
  private readonly refetchLatest = new Set<Conversation>();
  /** A permalink (`#m<id>`) to open once this socket has its conversations. */
  private permalink: number | undefined;
  /** An invite link opened this page: its room is joined once the socket is up. */
  private invited: { room: string; invite: string } | undefined;
  /** Invites of joins on their way, by room. */
  private readonly joinInvites = new Map<string, string>();
  /** Sending files (absent when the server takes none: the page has no `data-max-file-bytes`). */
  private readonly uploads: Uploads | undefined;

  constructor(
    private me: User,
    private readonly options: ChatOptions,
  ) {
    this.active = this.conversation(roomKey(DEFAULT_ROOM));
    this.scroller = new Scroller(this.scrollBox, byId("new-messages"));
    this.typing = new Typing(byId("typing"));
    this.connection = new Connection({
      query: () => this.resumeQuery(),
      onFrame: (frame) => this.onFrame(frame),
      onStatus: (status) => this.onStatus(status),
    });
    document.addEventListener("visibilitychange", this.onVisibility);
    this.scrollBox.addEventListener("scroll", this.onScroll, { passive: true });
    this.renderMe();
    this.show(this.active);
    this.scheduleMidnight();
    byId("compose-cancel").addEventListener("click", this.onCancelCompose);
    addEventListener("hashchange", this.onHash);
    this.permalink = permalinkOf(location.hash);
    this.invited = inviteFromHash(location.hash);
    this.uploads = this.startUploads();
    this.connection.start();
  }

  /** Files go to the active conversation; the composer's text (unless editing) is the caption. */
  private startUploads(): Uploads | undefined {
    const maxFileBytes = Number(byId("composer").dataset.maxFileBytes);
    if (!(maxFileBytes > 0)) return undefined;
    const text = byId<HTMLTextAreaElement>("text");
    return new Uploads(
      maxFileBytes,
      () => {
        const conv = this.active;
        return conv.room ? `room=${encodeURIComponent(conv.room)}` : conv.peer ? `with=${conv.peer.id}` : undefined;
      },
      () => {
        if (this.mode?.kind === "edit") return "";
        const caption = text.value;
        text.value = "";
        text.dispatchEvent(new Event("input"));
        return caption;
      },
      (message) => {
        const error = byId("composer-error");
        delete error.dataset.i18n;
        error.textContent = message;
      },
    );
  }

  /** The signed-in user as the server last described it. */
  get user(): User {
    return this.me;
  }

  /** Registration (or a rename) answered over HTTP: the same account, described anew. */
  setUser(user: User): void {
    this.me = user;
    this.renderMe();
  }

  dispose(): void {
    this.connection.stop();
    this.uploads?.dispose();
    clearInterval(this.countdown);
    clearTimeout(this.roomsTimer);
    clearTimeout(this.readTimer);
    clearTimeout(this.inflightTimer);
    clearTimeout(this.pauseTimer);
    clearTimeout(this.midnightTimer);
    this.typing.clear();
    document.removeEventListener("visibilitychange", this.onVisibility);
    byId("compose-cancel").removeEventListener("click", this.onCancelCompose);
    removeEventListener("hashchange", this.onHash);
    this.emojiPicker.close();
    this.setMode(undefined);
    this.scrollBox.removeEventListener("scroll", this.onScroll);
    this.scroller.dispose();
    document.title = t("appName");
    this.options.notifier.showTotal(0, false);
    byId("messages").replaceChildren();
    for (const id of ["users", "room-list", "private-list", "room-suggestions"]) byId(id).replaceChildren();
    byId("banner").hidden = true;
    byId("drawer-badge").hidden = true;
  }

  // ------------------------------------------------------------ user actions

  /**
   * Sends the composer's text to the active conversation: a new message (an answer to one, when
   * replying), or the new text of the message being edited. False: nothing was sent (keep the text).
   */
  send(text: string): boolean {
    const mode = this.mode;
    if (mode?.kind === "edit") {
      if (text.trim() === "") return false;
      if (!this.connection.send({ type: "edit", id: mode.message.id, data: text })) return false;
      this.setMode(undefined);
      return true;
    }
    if (text.trim() === "") return false;
    const cid = newCid();
    const conv = this.active;
    if (!conv.room && !conv.peer) return false;
    const replyTo = mode?.kind === "reply" && mode.conv === conv ? mode.message : undefined;
    const answer = replyTo ? { replyTo: replyTo.id } : {};
    const frame: Outgoing["frame"] = conv.room
      ? { type: "chat", data: text, room: conv.room, cid, ...answer }
      : { type: "private", to: conv.peer!.id, data: text, cid, ...answer };
    const outgoing: Outgoing = { cid, frame, conv };
    this.setMode(undefined);
    conv.addLocal(
      cid,
      text,
      () => this.enqueue(outgoing),
      replyTo ? { id: replyTo.id, user: replyTo.user, text: [...replyTo.data].slice(0, 100).join("") } : undefined,
    );
    this.scroller.toBottom();
    this.refreshEmpty();
    this.enqueue(outgoing);
    return true;
  }

  /** Escape in the composer: stop answering or editing (true if there was something to stop). */
  cancelCompose(): boolean {
    if (this.emojiPicker.isOpen) {
      this.emojiPicker.close();
      return true;
    }
    if (!this.mode) return false;
    const wasEdit = this.mode.kind === "edit";
    this.setMode(undefined);
    if (wasEdit) byId<HTMLTextAreaElement>("text").value = "";
    return true;
  }

  /** The reader picked a notification level for the open conversation (kept by the server, on every device). */
  setNotifyLevel(level: NotifyLevel): void {
    const conv = this.active;
    if (!conv.room && !conv.peer) return;
    conv.notify = level;
    this.connection.send({
      type: "notify",
      ...(conv.room !== undefined ? { room: conv.room } : { with: conv.peer!.id }),
      level,
    });
  }

  /** Who may be mentioned in the open conversation: the room's members known here, or the other person. */
  mentionable(): User[] {
    const conv = this.active;
    if (!conv.room) return conv.peer ? [conv.peer] : [];
    return [...(this.members.get(conv.room)?.values() ?? [])].filter((user) => user.id !== this.me.id);
  }

  /** Up arrow in an empty composer: edit the reader's last message here. */
  editLast(): boolean {
    const message = this.active.lastOwnMessage();
    if (!message) return false;
    this.startEdit(message);
    return true;
  }

  private startEdit(message: Message): void {
    this.setMode({ kind: "edit", message, conv: this.active });
    const text = byId<HTMLTextAreaElement>("text");
    text.value = message.data;
    text.dispatchEvent(new Event("input"));
    text.focus();
    text.setSelectionRange(text.value.length, text.value.length);
  }

  private startReply(message: Message): void {
    this.setMode({ kind: "reply", message, conv: this.active });
    byId<HTMLTextAreaElement>("text").focus();
  }

  /** The composer's bar: "Replying to …" or "Editing a message", with a cancel button. */
  private setMode(mode: ComposeMode | undefined): void {
    this.mode = mode;
    const bar = byId("compose-context");
    bar.hidden = mode === undefined;
    bar.classList.toggle("editing", mode?.kind === "edit");
    const text = byId("compose-context-text");
    if (mode?.kind === "reply")
      label(text, "replyingTo", { name: mode.message.user.name, text: [...mode.message.data].slice(0, 80).join("") });
    else if (mode?.kind === "edit") label(text, "editingMessage");
  }

  private readonly onCancelCompose = (): void => {
    this.cancelCompose();
    byId<HTMLTextAreaElement>("text").focus();
  };

  private readonly onHash = (): void => {
    const id = permalinkOf(location.hash);
    if (id !== undefined) this.openPermalink(id);
  };

  /** The name of an account this page knows (a direct conversation's other person), else "#id". */
  nameOf(accountId: number): string {
    return this.findUser(accountId)?.name ?? `#${accountId}`;
  }

  /** Opens the conversation holding message `id` at that message (the server says which it is). */
  openMessage(id: number): void {
    this.openPermalink(id);
  }

  private openPermalink(id: number): void {
    for (const conv of this.conversations.values())
      if (conv.has(id)) {
        this.show(conv);
        conv.reveal(id);
        return;
      }
    this.connection.send({ type: "history", around: id, limit: 1 });
  }

  /** The reader's actions on a message of a conversation. */
  private actionsFor(conv: () => Conversation) {
    return {
      reply: (message: Message) => this.startReply(message),
      edit: (message: Message) => this.startEdit(message),
      delete: (message: Message) => {
        this.connection.send({ type: "delete", id: message.id });
      },
      react: (message: Message, emoji: string) => {
        this.connection.send({ type: "react", id: message.id, emoji });
      },
      pickReaction: (message: Message, anchor: HTMLElement) =>
        this.emojiPicker.open(anchor, (emoji) => this.connection.send({ type: "react", id: message.id, emoji })),
      jump: (id: number) => this.jumpTo(conv(), id),
      report: (message: Message, bar: HTMLElement) => askReport(bar, message.id),
    };
  }

  /**
   * Shows message `id` of `conv`: at once when it is loaded; else the page around it is asked for
   * (`history` `around`), shown in place of the latest until the reader goes back there.
   */
  private jumpTo(conv: Conversation, id: number): void {
    if (conv !== this.active) this.show(conv);
    if (conv.reveal(id)) return;
    this.connection.send({ type: "history", around: id });
  }

  /** Shows the latest page of a conversation again (after a page around an older message). */
  private reloadLatest(conv: Conversation): void {
    conv.clearConfirmed();
    this.connection.send({
      type: "history",
      ...(conv.room !== undefined ? { room: conv.room } : { with: conv.peer!.id }),
    });
  }

  private notFound(): void {
    this.active.addSystem("messageNotLoaded", {});
    this.scroller.toBottom();
  }

  /** The composer changed: tell the room, throttled (and never while the server asks us to wait). */
  typed(): void {
    const { room, peer } = this.active;
    const now = Date.now();
    if (now - this.lastTypingSent < TYPING_SEND_EVERY_MS || now < this.pausedUntil) return;
    if (this.pendingJoins.length > 0) return; // a refused typing frame would read as a refused join
    if (this.mode?.kind === "edit") return;
    const frame =
      room !== undefined
        ? { room }
        : peer && peer.id !== this.me.id && this.active.last > 0
          ? { to: peer.id }
          : undefined;
    if (frame && this.connection.send({ type: "typing", ...frame })) this.lastTypingSent = now;
  }

  openRoom(name: string, invite?: string): void {
    const room = normalRoom(name);
    if (room === "") return;
    const existing = this.joined.find((joined) => looseKey(joined) === looseKey(room));
    if (existing !== undefined) return this.show(this.conversation(roomKey(existing)));
    this.joined.push(room);
    this.pendingJoins.push(room);
    if (invite) this.joinInvites.set(room, invite);
    this.connection.send({ type: "join", room, ...(invite ? { invite } : {}) });
    this.show(this.conversation(roomKey(room)));
  }

  /** A frame from elsewhere in the page (the room tools): sent now if the socket is open. */
  sendFrame(frame: ClientFrame): boolean {
    return this.connection.send(frame);
  }

  leaveActiveRoom(): void {
    const room = this.active.room;
    if (!room || room === DEFAULT_ROOM) return;
    this.connection.send({ type: "leave", room });
    this.forgetRoom(room);
    this.refreshRoomsSoon();
  }

  openPrivate(peer: User): void {
    if (peer.id === this.me.id) return;
    const conv = this.conversation(privateKey(peer.id), peer);
    this.show(conv);
  }

  loadOlder(): void {
    const conv = this.active;
    if (!conv.more || conv.loadingOlder) return;
    const before = conv.oldestId();
    const sent = this.connection.send({
      type: "history",
      ...(conv.room ? { room: conv.room } : { with: conv.peer!.id }),
      ...(before !== undefined ? { before } : {}),
    });
    if (sent) {
      conv.loadingOlder = true;
      this.refreshLoadOlder();
    }
  }

  reconnectNow(): void {
    this.connection.tryNow();
  }

  /** Re-renders what is built from data (the static labels relabel themselves). */
  relabel(): void {
    this.relocalise();
    this.renderSidebar();
    this.renderHeader();
    this.renderBanner();
    this.typing.render();
    this.renderTitle();
  }

  /** Times and day separators in every conversation, for the current language and day. */
  private relocalise(): void {
    this.today = dayKey(Date.now());
    for (const conv of this.conversations.values()) conv.relocalise();
  }

  /** At midnight "Today" becomes "Yesterday" (a timer can be late, e.g. asleep: every message checks too). */
  private scheduleMidnight(): void {
    clearTimeout(this.midnightTimer);
    this.midnightTimer = setTimeout(
      () => {
        this.relocaliseIfNewDay();
        this.scheduleMidnight();
      },
      untilMidnight(Date.now()) + 1000,
    );
  }

  private relocaliseIfNewDay(): void {
    if (dayKey(Date.now()) !== this.today) this.relocalise();
  }

  // ------------------------------------------------------------ the outbox

  private enqueue(outgoing: Outgoing): void {
    if (!this.outbox.includes(outgoing)) this.outbox.push(outgoing);
    outgoing.conv.setWaiting(!this.connection.isOpen);
    this.pump();
  }

  /** Sends the oldest unanswered message when nothing is on its way and the server is not making us wait. */
  private pump(): void {
    if (this.inflight || !this.connection.isOpen) return;
    const next = this.outbox[0];
    if (!next) return;
    const now = Date.now();
    if (this.pace > 0 && now - this.lastSentAt > PACE_RESET_MS) this.pace = 0;
    const wait = Math.max(this.pausedUntil - now, this.pace > 0 ? this.lastSentAt + paced(this.pace) - now : 0);
    if (wait > 0) {
      clearTimeout(this.pauseTimer);
      this.pauseTimer = setTimeout(() => this.pump(), wait);
      return;
    }
    if (!this.connection.send(next.frame)) return;
    this.lastSentAt = now;
    this.inflight = next;
    clearTimeout(this.inflightTimer);
    this.inflightTimer = setTimeout(() => {
      if (this.inflight !== next) return;
      this.inflight = undefined;
      this.pump();
    }, ANSWER_TIMEOUT_MS);
  }

  /** The server answered the message with this cid: it is off the outbox. */
  private answered(cid: string): Outgoing | undefined {
    const index = this.outbox.findIndex((outgoing) => outgoing.cid === cid);
    const outgoing = index >= 0 ? this.outbox.splice(index, 1)[0] : undefined;
    if (this.inflight?.cid === cid) {
      this.inflight = undefined;
      clearTimeout(this.inflightTimer);
    }
    return outgoing;
  }

  private onAck(frame: ServerFrameOf<"ack">): void {
    const { cid, id } = frame.data;
    const outgoing = this.answered(cid);
    if (outgoing) outgoing.conv.acknowledge(cid, id);
    else for (const conv of this.conversations.values()) if (conv.hasLocal(cid)) conv.acknowledge(cid, id);
    this.pump();
  }

  /** Waits as long as the server asks before sending anything more. */
  private pause(retryMs: number | undefined): void {
    const wait = Math.max(retryMs ?? 1000, 20);
    this.pausedUntil = Math.max(this.pausedUntil, Date.now() + wait);
    this.pace = Math.min(PACE_MAX_MS, Math.max(this.pace, wait));
  }

  // ------------------------------------------------------------ frames

  private onFrame(frame: ServerFrame): void {
    switch (frame.type) {
      case "conversations":
        return this.onConversations(frame);
      case "room":
        return this.onRoom(frame);
      case "read":
        return this.onRead(frame);
      case "list":
        return this.onList(frame);
      case "join":
      case "left":
        return this.onPresence(frame);
      case "presence":
        return this.onBatch(frame);
      case "members":
        return this.onMembers(frame);
      case "chat":
        return this.onMessage(this.conversation(roomKey(frame.room)), frame);
      case "private":
        return this.onMessage(this.privateConversationOf(frame), frame);
      case "history":
        return this.onHistory(frame);
      case "ack":
        return this.onAck(frame);
      case "typing":
        if (frame.user.id === this.me.id) return;
        if (frame.room !== undefined) this.typing.add(roomKey(frame.room), frame.user);
        else if (frame.to === this.me.id) this.typing.add(privateKey(frame.user.id), frame.user);
        return;
      case "edit":
      case "delete":
      case "react":
        return this.onChange(frame);
      case "notify": {
        const conv = this.knownConversation(frame);
        if (conv) conv.notify = frame.data.level;
        return this.renderHeader();
      }
      case "rooms":
        this.knownRooms = new Map(frame.data.map((room) => [room.name, room.members]));
        return this.renderSidebar();
      case "room_settings":
        return this.onRoomSettings(frame);
      case "muted":
        return this.onMuted(frame);
      case "moderator": {
        const conv = this.conversation(roomKey(frame.room));
        // Unnamed, the room's owner or an admin still moderates it.
        if (frame.user.id === this.me.id) conv.moderates = frame.data.on || conv.owns;
        conv.addSystem(frame.data.on ? "moderatorOn" : "moderatorOff", { name: frame.user.name });
        this.renderHeader();
        return this.renderSidebar();
      }
      case "invite":
        return this.options.roomTools.showInvite(frame.room, frame.data.token);
      case "error":
        return this.onError(frame);
    }
  }

  /** First frame of every socket: who we are, our rooms and direct conversations, unread counts. */
  private onConversations(frame: ServerFrameOf<"conversations">): void {
    this.setMe(frame.user);
    this.epoch = frame.position.epoch;
    const rooms = frame.data.flatMap((entry) => (entry.room !== undefined ? [entry.room] : []));
    // Left on another tab or device while this one was away.
    for (const room of [...this.joined])
      if (!rooms.includes(room) && !this.pendingJoins.includes(room)) this.forgetRoom(room);
    this.joined = [...rooms, ...this.pendingJoins.filter((room) => !rooms.includes(room))];
    for (const entry of frame.data) {
      const conv =
        entry.room !== undefined
          ? this.conversation(roomKey(entry.room))
          : entry.with !== undefined
            ? this.conversation(privateKey(entry.with), entry.user)
            : undefined;
      if (!conv) continue;
      conv.read = entry.read;
      conv.unread = entry.unread;
      conv.notify = entry.notify;
      conv.topic = entry.topic ?? "";
      conv.slow = entry.slow ?? 0;
      conv.isPrivate = entry.private === true;
      conv.moderates = entry.moderates === true;
      conv.owns = entry.owns === true;
      conv.mutedUntil = entry.mutedUntil ?? 0;
      // Mentions counted here since are kept while still unread (the server's count may be 0: not told yet).
      conv.mentions = Math.max(entry.mentions, Math.min(conv.mentions, entry.unread));
      conv.last = Math.max(conv.last, entry.last);
    }
    if (this.invited) {
      const { room, invite } = this.invited;
      this.invited = undefined;
      history.replaceState(null, "", location.pathname + location.search);
      this.openRoom(room, invite);
    }
    if (this.active.room !== undefined && !this.joined.includes(this.active.room))
      this.show(this.conversation(roomKey(this.joined[0] ?? DEFAULT_ROOM)));
    else {
      this.renderSidebar();
      // Its notification level is the server's now.
      this.renderHeader();
    }
    this.scheduleRead();
  }

  private onRoom(frame: ServerFrameOf<"room">): void {
    const name = frame.data.name;
    switch (frame.data.event) {
      case "created":
        // Its creator is in it.
        if (!this.knownRooms.has(name)) this.knownRooms.set(name, 1);
        return this.renderSidebar();
      case "joined": {
        this.joinedRoom(name);
        const conv = this.conversation(roomKey(name));
        conv.topic = frame.data.topic ?? "";
        conv.slow = frame.data.slow ?? 0;
        conv.isPrivate = frame.data.private === true;
        conv.moderates = frame.data.moderates === true;
        conv.owns = frame.data.owns === true;
        if (conv === this.active) this.renderHeader();
        if (!this.knownRooms.has(name)) this.knownRooms.set(name, undefined);
        this.renderSidebar();
        return this.refreshRoomsSoon();
      }
      case "left":
        this.forgetRoom(name);
        return this.refreshRoomsSoon();
      case "removed":
        this.forgetRoom(name);
        this.active.addSystem("removedFrom", { room: name });
        return this.refreshRoomsSoon();
    }
  }

  /** A room's topic, slow mode or privacy changed: the header, and a line saying who changed what. */
  private onRoomSettings(frame: ServerFrameOf<"room_settings">): void {
    const conv = this.conversation(roomKey(frame.room));
    const { topic, slow } = frame.data;
    const name = frame.user.name;
    if (topic !== conv.topic) conv.addSystem("topicChanged", { name, topic });
    if (slow !== conv.slow) conv.addSystem(slow > 0 ? "slowModeOn" : "slowModeOff", { name, seconds: String(slow) });
    if (frame.data.private !== conv.isPrivate)
      conv.addSystem(frame.data.private ? "roomNowPrivate" : "roomNowPublic", { name });
    conv.topic = topic;
    conv.slow = slow;
    conv.isPrivate = frame.data.private;
    if (conv === this.active) this.scroller.toBottom();
    this.renderHeader();
  }

  /** Someone is muted in a room (this account, on all its tabs; or someone a moderator here muted). */
  private onMuted(frame: ServerFrameOf<"muted">): void {
    const conv = this.conversation(roomKey(frame.room));
    const { until } = frame.data;
    const time = timeLabel(until, lang());
    if (frame.user.id === this.me.id) {
      conv.mutedUntil = until;
      conv.addSystem(until > 0 ? "youAreMuted" : "youAreUnmuted", { time });
    } else conv.addSystem(until > 0 ? "otherMuted" : "otherUnmuted", { name: frame.user.name, time });
    this.renderHeader();
  }

  /** The account is in `name` (answered under the server's spelling, which may differ from what we typed). */
  private joinedRoom(name: string): void {
    const index = this.pendingJoins.findIndex((room) => looseKey(room) === looseKey(name));
    const asked = index >= 0 ? this.pendingJoins.splice(index, 1)[0]! : undefined;
    if (asked !== undefined && asked !== name) {
      // We showed the room under our spelling: move to the server's.
      const wasActive = this.active.room === asked;
      this.joined = this.joined.filter((room) => room !== asked);
      this.conversations.delete(roomKey(asked));
      if (!this.joined.includes(name)) this.joined.push(name);
      if (wasActive) this.show(this.conversation(roomKey(name)));
    } else if (!this.joined.includes(name)) this.joined.push(name);
    this.conversation(roomKey(name));
  }

  /** The conversation a frame about the account's own conversations names (`room`, or `with`), if shown here. */
  private knownConversation(frame: { room?: string; with?: number }): Conversation | undefined {
    if (frame.room !== undefined) return this.conversations.get(roomKey(frame.room));
    return frame.with !== undefined ? this.conversations.get(privateKey(frame.with)) : undefined;
  }

  /** Another tab (or this one) moved the account's read position. */
  private onRead(frame: ServerFrameOf<"read">): void {
    const conv = this.knownConversation(frame);
    if (!conv) return;
    conv.read = Math.max(conv.read, frame.data.id);
    conv.unread = frame.data.unread;
    conv.mentions = Math.min(conv.mentions, frame.data.unread);
    // Read elsewhere: the hidden tab's title stops counting what is no longer unread.
    this.hiddenUnread = Math.min(this.hiddenUnread, this.totalUnread());
    this.renderTitle();
    this.renderSidebar();
  }

  private onList(frame: ServerFrameOf<"list">): void {
    this.setMe(frame.user);
    this.joinedRoom(frame.room);
    this.members.set(frame.room, new Map(frame.data.map((user) => [user.id, user])));
    this.membersNext.delete(frame.room);
    if (frame.count !== undefined) this.onlineCounts.set(frame.room, frame.count);
    // A big room: its members come page by page when asked (the list's button).
    this.watching.delete(frame.room);
    if (frame.more) {
      this.membersUnasked.add(frame.room);
      this.members.get(frame.room)!.set(frame.user.id, frame.user);
    } else this.membersUnasked.delete(frame.room);
    this.renderSidebar();
    this.refreshRoomsSoon();
  }

  private onMembers(frame: ServerFrameOf<"members">): void {
    const members = this.members.get(frame.room);
    if (!members) return;
    for (const user of frame.data) members.set(user.id, user);
    this.onlineCounts.set(frame.room, frame.count);
    if (frame.next !== undefined) this.membersNext.set(frame.room, frame.next);
    else this.membersNext.delete(frame.room);
    this.renderSidebar();
  }

  /**
   * A room too big for per-person presence: the count and how many came and went (news for the room),
   * or, watching its member list, who they were (`listOnly`: changes for the list).
   */
  private onBatch(frame: ServerFrameOf<"presence">): void {
    const members = this.members.get(frame.room);
    if (!members) return;
    this.onlineCounts.set(frame.room, frame.data.count);
    if (frame.data.listOnly) {
      if (!this.membersUnasked.has(frame.room)) {
        for (const user of frame.data.joined ?? []) members.set(user.id, user);
        for (const id of frame.data.left ?? []) {
          if (id === this.me.id) continue;
          members.delete(id);
          this.typing.remove(roomKey(frame.room), id);
        }
      }
      return this.renderSidebar();
    }
    // The room grew past per-person presence while we listed everyone: the list is the count now,
    // until asked for (its button).
    if (!this.membersUnasked.has(frame.room) && !this.watching.has(frame.room)) {
      this.membersUnasked.add(frame.room);
      this.members.set(frame.room, new Map([[this.me.id, this.me]]));
    }
    // Collapsed: one line for everyone who came, one for everyone who went.
    const conv = this.conversation(roomKey(frame.room));
    const line = (count: number | undefined, key: "joinedCount" | "leftCount") => {
      if (count) this.appendLive(conv, () => void conv.addSystem(key, { count: String(count) }));
    };
    line(frame.data.arrived, "joinedCount");
    line(frame.data.departed, "leftCount");
    // No rooms refresh from here: batches come every second and would put it off for good.
    this.renderSidebar();
  }

  private onPresence(frame: ServerFrameOf<"join"> | ServerFrameOf<"left">): void {
    // The room is small again (per-person presence): its whole list fits, so it is asked for.
    if (this.membersUnasked.delete(frame.room)) {
      this.watching.add(frame.room);
      this.connection.send({ type: "members", room: frame.room, watch: true });
    }
    let members = this.members.get(frame.room);
    if (!members) this.members.set(frame.room, (members = new Map()));
    // Per-person presence: the list is complete, so its size is the count.
    this.onlineCounts.delete(frame.room);
    const known = members.has(frame.user.id);
    if (frame.type === "join") members.set(frame.user.id, frame.user);
    else members.delete(frame.user.id);
    // After a reconnect the fresh `list` already has them: a repeated join is not news.
    const news = frame.type === "join" ? !known : known;
    if (news && frame.user.id !== this.me.id) {
      const conv = this.conversation(roomKey(frame.room));
      // At the end, as it happens: frame ids are ordered with message ids on one instance only.
      this.appendLive(conv, () => conv.addPresence(frame.type === "join" ? "joined" : "left", frame.user.name));
    }
    // A direct conversation shows its peer under their current name.
    const direct = this.conversations.get(privateKey(frame.user.id));
    if (direct && direct.peer?.name !== frame.user.name) direct.peer = frame.user;
    if (frame.type === "left") this.typing.remove(roomKey(frame.room), frame.user.id);
    this.renderSidebar();
    this.refreshRoomsSoon();
  }

  /** Member counts of rooms we are not in change unseen: ask again after presence settles. */
  private refreshRoomsSoon(): void {
    clearTimeout(this.roomsTimer);
    this.roomsTimer = setTimeout(() => {
      if (this.pendingJoins.length === 0 && Date.now() >= this.pausedUntil) this.connection.send({ type: "rooms" });
      else this.refreshRoomsSoon();
    }, ROOMS_REFRESH_DELAY_MS);
  }

  /** An edit, a deletion or new reactions: a log entry like a message (resume counts from it). */
  private onChange(frame: MessageChange): void {
    this.since = Math.max(this.since, frame.id);
    if (this.synced) this.resumeFrom = this.since;
    const conv =
      frame.room !== undefined
        ? this.conversations.get(roomKey(frame.room))
        : frame.pair !== undefined
          ? this.conversations.get(privateKey(frame.pair[0] === this.me.id ? frame.pair[1] : frame.pair[0]))
          : undefined;
    if (!conv) return;
    this.appendLive(conv, () => conv.applyChange(frame));
    if (this.mode && this.mode.message.id === frame.data.id && frame.type === "delete") this.setMode(undefined);
  }

  /** A live message (history goes through addHistoryMessage). */
  private onMessage(conv: Conversation, message: Message): void {
    this.since = Math.max(this.since, message.id);
    if (this.synced) this.resumeFrom = this.since;
    this.typing.remove(conv.key, message.user.id);
    const mine = message.user.id === this.me.id;
    this.relocaliseIfNewDay();
    const added = this.appendLive(conv, () => conv.addMessage(message), mine);
    if (added && !mine && message.id > conv.read) {
      const mentioned = message.mentions?.includes(this.me.id) ?? false;
      if (!this.seeing(conv)) {
        conv.unread++;
        if (mentioned) conv.mentions++;
        if (worthTelling(conv.notify, !conv.room, mentioned))
          this.options.notifier.tell({
            title: notificationTitle(message.user.name, conv.room !== undefined ? `# ${conv.room}` : t("privateChats")),
            body: message.data,
            tag: conv.key,
            loud: mentioned || !conv.room,
            open: () => {
              this.show(conv);
              conv.reveal(message.id);
            },
          });
      }
      if (document.hidden) {
        this.hiddenUnread++;
        this.renderTitle();
      }
    }
    if (conv === this.active) this.scheduleRead();
    // The sidebar shows unread counts and private conversations, nothing about the open room.
    if (added && (conv !== this.active || !conv.room)) this.renderSidebar();
  }

  private onHistory(frame: ServerFrameOf<"history">): void {
    const messages = frame.data;
    // Complete up to its position (changes to older messages included): a resume may start there.
    // (A page around a message may reach past what this instance delivered: not a position.)
    this.since = Math.max(this.since, frame.position.offset);
    if (frame.around !== undefined) return this.onAround(frame);
    for (const message of messages) this.since = Math.max(this.since, message.id);
    // Unread counts come with `conversations` (missed messages included); a recovered message is
    // news for a hidden tab's title only.
    const news = frame.recovered === true;
    if (frame.room === undefined && frame.with === undefined) {
      // Private messages of every conversation (on connect and on resume), each to its own. Last of
      // the opening sequence: from here on `since` is a complete position.
      if (frame.recovered === false)
        for (const conv of this.conversations.values())
          if (!conv.room) {
            conv.clearConfirmed(frame.position.offset);
            conv.historyRequested = false;
          }
      for (const message of messages)
        if (message.type === "private") this.addHistoryMessage(this.privateConversationOf(message), message, news);
      this.synced = true;
      this.resumeFrom = this.since;
      if (this.permalink !== undefined) {
        this.openPermalink(this.permalink);
        this.permalink = undefined;
      }
      if (!this.active.room && !this.active.historyRequested) this.requestHistory(this.active);
      this.renderSidebar();
      this.scheduleRead();
      return;
    }
    const target =
      frame.room !== undefined
        ? this.conversation(roomKey(frame.room))
        : this.conversation(privateKey(frame.with!), this.peerFrom(messages, frame.with!));
    target.historyRequested = true;
    // A page of history is not news for a screen reader (live messages are).
    if (messages.length > 0) target.hush();
    if (target.loadingOlder) {
      // A page of older messages: insert above without moving what the reader sees.
      target.loadingOlder = false;
      target.more = frame.more;
      const add = () => messages.forEach((message) => target.addMessage(message));
      if (target === this.active) this.scroller.keepPosition(add);
      else add();
    } else {
      if (frame.recovered === false) {
        // The gap was no longer kept: this is the latest page, not a continuation.
        target.clearConfirmed(frame.position.offset);
        target.addSystem("historyGap", {});
      }
      if (!news) target.more = frame.more;
      for (const message of messages) this.addHistoryMessage(target, message, news);
    }
    if (target === this.active) {
      this.refreshEmpty();
      if (!frame.recovered && target.unread > 0 && !target.newLineShown) this.placeNewLine(target);
      this.scheduleRead();
    }
    this.refreshLoadOlder();
    this.renderSidebar();
  }

  /**
   * The page around a message (a permalink, a search result, a reply's original not loaded): its
   * conversation is opened at that message. When older pages would not reach the messages shown
   * already, the page is shown in their place (the latest come back with the reader's next visit,
   * or "load older" continues down from the page).
   */
  private onAround(frame: ServerFrameOf<"history">): void {
    const conv =
      frame.room !== undefined
        ? this.joined.includes(frame.room)
          ? this.conversation(roomKey(frame.room))
          : undefined
        : frame.with !== undefined
          ? this.conversation(privateKey(frame.with), this.peerFrom(frame.data, frame.with))
          : undefined;
    if (!conv) return;
    if (conv !== this.active) this.show(conv);
    const id = frame.around!;
    if (!conv.has(id)) {
      const newest = frame.data.at(-1)?.id ?? id;
      const oldest = conv.oldestId();
      if (frame.newer && (oldest === undefined || oldest > newest)) {
        // A gap between this page and what was shown: the page alone, and the latest page again when
        // the reader comes back to the conversation.
        conv.clearConfirmed();
        conv.historyRequested = false;
        this.refetchLatest.add(conv);
      }
      conv.hush();
      for (const message of frame.data) conv.addMessage(message);
      conv.more = frame.more;
      this.refreshLoadOlder();
      this.refreshEmpty();
    }
    conv.reveal(id);
  }

  /** The "New messages" line, once per visit to a conversation, above its first unread message. */
  private placeNewLine(conv: Conversation): void {
    conv.newLineShown = true;
    conv.showNewLine(conv.read);
  }

  private addHistoryMessage(conv: Conversation, message: Message, news: boolean): void {
    const added = this.appendLive(conv, () => conv.addMessage(message));
    if (added && news && document.hidden && !this.isMine(message) && message.id > conv.read) {
      this.hiddenUnread++;
      this.renderTitle();
    }
  }

  private onError(frame: ServerFrameOf<"error">): void {
    const { code, cid, retryMs } = frame.data;
    const key = errorKey(code) ?? "err_unknown";
    const params = { message: frame.data.message };
    if (cid) {
      if (code === "rate_limited") {
        // Not stored: the same message goes again once the server lets us (it stays first in line).
        if (this.inflight?.cid === cid) {
          this.inflight = undefined;
          clearTimeout(this.inflightTimer);
        }
        this.pause(retryMs);
        return this.pump();
      }
      const outgoing = this.answered(cid);
      // Slow mode holds this room's message back only: "not sent", with when it may go (and Retry).
      if (code === "slow_mode") Object.assign(params, { seconds: String(Math.ceil((retryMs ?? 1000) / 1000)) });
      if (outgoing) outgoing.conv.fail(cid, key, params);
      else for (const conv of this.conversations.values()) conv.fail(cid, key, params);
      return this.pump();
    }
    if (code === "room_creation_limited") {
      // Too many new rooms: this one is not created (joins are answered in order: the oldest waiting).
      const room = this.pendingJoins.shift();
      if (room !== undefined) this.forgetRoom(room);
      this.active.addSystem("roomRateLimited", { minutes: String(Math.ceil((retryMs ?? 60_000) / 60_000)) });
      this.scroller.toBottom();
      return;
    }
    if (code === "rate_limited") {
      this.pause(retryMs);
      const room = this.pendingJoins[0];
      if (room === undefined) {
        // A dropped typing, read or rooms frame: a read is tried again later.
        for (const conv of this.conversations.values()) conv.readSent = 0;
        return;
      }
      // The frame rate: ask again once allowed.
      setTimeout(() => {
        const invite = this.joinInvites.get(room);
        if (this.pendingJoins.includes(room))
          this.connection.send({ type: "join", room, ...(invite ? { invite } : {}) });
      }, retryMs ?? 1000);
      return;
    }
    // Both refuse a join; joins are answered in order, so it is the oldest one waiting.
    if (
      code === "invalid_room" ||
      code === "too_many_rooms" ||
      code === "room_limit_reached" ||
      code === "private_room"
    ) {
      const room = this.pendingJoins.shift();
      if (room !== undefined) {
        this.joinInvites.delete(room);
        this.forgetRoom(room);
      }
    }
    // A read of a conversation the server has no record of yet (nothing said there): nothing to show.
    if (code === "not_a_member") return;
    if (code === "message_not_found") {
      this.notFound();
      return;
    }
    this.active.addSystem(key, params);
    this.scroller.toBottom();
  }

  // ------------------------------------------------------------ reading

  /** The reader sees the newest messages of this conversation. */
  private seeing(conv: Conversation): boolean {
    return conv === this.active && !document.hidden && this.scroller.atBottom();
  }

  /** Soon, if the newest messages of the open conversation are in view, moves the read position to them. */
  private scheduleRead(): void {
    if (this.readTimer !== undefined) return;
    this.readTimer = setTimeout(() => {
      this.readTimer = undefined;
      this.markRead();
    }, READ_DELAY_MS);
  }

  private markRead(): void {
    const conv = this.active;
    if (!this.connection.isOpen || !this.seeing(conv) || this.pendingJoins.length > 0) return;
    if (Date.now() < this.pausedUntil) return this.scheduleRead();
    const newest = conv.newestMessageId();
    if (newest === undefined || newest <= conv.read) return;
    if (newest <= conv.readSent && Date.now() - conv.readSentAt < READ_RESEND_MS) return;
    if (conv.room !== undefined && !this.joined.includes(conv.room)) return;
    const sent = this.connection.send(
      conv.room !== undefined
        ? { type: "read", room: conv.room, id: newest }
        : { type: "read", with: conv.peer!.id, id: newest },
    );
    if (sent) {
      conv.readSent = newest;
      conv.readSentAt = Date.now();
    }
  }

  private readonly onScroll = (): void => {
    if (this.scroller.atBottom()) this.scheduleRead();
  };

  private readonly onVisibility = (): void => {
    // Pushes go to an account while none of its pages is in front of its reader.
    if (this.status.state === "open") this.connection.send({ type: "visibility", visible: !document.hidden });
    if (document.hidden) return;
    this.hiddenUnread = 0;
    this.renderTitle();
    this.scheduleRead();
  };

  private totalUnread(): number {
    let total = 0;
    for (const conv of this.conversations.values()) total += conv.unread;
    return total;
  }

  private renderTitle(): void {
    document.title = this.hiddenUnread > 0 ? `(${this.hiddenUnread}) ${t("appName")}` : t("appName");
  }

  // ------------------------------------------------------------ connection

  private onStatus(status: ConnectionStatus): void {
    const wasOpen = this.status.state === "open";
    this.status = status;
    if (status.state === "signed-out") return this.options.onSignedOut(status.nameLost);
    if (status.state === "banned") return this.options.onBanned();
    if (status.state === "open") {
      this.synced = false;
      // A socket counts as seen until told otherwise: a page opened or reconnected in the background says so.
      if (document.hidden) this.connection.send({ type: "visibility", visible: false });
      this.connection.send({ type: "rooms" });
      // Joins unanswered when the last socket dropped (a join already done is answered with the room's state).
      for (const room of this.pendingJoins) {
        const invite = this.joinInvites.get(room);
        this.connection.send({ type: "join", room, ...(invite ? { invite } : {}) });
      }
      // Whatever was not answered goes again, in order (same cids: the server stores each once).
      this.inflight = undefined;
      clearTimeout(this.inflightTimer);
      for (const conv of this.conversations.values()) conv.setWaiting(false);
      this.pump();
    }
    if (wasOpen && status.state !== "open") {
      this.inflight = undefined;
      clearTimeout(this.inflightTimer);
      for (const conv of this.conversations.values()) {
        conv.setWaiting(true);
        conv.loadingOlder = false;
        conv.readSent = 0;
      }
      this.typing.clear();
      this.refreshLoadOlder();
    }
    this.renderBanner();
  }

  /**
   * The position to resume from (`since`, `epoch`): the server sends exactly what we missed in each
   * of the account's conversations, or the latest page with `recovered: false`. Before any complete
   * history there is nothing to resume from: the server sends the latest pages.
   */
  private resumeQuery(): URLSearchParams {
    const query = new URLSearchParams();
    if (this.resumeFrom > 0) {
      query.set(RESUME_SINCE_PARAM, String(this.resumeFrom));
      if (this.epoch !== undefined) query.set(RESUME_EPOCH_PARAM, this.epoch);
    }
    return query;
  }

  private renderBanner(): void {
    clearInterval(this.countdown);
    const banner = byId("banner");
    const text = byId("banner-text");
    const status = this.status;
    // The first connect is quiet; only a lost connection is news.
    banner.hidden = status.state === "open" || (status.state === "connecting" && !this.everOpened);
    if (status.state === "open") this.everOpened = true;
    byId("reconnect-now").hidden = status.state !== "waiting";
    if (status.state === "waiting") {
      const tick = () => {
        const seconds = Math.max(0, Math.ceil((status.retryAt - Date.now()) / 1000));
        label(text, status.abuse ? "pausedAbuse" : "disconnected", { seconds });
      };
      tick();
      this.countdown = setInterval(tick, 1000);
    } else if (status.state === "connecting") label(text, this.everOpened ? "reconnecting" : "connecting");
  }

  // ------------------------------------------------------------ conversations

  private setMe(user: User): void {
    const changed = user.name !== this.me.name || user.type !== this.me.type || user.image !== this.me.image;
    this.me = user;
    if (!changed) return;
    this.renderMe();
    this.options.onUser(user);
  }

  private conversation(key: string, peer?: User): Conversation {
    let conv = this.conversations.get(key);
    if (!conv) {
      const room = key.startsWith("room:") ? key.slice(5) : undefined;
      const made: Conversation = new Conversation(
        key,
        room,
        peer,
        () => this.me,
        this.actionsFor(() => made),
      );
      conv = made;
      this.conversations.set(key, conv);
    } else if (peer && (!conv.peer || conv.peer.name !== peer.name)) conv.peer = peer;
    return conv;
  }

  private forgetRoom(room: string): void {
    this.joined = this.joined.filter((joined) => joined !== room);
    const pending = this.pendingJoins.indexOf(room);
    if (pending >= 0) this.pendingJoins.splice(pending, 1);
    this.members.delete(room);
    this.onlineCounts.delete(room);
    this.membersNext.delete(room);
    this.membersUnasked.delete(room);
    this.watching.delete(room);
    const conv = this.conversations.get(roomKey(room));
    this.conversations.delete(roomKey(room));
    if (conv && conv === this.active) this.show(this.conversation(roomKey(this.joined[0] ?? DEFAULT_ROOM)));
    else this.renderSidebar();
  }

  private privateConversationOf(message: ServerFrameOf<"private">): Conversation {
    const peerId = message.user.id === this.me.id ? message.to : message.user.id;
    return this.conversation(privateKey(peerId), message.user.id === this.me.id ? this.findUser(peerId) : message.user);
  }

  private peerFrom(messages: Message[], peerId: number): User | undefined {
    return messages.find((message) => message.user.id === peerId)?.user ?? this.findUser(peerId);
  }

  private findUser(id: number): User | undefined {
    for (const members of this.members.values()) {
      const user = members.get(id);
      if (user) return user;
    }
    return this.conversations.get(privateKey(id))?.peer;
  }

  private isOnline(id: number): boolean {
    for (const members of this.members.values()) if (members.has(id)) return true;
    return false;
  }

  private isMine(message: Message): boolean {
    return message.user.id === this.me.id;
  }

  private requestHistory(conv: Conversation): void {
    if (conv.room || !conv.peer) return;
    if (this.connection.send({ type: "history", with: conv.peer.id })) conv.historyRequested = true;
  }

  /** Adds to a conversation, keeping the reader's place: follows only when already at the bottom. */
  private appendLive(conv: Conversation, add: () => boolean | void, forceBottom = false): boolean {
    if (conv !== this.active) return add() !== false;
    const added = this.scroller.append(add, forceBottom);
    this.refreshEmpty();
    return added;
  }

  private show(conv: Conversation): void {
    if (this.active !== conv) {
      // What was just seen there counts as read, even when leaving it within READ_DELAY_MS.
      if (this.readTimer !== undefined) this.markRead();
      this.scroller.save(this.active);
      this.active.clearNewLine();
      this.active.newLineShown = false;
      if (this.mode && this.mode.conv !== conv) {
        const wasEdit = this.mode.kind === "edit";
        this.setMode(undefined);
        if (wasEdit) byId<HTMLTextAreaElement>("text").value = "";
      }
      this.active = conv;
      if (this.refetchLatest.delete(conv)) this.reloadLatest(conv);
      if (conv.unread > 0 && !conv.isEmpty) this.placeNewLine(conv);
    }
    // The list is a live region of its own, put on screen quietly: switching is not news.
    conv.hush();
    conv.relocalise();
    byId("messages").replaceChildren(conv.list);
    this.scroller.restore(conv);
    // Direct conversations only come with the latest page of all of them: ask for this one's.
    if (!conv.room && !conv.historyRequested && this.synced) this.requestHistory(conv);
    this.typing.show(conv.key);
    this.renderHeader();
    this.renderSidebar();
    this.refreshEmpty();
    this.refreshLoadOlder();
    this.scheduleRead();
  }

  // ------------------------------------------------------------ rendering

  private renderMe(): void {
    byId("me").replaceChildren(avatar(this.me), el("span", { class: "me-name", text: this.me.name }));
  }

  private renderHeader(): void {
    const conv = this.active;
    const title = byId("conv-title");
    const composer = byId<HTMLTextAreaElement>("text");
    if (conv.room) {
      if (conv.room === DEFAULT_ROOM) label(title, "lobbyTitle");
      else {
        delete title.dataset.i18n;
        title.textContent = `# ${conv.room}`;
      }
      composer.placeholder = t("messagePlaceholder");
    } else {
      label(title, "privateWith", { name: conv.peer?.name ?? "?" });
      composer.placeholder = t("messagePlaceholderPrivate", { name: conv.peer?.name ?? "?" });
    }
    byId("leave-room").hidden = !conv.room || conv.room === DEFAULT_ROOM;
    byId<HTMLSelectElement>("notify-level").value = conv.notify;
    const topic = byId("conv-topic");
    topic.textContent = conv.room ? conv.topic : "";
    topic.hidden = !conv.room || conv.topic === "";
    // Said before anyone tries: muted here, or the room's slow mode (moderators are not slowed).
    const notice = byId("muted-notice");
    const mutedNow = conv.room !== undefined && conv.mutedUntil > Date.now();
    const slowed = conv.room !== undefined && conv.slow > 0 && !conv.moderates;
    notice.hidden = !mutedNow && !slowed;
    if (mutedNow) label(notice, "youAreMuted", { time: timeLabel(conv.mutedUntil, lang()) });
    else if (slowed) label(notice, "slowNotice", { seconds: conv.slow });
    this.options.roomTools.show(conv);
  }

  private refreshEmpty(): void {
    const empty = byId("empty");
    const conv = this.active;
    empty.hidden = !conv.isEmpty;
    if (conv.room) label(empty, "emptyRoom");
    else label(empty, "emptyPrivate", { name: conv.peer?.name ?? "?" });
  }

  private refreshLoadOlder(): void {
    const button = byId<HTMLButtonElement>("load-older");
    button.hidden = !this.active.more;
    button.disabled = this.active.loadingOlder;
    label(button, this.active.loadingOlder ? "loadingOlder" : "loadOlder");
  }

  private renderSidebar(): void {
    const names = [...this.joined, ...[...this.knownRooms.keys()].filter((name) => !this.joined.includes(name))];
    renderRooms(
      byId("room-list"),
      names.map((name) => {
        const joined = this.joined.includes(name);
        return {
          name,
          joined,
          active: this.active.room === name,
          unread: joined ? (this.conversations.get(roomKey(name))?.unread ?? 0) : 0,
          mentions: joined ? (this.conversations.get(roomKey(name))?.mentions ?? 0) : 0,
          // Joined: people online in it; other rooms: their members.
          members:
            (joined ? (this.onlineCounts.get(name) ?? this.members.get(name)?.size) : undefined) ??
            this.knownRooms.get(name),
        };
      }),
      (room) => this.openRoom(room),
    );
    // The room-name field suggests the rooms there are to join.
    byId("room-suggestions").replaceChildren(
      ...names.filter((name) => !this.joined.includes(name)).map((name) => el("option", { attrs: { value: name } })),
    );

    // Direct conversations, the latest first; the other person is listed whether or not they are online.
    const privates = [...this.conversations.values()]
      .filter((conv) => !conv.room && conv.peer && conv.peer.id !== this.me.id)
      .sort((a, b) => b.last - a.last);
    byId("private-section").hidden = privates.length === 0;
    renderPrivates(
      byId("private-list"),
      privates.map((conv) => ({
        peer: conv.peer!,
        online: this.isOnline(conv.peer!.id),
        active: conv === this.active,
        unread: conv.unread,
        mentions: conv.mentions,
      })),
      (peer) => this.openPrivate(peer),
    );

    const room = this.active.room ?? DEFAULT_ROOM;
    const users = [...(this.members.get(room)?.values() ?? [])];
    label(byId("online-count"), "onlineCount", { count: Math.max(users.length, this.onlineCounts.get(room) ?? 0) });
    const next = this.membersUnasked.has(room) ? 0 : this.membersNext.get(room);
    renderUsers(
      byId("users"),
      users,
      this.me,
      (peer) => this.openPrivate(peer),
      next === undefined
        ? undefined
        : {
            label: next === 0 ? "showMembers" : "moreMembers",
            ask: () => {
              this.membersUnasked.delete(room);
              this.watching.add(room);
              this.connection.send({ type: "members", room, after: next, watch: true });
            },
          },
      this.active.room !== undefined && this.active.moderates
        ? (user) => this.options.roomTools.menuButton(user)
        : undefined,
    );

    const unread = this.totalUnread();
    let mentioned = false;
    for (const conv of this.conversations.values())
      if (conv.mentions > 0 || (!conv.room && conv.unread > 0)) mentioned = true;
    this.options.notifier.showTotal(unread, mentioned);
    const badge = byId("drawer-badge");
    badge.hidden = unread === 0;
    badge.textContent = unread > 99 ? "99+" : String(unread);
    // The toggle's name says what its badge shows.
    const toggle = byId("drawer-toggle");
    delete toggle.dataset.i18nLabel;
    toggle.setAttribute(
      "aria-label",
      unread === 0 ? t("showSidebar") : t("showSidebarUnread", { count: unread > 99 ? "99+" : unread }),
    );
  }
}

/** Every error code's string, or the generic one. */
export const errorText = (code: string, message: string, params: Record<string, string | number> = {}): string => {
  const key: StringKey | undefined = errorKey(code);
  return key ? t(key, params) : t("err_unknown", { message });
};

/** The message id of a permalink (`#m<id>`), if the hash is one. */
const permalinkOf = (hash: string): number | undefined => {
  const match = /^#m(\d{1,16})$/.exec(hash);
  return match ? Number(match[1]) : undefined;
};
