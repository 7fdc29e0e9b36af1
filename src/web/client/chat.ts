/**
 * The signed-in chat: owns the connection, the conversations and what the
 * room view shows. One instance per sign-in; `dispose()` on sign-out.
 */
import {
  DEFAULT_ROOM,
  RESUME_ROOMS_PARAM,
  RESUME_SINCE_PARAM,
  TYPING_TTL_MS,
  type ClientFrame,
  type ServerFrame,
  type ServerFrameOf,
  type User,
} from "../../protocol";
import { errorKey } from "../i18n";
import { Connection, type ConnectionStatus } from "./connection";
import { Conversation, privateKey, roomKey, type Message } from "./conversation";
import { byId, el } from "./dom";
import { Scroller } from "./scroller";
import { avatar, renderPrivates, renderRooms, renderUsers } from "./sidebar";
import { label, t } from "./text";
import { Typing } from "./typing";

/** Send at most one `typing` frame this often while keys are pressed (the indicator lives TYPING_TTL_MS). */
const TYPING_SEND_EVERY_MS = TYPING_TTL_MS / 2;

/** Wait this long after a join/leave before asking for the room list again (a burst asks once). */
const ROOMS_REFRESH_DELAY_MS = 1500;

/** A random id for a message, unique enough per sender (crypto.randomUUID needs a secure context; this does not). */
const newCid = (): string => {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
};

export interface ChatOptions {
  /** The session ended (signed out here or elsewhere): show the sign-in view. */
  onSignedOut: () => void;
}

export class Chat {
  private readonly connection: Connection;
  private readonly conversations = new Map<string, Conversation>();
  /** Rooms this socket is in, lobby first. */
  private readonly joined: string[] = [DEFAULT_ROOM];
  /** Joins sent and not yet answered with `list`, oldest first (an `invalid_room` or `too_many_rooms` error refers to the oldest). */
  private readonly pendingJoins: string[] = [];
  /** Room → user id → user, from `list`, `join` and `left`. */
  private readonly members = new Map<string, Map<number, User>>();
  /** Every room on the server with its member count (`rooms` frame). */
  private roomCounts: { name: string; members: number }[] = [];
  private active: Conversation;
  /** Highest chat/private id received: where a resume starts. */
  private since = 0;
  /** Messages that arrived while the tab was hidden (for the title). */
  private hiddenUnread = 0;
  private status: ConnectionStatus = { state: "connecting" };
  private countdown: ReturnType<typeof setInterval> | undefined;
  private lastTypingSent = 0;
  private roomsTimer: ReturnType<typeof setTimeout> | undefined;
  /** The current connect carries a resume point (so the server rejoins our rooms). */
  private resuming = false;
  /** Some connect succeeded before: later connects are "reconnecting". */
  private everOpened = false;
  private readonly scroller: Scroller;
  private readonly typing: Typing;

  constructor(
    private me: User,
    private readonly options: ChatOptions,
  ) {
    this.active = this.conversation(roomKey(DEFAULT_ROOM));
    this.scroller = new Scroller(byId("scroller"), byId("new-messages"));
    this.typing = new Typing(byId("typing"));
    this.connection = new Connection({
      query: () => this.resumeQuery(),
      onFrame: (frame) => this.onFrame(frame),
      onStatus: (status) => this.onStatus(status),
    });
    document.addEventListener("visibilitychange", this.onVisibility);
    this.renderMe();
    this.show(this.active);
    this.connection.start();
  }

  dispose(): void {
    this.connection.stop();
    clearInterval(this.countdown);
    clearTimeout(this.roomsTimer);
    this.typing.clear();
    document.removeEventListener("visibilitychange", this.onVisibility);
    document.title = t("appName");
    byId("messages").replaceChildren();
    for (const id of ["users", "room-list", "private-list"]) byId(id).replaceChildren();
    byId("banner").hidden = true;
  }

  // ------------------------------------------------------------ user actions

  /** Sends the composer's text to the active conversation. */
  send(text: string): void {
    if (text.trim() === "") return;
    const cid = newCid();
    const conv = this.active;
    const frame: ClientFrame = conv.room
      ? { type: "chat", data: text, room: conv.room, cid }
      : { type: "private", to: conv.peer!.id, data: text, cid };
    const send = () => this.connection.send(frame);
    conv.addLocal(cid, text, send);
    this.scroller.toBottom();
    this.refreshEmpty();
    if (!send()) conv.fail(cid, "err_disconnected");
  }

  /** The composer changed: tell the room, throttled. */
  typed(): void {
    const room = this.active.room;
    const now = Date.now();
    if (!room || now - this.lastTypingSent < TYPING_SEND_EVERY_MS) return;
    if (this.connection.send({ type: "typing", room })) this.lastTypingSent = now;
  }

  openRoom(name: string): void {
    // The server's normalisation, so the name we track is the one its frames carry.
    const room = name.normalize("NFC").trim().replace(/\s+/gu, " ");
    if (room === "") return;
    if (!this.joined.includes(room)) {
      this.joined.push(room);
      this.pendingJoins.push(room);
      this.connection.send({ type: "join", room });
    }
    this.show(this.conversation(roomKey(room)));
  }

