/**
 * One conversation — a room or a private chat — and its message list. Each
 * conversation keeps its own <ol>, so switching is a swap and nothing is
 * re-rendered. Messages are ordered by the server's id and de-duplicated by
 * it (history, resume and live frames may overlap); local messages waiting
 * for their id are matched by `cid` and sit at the end until confirmed.
 * Unread counts and the read position are the server's (`conversations`,
 * `read`), kept up to date here with the live messages in between.
 */
import { AVATAR_COUNT, type NotifyLevel, type ServerFrameOf, type User } from "../../protocol";
import { relocaliseDates, syncDays, timeElement } from "./days";
import { el, initial } from "./dom";
import { renderText } from "./format-dom";
import { fileNode } from "./files";
import { label, t } from "./text";
import type { StringKey } from "../i18n";

/** How long a list stays `aria-busy` after a switch or a page of history (so neither is read out as news). */
const HUSH_MS = 400;

export type Message = ServerFrameOf<"chat"> | ServerFrameOf<"private">;
export type MessageStatus = "pending" | "sent" | "failed";
/** A change to a message (`data.id` is the message's). */
export type MessageChange = ServerFrameOf<"edit"> | ServerFrameOf<"delete"> | ServerFrameOf<"react">;

/** What the reader can do with a message (the chat acts; the conversation shows the buttons). */
export interface MessageActions {
  reply(message: Message): void;
  edit(message: Message): void;
  delete(message: Message): void;
  /** Toggles the reader's reaction. */
  react(message: Message, emoji: string): void;
  /** Opens the emoji picker for a reaction, next to `anchor`. */
  pickReaction(message: Message, anchor: HTMLElement): void;
  /** Shows the message `id` of this conversation (loading history up to it if needed). */
  jump(id: number): void;
  /** Asks why, in the message's toolbar `bar`, and reports someone else's message to the admins. */
  report(message: Message, bar: HTMLElement): void;
}

interface Entry {
  node: HTMLLIElement;
  id: number | undefined;
  cid: string | undefined;
  status: MessageStatus;
  /** The message as it is now (edited, deleted, reacted to). */
  message?: Message;
  /** The log position of the state shown (its last change's, or its id): an older state never replaces it. */
  rev: number;
  /** Queues the message again after a refusal (local messages only). */
  resend?: () => void;
}

