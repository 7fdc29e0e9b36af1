/**
 * One conversation — a room or a private chat — and its message list. Each
 * conversation keeps its own <ol>, so switching is a swap and nothing is
 * re-rendered. Messages are ordered by the server's id and de-duplicated by
 * it (history, resume and live frames may overlap); local messages waiting
 * for their id are matched by `cid` and sit at the end until confirmed.
 * Unread counts and the read position are the server's (`conversations`,
 * `read`), kept up to date here with the live messages in between.
 */
import { AVATAR_COUNT, type ServerFrameOf, type User } from "../../protocol";
import { relocaliseDates, syncDays, timeElement } from "./days";
import { el, initial } from "./dom";
import { renderText } from "./format-dom";
import { label, t } from "./text";
import type { StringKey } from "../i18n";

/** How long a list stays `aria-busy` after a switch or a page of history (so neither is read out as news). */
const HUSH_MS = 400;

export type Message = ServerFrameOf<"chat"> | ServerFrameOf<"private">;
export type MessageStatus = "pending" | "sent" | "failed";

interface Entry {
  node: HTMLLIElement;
  id: number | undefined;
  cid: string | undefined;
  status: MessageStatus;
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
  ) {
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

  /** Adds a message from the server; false when it was already shown. */
  addMessage(message: Message): boolean {
    this.last = Math.max(this.last, message.id);
    if (this.byId.has(message.id)) return false;
    const local = message.cid !== undefined ? this.byCid.get(message.cid) : undefined;
    if (local && local.id === undefined && message.user.id === this.me().id) {
      this.confirm(local, message.id);
      return false;
    }
    const entry: Entry = {
      node: this.messageNode(message.user, message.data, message.ts),
      id: message.id,
      cid: message.cid,
      status: "sent",
    };
    this.place(entry);
    return true;
  }

  /** A message this tab just sent, shown at once as pending. */
  addLocal(cid: string, text: string, resend: () => void): void {
    const entry: Entry = {
      node: this.messageNode(this.me(), text, Date.now()),
      id: undefined,
      cid,
      status: "pending",
      resend,
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

  /** A system line (join, left, notices) at the position of `id` (or at the end). */
  addSystem(key: StringKey, params: Record<string, string>, id?: number): void {
    if (id !== undefined && this.byId.has(id)) return;
    const node = el("li", { class: "system" });
    label(node, key, params);
    node.dataset.ts = String(Date.now());
    if (id !== undefined) return this.place({ node, id, cid: undefined, status: "sent" });
    // Where it happened: after every message seen so far here, before any that comes later (frame ids
    // of other frames are not in message order across instances, so the line keeps a position of its own).
    this.insertAt(node, this.last + 0.5);
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

  private messageNode(user: User, text: string, ts: number): HTMLLIElement {
    const body = el("div", { class: "text" });
    renderText(body, text, { me: this.me().name });
    const mine = user.id === this.me().id;
    const meta = el("div", { class: "meta" }, el("span", { class: "name", text: user.name }), timeElement(ts));
    if (mine) meta.append(el("span", { class: "status" }));
    const node = el(
      "li",
      { class: mine ? "message mine" : "message" },
      el("span", {
        class: `avatar avatar-${user.image % AVATAR_COUNT}`,
        text: initial(user.name),
        attrs: { "aria-hidden": "true" },
      }),
      el("div", { class: "bubble" }, meta, body),
    );
    if (body.querySelector(".mentions-me")) node.classList.add("mentioned");
    node.dataset.user = String(user.id);
    node.dataset.ts = String(ts);
    if (mine) label(node.querySelector<HTMLElement>(".status")!, "sent");
    return node;
  }
}

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