  leaveActiveRoom(): void {
    const room = this.active.room;
    if (!room || room === DEFAULT_ROOM) return;
    this.connection.send({ type: "leave", room });
    this.forgetRoom(room);
    this.connection.send({ type: "rooms" });
  }

  private forgetRoom(room: string): void {
    if (this.joined.includes(room)) this.joined.splice(this.joined.indexOf(room), 1);
    this.members.delete(room);
    const conv = this.conversations.get(roomKey(room));
    this.conversations.delete(roomKey(room));
    if (conv === this.active) this.show(this.conversation(roomKey(DEFAULT_ROOM)));
    else this.renderSidebar();
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
    this.renderSidebar();
    this.renderHeader();
    this.renderBanner();
    this.typing.render();
  }

  // ------------------------------------------------------------ frames

  private onFrame(frame: ServerFrame): void {
    switch (frame.type) {
      case "list":
        return this.onList(frame);
      case "join":
      case "left":
        return this.onPresence(frame);
      case "chat":
        return this.onMessage(this.conversation(roomKey(frame.room)), frame, true);
      case "private":
        return this.onMessage(this.privateConversationOf(frame), frame, true);
      case "history":
        return this.onHistory(frame);
      case "ack":
        for (const conv of this.conversations.values())
          if (conv.hasLocal(frame.data.cid)) conv.acknowledge(frame.data.cid, frame.data.id);
        return;
      case "typing":
        if (frame.user.id !== this.me.id) this.typing.add(frame.room, frame.user);
        return;
      case "rooms":
        this.roomCounts = frame.data;
        return this.renderSidebar();
      case "error":
        return this.onError(frame);
    }
  }

  private onList(frame: ServerFrameOf<"list">): void {
    this.me = frame.user;
    this.renderMe();
    if (!this.joined.includes(frame.room)) this.joined.push(frame.room);
    const pending = this.pendingJoins.indexOf(frame.room);
    if (pending >= 0) this.pendingJoins.splice(pending, 1);
    this.members.set(frame.room, new Map(frame.data.map((user) => [user.id, user])));
    this.conversation(roomKey(frame.room));
    this.renderSidebar();
    this.refreshRoomsSoon();
  }

  private onPresence(frame: ServerFrameOf<"join"> | ServerFrameOf<"left">): void {
    let members = this.members.get(frame.room);
    if (!members) this.members.set(frame.room, (members = new Map()));
    const known = members.has(frame.user.id);
    if (frame.type === "join") members.set(frame.user.id, frame.user);
    else members.delete(frame.user.id);
    // After a reconnect the fresh `list` already has them: a repeated join is not news.
    const news = frame.type === "join" ? !known : known;
    if (news && frame.user.id !== this.me.id) {
      const conv = this.conversation(roomKey(frame.room));
      this.appendLive(conv, () =>
        conv.addSystem(frame.type === "join" ? "joined" : "left", { name: frame.user.name }, frame.id),
      );
    }
    if (frame.type === "left") this.typing.remove(frame.room, frame.user.id);
    this.renderSidebar();
    this.refreshRoomsSoon();
  }

  /** Member counts of rooms we are not in change unseen: ask again after presence settles. */
  private refreshRoomsSoon(): void {
    clearTimeout(this.roomsTimer);
    this.roomsTimer = setTimeout(() => this.connection.send({ type: "rooms" }), ROOMS_REFRESH_DELAY_MS);
  }

  private onMessage(conv: Conversation, message: Message, live: boolean): void {
    this.since = Math.max(this.since, message.id);
    if (message.type === "chat") this.typing.remove(message.room, message.user.id);
    const mine = message.user.id === this.me.id;
    const added = this.appendLive(conv, () => conv.addMessage(message), mine);
    if (added && live && !mine) this.countUnread(conv);
    // The sidebar shows unread counts and private conversations, nothing about the open room.
    if (added && (conv !== this.active || !conv.room)) this.renderSidebar();
  }