export class Conversation {
  readonly list: HTMLOListElement;
  /** Older messages exist on the server. */
  more = false;
  /** The first page of history has arrived (or was asked for). */
  historyRequested = false;
  loadingOlder = false;
  /** Messages from others after the read position (the server's count, plus live ones since). */
  unread = 0;
  /** Of those, the ones that mention the reader (the server's count, plus live ones since). */
  mentions = 0;
  /** The read position: the highest message id read here (by any tab or device of the account). */
  read = 0;
  /** Newest message id known in the conversation (0: none). */
  last = 0;
  /** The last `read` sent and when, so one is not repeated while its answer is on the way. */
  readSent = 0;
  readSentAt = 0;
  /** What this conversation notifies of (the server's, the same on every device). */
  notify: NotifyLevel;
  /** A room's topic, slow mode (seconds) and privacy; whether the reader moderates it; until when they are muted. */
  topic = "";
  slow = 0;
  isPrivate = false;
  moderates = false;
  /** The reader may change the room's privacy and moderators (its owner, or a server admin). */
  owns = false;
  mutedUntil = 0;
  /** The "New messages" line was placed on this visit (it stays until the reader goes elsewhere). */
  newLineShown = false;
  /** Where the reader was when they switched away. */
  scrollTop = 0;
  stuckToBottom = true;
  private readonly byId = new Map<number, Entry>();
  private readonly byCid = new Map<string, Entry>();
  private hushTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly key: string,
    /** Room name, or undefined for a private conversation. */
    readonly room: string | undefined,
    /** The other person of a private conversation. */
    public peer: User | undefined,
    private readonly me: () => User,
    private readonly actions: MessageActions,
  ) {
    this.notify = room === undefined ? "all" : "mentions";
    // Its own live region: only messages added while it is on screen are news (see `hush`).
    this.list = el("ol", {
      class: "message-list",
      attrs: { role: "log", "aria-live": "polite", "aria-relevant": "additions" },
    });
  }

  /**
   * Marks the list busy for a moment: it is being put on screen (a switch) or filled with history,
   * which is not news to read out. Live messages after that are.
   */
  hush(): void {
    this.list.setAttribute("aria-busy", "true");
    clearTimeout(this.hushTimer);
    this.hushTimer = setTimeout(() => this.list.removeAttribute("aria-busy"), HUSH_MS);
  }

  /** Re-renders what depends on the language or the day: times, separators, the list's name. */
  relocalise(): void {
    this.list.setAttribute("aria-label", t("messageList"));
    relocaliseDates(this.list);
  }

  get isEmpty(): boolean {
    return this.list.querySelector(".message, .system") === null;
  }

  /** Lowest confirmed message id (for "load older"). */
  oldestId(): number | undefined {
    let oldest: number | undefined;
    for (const [id, entry] of this.byId)
      if (!entry.node.classList.contains("system") && (oldest ?? id + 1) > id) oldest = id;
    return oldest;
  }

  /** Highest confirmed message id shown (system lines and pending messages aside). */
  newestMessageId(): number | undefined {
    for (let node = this.list.lastElementChild; node; node = node.previousElementSibling) {
      const element = node as HTMLElement;
      if (element.classList.contains("message") && element.dataset.id !== undefined) return Number(element.dataset.id);
    }
    return undefined;
  }

  /**
   * Adds a message from the server; false when it was already shown (then a newer state of it, from
   * history or a resume — edited, deleted, reacted to — replaces the one shown).
   */
  addMessage(message: Message): boolean {
    this.last = Math.max(this.last, message.id);
    const known = this.byId.get(message.id);
    const rev = message.rev ?? message.id;
    if (known) {
      // A page read before a change but delivered after it must not undo the change.
      if (known.message && rev > known.rev && stateOf(known.message) !== stateOf(message)) {
        known.rev = rev;
        this.rerender(known, message);
      }
      return false;
    }
    const local = message.cid !== undefined ? this.byCid.get(message.cid) : undefined;
    if (local && local.id === undefined && message.user.id === this.me().id) {
      this.confirm(local, message.id);
      local.rev = rev;
      this.rerender(local, message);
      return false;
    }
    const entry: Entry = {
      node: this.messageNode(message),
      id: message.id,
      cid: message.cid,
      status: "sent",
      message,
      rev,
    };
    this.place(entry);
    return true;
  }

  /** Whether the message `id` is shown here. */
  has(id: number): boolean {
    return this.byId.get(id)?.message !== undefined;
  }

  /**
   * Applies an edit, a deletion or new reactions to a message shown here (one not shown: nothing to
   * do), and to the quotes of it in replies. A change frame carries the message's whole state after
   * it, so it is taken as it is (unless an even newer state is shown already).
   */
  applyChange(change: MessageChange): void {
    const entry = this.byId.get(change.data.id);
    if (entry?.message && change.id > entry.rev) {
      const { text, editedAt, deletedAt, mentions, reactions } = change.data as MessageChange["data"] & {
        editedAt?: number;
        deletedAt?: number;
        mentions?: number[];
      };
      const next: Message = { ...entry.message, data: text, rev: change.id };
      for (const [field, value] of [
        ["editedAt", editedAt],
        ["deletedAt", deletedAt],
        ["mentions", mentions],
        ["reactions", reactions.length > 0 ? reactions : undefined],
      ] as const)
        if (value === undefined) delete next[field];
        else (next as Record<string, unknown>)[field] = value;
      if (deletedAt !== undefined) {
        delete next.replyTo;
        delete next.file;
      }
      entry.rev = change.id;
      this.rerender(entry, next);
    }
    // Replies quote the original as it is now.
    if (change.type === "react") return;
    for (const reply of this.byId.values()) {
      const quote = reply.message?.replyTo;
      if (!quote || quote.id !== change.data.id) continue;
      const deleted = change.type === "delete";
      const text = deleted ? "" : [...change.data.text].slice(0, 100).join("");
      this.rerender(reply, { ...reply.message!, replyTo: { ...quote, text, ...(deleted ? { deleted: true } : {}) } });
    }
  }

  /** The reader's newest message here that can still be edited (Up arrow in an empty composer). */
  lastOwnMessage(): Message | undefined {
    let newest: Message | undefined;
    for (const entry of this.byId.values())
      if (
        entry.message &&
        entry.message.user.id === this.me().id &&
        entry.message.deletedAt === undefined &&
        (newest === undefined || entry.message.id > newest.id)
      )
        newest = entry.message;
    return newest;
  }

  /** Scrolls the message `id` into view and marks it for a moment; false when it is not here. */
  reveal(id: number): boolean {
    const node = this.byId.get(id)?.node;
    if (!node || !this.has(id)) return false;
    node.scrollIntoView({ block: "center" });
    node.classList.remove("flash");
    void node.offsetWidth;
    node.classList.add("flash");
    node.querySelector<HTMLElement>(".bubble")?.focus({ preventScroll: true });
    return true;
  }

  /** A "New messages" line above the first message from others after the read position `read`. */
  showNewLine(read: number): void {
    this.clearNewLine();
    for (const entry of [...this.byId.values()].sort((x, y) => x.id! - y.id!))
      if (entry.message && entry.id! > read && entry.message.user.id !== this.me().id) {
        const line = el("li", { class: "new-line", attrs: { role: "separator" } });
        label(line, "newMessagesLine");
        entry.node.before(line);
        return;
      }
  }

  clearNewLine(): void {
    this.list.querySelector(".new-line")?.remove();
  }

  /** A message this tab just sent, shown at once as pending. */
  addLocal(cid: string, text: string, resend: () => void, replyTo?: Message["replyTo"]): void {
    const me = this.me();
    const draft = {
      id: 0,
      type: "chat",
      user: me,
      data: text,
      room: this.room ?? "",
      ts: Date.now(),
      ...(replyTo ? { replyTo } : {}),
    } as Message;
    const entry: Entry = {
      node: this.messageNode(draft, false),
      id: undefined,
      cid,
      status: "pending",
      resend,
      rev: 0,
    };
    this.byCid.set(cid, entry);
    this.setStatus(entry, "pending");
    this.list.append(entry.node);
    syncDays(this.list);
    regroup(entry.node);
  }

  hasLocal(cid: string): boolean {
    return this.byCid.has(cid);
  }

  /** The server stored the message with this cid as `id` (`ack`). */
  acknowledge(cid: string, id: number): void {
    this.last = Math.max(this.last, id);
    const entry = this.byCid.get(cid);
    if (entry && entry.id === undefined) this.confirm(entry, id);
  }

  /** The server refused the message (for a reason other than the rate: that one is resent). */
  fail(cid: string, reason: StringKey, params?: Record<string, string>): void {
    const entry = this.byCid.get(cid);
    if (!entry || entry.id !== undefined) return;
    this.setStatus(entry, "failed", reason, params);
  }

  /** Shows whether pending messages are on their way or wait for the connection to come back. */
  setWaiting(waiting: boolean): void {
    for (const entry of this.byCid.values())
      if (entry.status === "pending") {
        const status = entry.node.querySelector<HTMLElement>(".status");
        if (status) label(status, waiting ? "waiting" : "pending");
      }
  }

  /**
   * Someone came or went: consecutive arrivals (or departures) with nothing said in between are one
   * line — "ann joined", "ann and ben joined", "3 joined".
   */
  addPresence(kind: "joined" | "left", name: string): void {
    const last = this.list.lastElementChild as HTMLElement | null;
    if (last?.dataset.presence === kind) {
      const names = [...(JSON.parse(last.dataset.names!) as string[]), name];
      last.dataset.names = JSON.stringify(names);
      if (names.length === 2) label(last, kind === "joined" ? "joinedTwo" : "leftTwo", { a: names[0]!, b: names[1]! });
      else label(last, kind === "joined" ? "joinedCount" : "leftCount", { count: String(names.length) });
      return;
    }
    const node = this.addSystem(kind, { name });
    node.dataset.presence = kind;
    node.dataset.names = JSON.stringify([name]);
  }

  /** A system line (join, left, notices) at the position of `id` (or at the end). */
  addSystem(key: StringKey, params: Record<string, string>, id?: number): HTMLLIElement {
    const node = el("li", { class: "system" });
    if (id !== undefined && this.byId.has(id)) return node;
    label(node, key, params);
    node.dataset.ts = String(Date.now());
    if (id !== undefined) {
      this.place({ node, id, cid: undefined, status: "sent", rev: id });
      return node;
    }
    // Where it happened: after every message seen so far here, before any that comes later (frame ids
    // of other frames are not in message order across instances, so the line keeps a position of its own).
    this.insertAt(node, this.last + 0.5);
    return node;
  }

  /**
   * Forgets the confirmed messages up to `upTo` (resume could not fill the gap; a fresh page up to
   * there follows). Later ones arrived live, after the history was taken: they stay.
   */
  clearConfirmed(upTo = Number.POSITIVE_INFINITY): void {
    for (const [id, entry] of this.byId)
      if (id <= upTo) {
        entry.node.remove();
        this.byId.delete(id);
      }
    for (const [cid, entry] of this.byCid) if (entry.id !== undefined && entry.id <= upTo) this.byCid.delete(cid);
    syncDays(this.list);
    for (const node of this.list.children) regroup(node as HTMLElement);
  }

  private confirm(entry: Entry, id: number): void {
    entry.id = id;
    this.setStatus(entry, "sent");
    const next = entry.node.nextElementSibling as HTMLElement | null;
    entry.node.remove();
    if (next) regroup(next);
    this.place(entry);
  }

  /** Inserts by id: after the last confirmed entry with a smaller id, before any pending ones. */
  private place(entry: Entry): void {
    this.byId.set(entry.id!, entry);
    this.insertAt(entry.node, entry.id!);
  }

  /** Inserts a node at a position (a message id, or a system line's id + 0.5), after what is there at the same position, before any pending message. */
  private insertAt(inserted: HTMLElement, position: number): void {
    inserted.dataset.id = String(position);
    let before: Element | null = null;
    for (let node = this.list.lastElementChild; node; node = node.previousElementSibling) {
      const other = (node as HTMLElement).dataset.id;
      if (other !== undefined && Number(other) <= position) break;
      before = node;
    }
    this.list.insertBefore(inserted, before);
    // Separators first: a new day starts a new group.
    syncDays(this.list);
    regroup(inserted);
    let next = inserted.nextElementSibling as HTMLElement | null;
    if (next && next.dataset.ts === undefined) next = next.nextElementSibling as HTMLElement | null;
    if (next) regroup(next);
  }

  private setStatus(entry: Entry, status: MessageStatus, reason?: StringKey, params?: Record<string, string>): void {
    entry.status = status;
    const node = entry.node;
    node.classList.toggle("pending", status === "pending");
    node.classList.toggle("failed", status === "failed");
    const statusNode = node.querySelector<HTMLElement>(".status");
    if (statusNode) label(statusNode, status === "sent" ? "sent" : status === "pending" ? "pending" : "failed");
    node.querySelector(".failure")?.remove();
    if (status === "failed" && entry.resend) {
      const retry = el("button", { class: "retry small", attrs: { type: "button" } });
      label(retry, "retry");
      retry.addEventListener("click", () => {
        if (entry.status !== "failed") return;
        this.setStatus(entry, "pending");
        entry.resend!();
      });
      const why = el("span", { class: "reason" });
      label(why, reason ?? "failed", params);
      node.querySelector(".bubble")?.append(el("div", { class: "failure" }, why, retry));
    }
  }

  /** Replaces an entry's node with one for the message's new state (keeping its place and status). */
  private rerender(entry: Entry, message: Message): void {
    entry.message = message;
    const node = this.messageNode(message);
    node.dataset.id = entry.node.dataset.id!;
    node.classList.toggle("continued", entry.node.classList.contains("continued"));
    entry.node.replaceWith(node);
    entry.node = node;
    this.setStatus(entry, entry.status);
  }

  /** A message's element; `interactive` false: a pending one (nothing to reply to or react to yet). */
  private messageNode(message: Message, interactive = true): HTMLLIElement {
    const user = message.user;
    const me = this.me();
    const mine = user.id === me.id;
    const deleted = message.deletedAt !== undefined;
    const body = el("div", { class: "text" });
    if (deleted) label(body, "deletedMessage");
    else renderText(body, message.data, { me: me.name });
    const meta = el("div", { class: "meta" }, el("span", { class: "name", text: user.name }), timeElement(message.ts));
    if (message.editedAt !== undefined && !deleted) {
      const edited = label(el("span", { class: "edited" }), "edited");
      edited.title = t("editedAt", { time: new Date(message.editedAt).toLocaleString() });
      meta.append(edited);
    }
    if (mine) meta.append(el("span", { class: "status" }));
    const bubble = el("div", { class: "bubble", attrs: { tabindex: "-1" } }, meta);
    if (message.replyTo && !deleted) bubble.append(this.quoteNode(message.replyTo));
    if (message.file && !deleted) bubble.append(fileNode(message.file));
    // A file without a caption has no text to show.
    if (deleted || message.data !== "" || !message.file) bubble.append(body);
    if (message.reactions && message.reactions.length > 0) bubble.append(this.reactionsNode(message));
    const node = el(
      "li",
      { class: `message${mine ? " mine" : ""}${deleted ? " deleted" : ""}` },
      el("span", {
        class: `avatar avatar-${user.image % AVATAR_COUNT}`,
        text: initial(user.name),
        attrs: { "aria-hidden": "true" },
      }),
      bubble,
    );
    if (interactive && !deleted) {
      node.append(this.actionsNode(message, mine));
      // A tap shows the toolbar on screens without hover (a tap elsewhere hides it).
      bubble.addEventListener("click", (event) => {
        if ((event.target as Element).closest("a, button")) return;
        const shown = node.classList.contains("show-actions");
        for (const other of this.list.querySelectorAll(".show-actions")) other.classList.remove("show-actions");
        node.classList.toggle("show-actions", !shown);
      });
    }
    if (!deleted && (message.mentions?.includes(me.id) || body.querySelector(".mentions-me")))
      node.classList.add("mentioned");
    node.dataset.user = String(user.id);
    node.dataset.ts = String(message.ts);
    if (interactive) node.id = `m${message.id}`;
    if (mine) label(node.querySelector<HTMLElement>(".status")!, "sent");
    return node;
  }

  /** The start of the answered message: a button that goes to it. */
  private quoteNode(quote: NonNullable<Message["replyTo"]>): HTMLElement {
    const text = el("span", { class: "quote-text" });
    if (quote.deleted) label(text, "originalDeleted");
    else text.textContent = quote.text;
    const button = el(
      "button",
      { class: "quote", attrs: { type: "button" } },
      el("span", { class: "quote-name", text: quote.user.name }),
      text,
    );
    button.dataset.replyTo = String(quote.id);
    button.setAttribute("aria-label", t("jumpToOriginal", { name: quote.user.name }));
    button.addEventListener("click", () => this.actions.jump(quote.id));
    return button;
  }

  /** One button per emoji: its count, pressed when the reader is among those who reacted. */
  private reactionsNode(message: Message): HTMLElement {
    const me = this.me().id;
    const group = el("div", { class: "reactions", attrs: { role: "group" } });
    group.setAttribute("aria-label", t("reactionsOf"));
    for (const reaction of message.reactions ?? []) {
      const pressed = reaction.users.some((user) => user.id === me);
      const button = el(
        "button",
        { class: `reaction${pressed ? " pressed" : ""}`, attrs: { type: "button", "aria-pressed": String(pressed) } },
        el("span", { class: "emoji", text: reaction.emoji }),
        el("span", { class: "count", text: String(reaction.count) }),
      );
      const names =
        reaction.users.map((user) => user.name).join(", ") + (reaction.count > reaction.users.length ? "…" : "");
      button.title = t("reactionBy", { names, emoji: reaction.emoji });
      button.dataset.emoji = reaction.emoji;
      button.addEventListener("click", () => this.actions.react(message, reaction.emoji));
      group.append(button);
    }
    return group;
  }

  /** The message's toolbar (shown on hover, focus or a tap): reply, react, and for one's own, edit and delete. */
  private actionsNode(message: Message, mine: boolean): HTMLElement {
    const bar = el("div", { class: "actions", attrs: { role: "toolbar" } });
    bar.setAttribute("aria-label", t("messageActions"));
    const button = (
      key: "reply" | "react" | "edit" | "delete" | "report",
      act: (button: HTMLButtonElement) => void,
    ) => {
      const element = el("button", { class: `action action-${key}`, attrs: { type: "button" } });
      label(element, key);
      element.addEventListener("click", (event) => {
        event.stopPropagation();
        act(element);
      });
      bar.append(element);
    };
    button("reply", () => this.actions.reply(message));
    button("react", (anchor) => this.actions.pickReaction(message, anchor));
    if (mine) button("edit", () => this.actions.edit(message));
    // A room's moderators delete others' messages too (the server decides whose: never a stronger one's).
    if (mine || this.moderates) button("delete", () => this.confirmDelete(bar, message));
    if (!mine) button("report", () => this.actions.report(message, bar));
    return bar;
  }

  /** Deleting asks first, in place: "Delete this message?" Delete / Cancel. */
  private confirmDelete(bar: HTMLElement, message: Message): void {
    const buttons = [...bar.children] as HTMLElement[];
    for (const button of buttons) button.hidden = true;
    const question = label(el("span", { class: "confirm-text" }), "deleteConfirm");
    const yes = label(el("button", { class: "action danger confirm-delete", attrs: { type: "button" } }), "deleteYes");
    const no = label(el("button", { class: "action confirm-cancel", attrs: { type: "button" } }), "cancel");
    const done = () => {
      question.remove();
      yes.remove();
      no.remove();
      for (const button of buttons) button.hidden = false;
      bar.classList.remove("confirming");
    };
    yes.addEventListener("click", (event) => {
      event.stopPropagation();
      done();
      this.actions.delete(message);
    });
    no.addEventListener("click", (event) => {
      event.stopPropagation();
      done();
    });
    bar.classList.add("confirming");
    bar.append(question, yes, no);
    no.focus();
  }
}

/** What changes when a message is edited, deleted or reacted to: a state to compare. */
const stateOf = (message: Message): string =>
  JSON.stringify([message.data, message.editedAt, message.deletedAt, message.reactions, message.replyTo]);

/** Messages of one person this close together form a group: one avatar and name for all. */
const GROUP_WITHIN_MS = 5 * 60_000;

/** Marks a message as continuing the previous one's group (or not), after an insert next to it. */
const regroup = (node: HTMLElement): void => {
  if (!node.classList.contains("message")) return;
  const previous = node.previousElementSibling as HTMLElement | null;
  const continues =
    previous !== null &&
    previous.classList.contains("message") &&
    previous.dataset.user === node.dataset.user &&
    Math.abs(Number(node.dataset.ts) - Number(previous.dataset.ts)) < GROUP_WITHIN_MS;
  node.classList.toggle("continued", continues);
};

/** Key of a room's conversation. */
export const roomKey = (room: string): string => `room:${room}`;
/** Key of the private conversation with a user. */
export const privateKey = (userId: number): string => `user:${userId}`;