  private onHistory(frame: ServerFrameOf<"history">): void {
    const messages = frame.data;
    for (const message of messages) this.since = Math.max(this.since, message.id);
    // Messages missed while away are news; a first page of history is not.
    const news = frame.recovered === true;
    if (frame.room === undefined && frame.with === undefined) {
      // Private messages of every conversation (on connect and on resume): each to its own.
      for (const message of messages)
        if (message.type === "private") this.onMessage(this.privateConversationOf(message), message, news);
      return;
    }
    const target =
      frame.room !== undefined
        ? this.conversation(roomKey(frame.room))
        : this.conversation(privateKey(frame.with!), this.peerFrom(messages, frame.with!));
    target.historyRequested = true;
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
        target.clearConfirmed();
        target.addSystem("historyGap", {});
      }
      if (!news) target.more = frame.more;
      for (const message of messages) {
        const added = this.appendLive(target, () => target.addMessage(message));
        if (added && news && !this.isMine(message)) this.countUnread(target);
      }
    }
    if (target === this.active) this.refreshEmpty();
    this.refreshLoadOlder();
    this.renderSidebar();
  }

  private onError(frame: ServerFrameOf<"error">): void {
    const key = errorKey(frame.data.code) ?? "err_unknown";
    const params = { message: frame.data.message };
    if (frame.data.cid) {
      for (const conv of this.conversations.values()) conv.fail(frame.data.cid, key, params);
      return;
    }
    if (frame.data.code === "rate_limited") return; // a dropped typing frame: nothing to show
    // Both refuse a join; joins are answered in order, so it is the oldest one waiting.
    if (frame.data.code === "invalid_room" || frame.data.code === "too_many_rooms") {
      const room = this.pendingJoins.shift();
      if (room !== undefined) this.forgetRoom(room);
    }
    this.active.addSystem(key, params);
    this.scroller.toBottom();
  }

  // ------------------------------------------------------------ connection

  private onStatus(status: ConnectionStatus): void {
    const wasOpen = this.status.state === "open";
    this.status = status;
    if (status.state === "signed-out") return this.options.onSignedOut();
    if (status.state === "open") {
      this.connection.send({ type: "rooms" });
      if (!this.resuming)
        for (const room of this.joined) if (room !== DEFAULT_ROOM) this.connection.send({ type: "join", room });
      // Private conversations have no automatic history: ask for the open one.
      for (const conv of this.conversations.values())
        if (!conv.room && !conv.historyRequested) this.requestHistory(conv);
    }
    if (wasOpen && status.state !== "open") {
      // Unanswered joins are in `joined`, so the resume rejoins them.
      this.pendingJoins.length = 0;
      for (const conv of this.conversations.values()) {
        conv.failPending();
        conv.loadingOlder = false;
      }
      this.typing.clear();
    }
    this.renderBanner();
  }

  /**
   * `since` and the rooms we were in, so the server rejoins them and sends
   * exactly what we missed. Before any message arrived there is nothing to
   * resume from: the server then puts us in the lobby, and we rejoin the rest.
   */
  private resumeQuery(): URLSearchParams {
    const query = new URLSearchParams();
    this.resuming = this.since > 0;
    if (this.resuming) {
      query.set(RESUME_SINCE_PARAM, String(this.since));
      query.set(RESUME_ROOMS_PARAM, this.joined.join(","));
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

  private conversation(key: string, peer?: User): Conversation {
    let conv = this.conversations.get(key);
    if (!conv) {
      const room = key.startsWith("room:") ? key.slice(5) : undefined;
      conv = new Conversation(key, room, peer, () => this.me);
      this.conversations.set(key, conv);
    } else if (peer && (!conv.peer || conv.peer.name !== peer.name)) conv.peer = peer;
    return conv;
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

  private countUnread(conv: Conversation): void {
    if (conv !== this.active) conv.unread++;
    if (document.hidden) {
      this.hiddenUnread++;
      document.title = `(${this.hiddenUnread}) ${t("appName")}`;
    }
  }

  private readonly onVisibility = (): void => {
    if (document.hidden) return;
    this.hiddenUnread = 0;
    document.title = t("appName");
  };

  private show(conv: Conversation): void {
    if (this.active !== conv) {
      this.scroller.save(this.active);
      this.active = conv;
    }
    conv.unread = 0;
    byId("messages").replaceChildren(conv.list);
    this.scroller.restore(conv);
    if (!conv.room && !conv.historyRequested) this.requestHistory(conv);
    this.typing.show(conv.room);
    this.renderHeader();
    this.renderSidebar();
    this.refreshEmpty();
    this.refreshLoadOlder();
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
    const counts = new Map(this.roomCounts.map((room) => [room.name, room.members]));
    const names = [...this.joined, ...this.roomCounts.map((room) => room.name).filter((n) => !this.joined.includes(n))];
    renderRooms(
      byId("room-list"),
      names.map((name) => {
        const conv = this.conversations.get(roomKey(name));
        return {
          name,
          joined: this.joined.includes(name),
          active: this.active.room === name,
          unread: conv?.unread ?? 0,
          members: this.members.get(name)?.size ?? counts.get(name),
        };
      }),
      (room) => this.openRoom(room),
    );

    const lobby = this.members.get(DEFAULT_ROOM) ?? new Map<number, User>();
    const privates = [...this.conversations.values()].filter((conv) => !conv.room && conv.peer);
    byId("private-section").hidden = privates.length === 0;
    renderPrivates(
      byId("private-list"),
      privates.map((conv) => ({
        peer: conv.peer!,
        online: lobby.has(conv.peer!.id),
        active: conv === this.active,
        unread: conv.unread,
      })),
      (peer) => this.openPrivate(peer),
    );

    const room = this.active.room ?? DEFAULT_ROOM;
    const users = [...(this.members.get(room)?.values() ?? [])];
    label(byId("online-count"), "onlineCount", { count: users.length });
    renderUsers(byId("users"), users, this.me, (peer) => this.openPrivate(peer));

    const unread = [...this.conversations.values()].reduce((sum, conv) => sum + conv.unread, 0);
    const badge = byId("drawer-badge");
    badge.hidden = unread === 0;
    badge.textContent = String(unread);
  }
}
