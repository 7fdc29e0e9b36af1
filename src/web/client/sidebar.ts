/**
 * The sidebar lists: rooms, private conversations, people online. Small
 * lists, so each is rebuilt whole on change; entries are buttons, so the
 * keyboard reaches them.
 */
import { AVATAR_COUNT, DEFAULT_ROOM, type User } from "../../protocol";
import { el, initial } from "./dom";
import { STRINGS, type StringKey } from "../i18n";
import { label, t } from "./text";

export const avatar = (user: User): HTMLSpanElement =>
  el("span", {
    class: `avatar avatar-${user.image % AVATAR_COUNT}`,
    text: initial(user.name),
    attrs: { "aria-hidden": "true" },
  });

/** Words for screen readers only (the class hides them from the eye, not from assistive technology). */
const spoken = (key: StringKey, count: number, shown: string | number = count): HTMLSpanElement => {
  const one = `${key}One`;
  return label(el("span", { class: "visually-hidden" }), (one in STRINGS.en && count === 1 ? one : key) as StringKey, {
    count: shown,
  });
};

/**
 * The counts after an entry's name: the unread badge (and a mention mark), each with its words for
 * screen readers ("2 unread", "1 mention"): the digits alone would read "Lobby 2 1".
 */
const badges = (unread: number, mentions: number): HTMLSpanElement[] => {
  const node = el("span", {
    class: "badge",
    text: unread > 99 ? "99+" : String(unread),
    attrs: { "aria-hidden": "true" },
  });
  node.hidden = unread === 0;
  const nodes = [node];
  if (unread > 0) nodes.push(spoken("unreadCount", unread, node.textContent!));
  if (mentions > 0)
    nodes.push(
      el("span", { class: "mention-badge", text: "@", attrs: { "aria-hidden": "true" } }),
      spoken("mentionCount", mentions),
    );
  return nodes;
};

export interface RoomEntry {
  name: string;
  joined: boolean;
  active: boolean;
  unread: number;
  /** Unread messages that mention the reader. */
  mentions: number;
  /** People online in it, when known. */
  members: number | undefined;
}

/**
 * Replaces a list's entries, keeping keyboard focus on the same entry (by
 * `data-key`): lists are rebuilt on every change, and someone tabbing
 * through them must not be thrown out.
 */
const replaceEntries = (list: HTMLElement, items: HTMLElement[]): void => {
  const focused = list.contains(document.activeElement)
    ? (document.activeElement as HTMLElement).dataset.key
    : undefined;
  list.replaceChildren(...items);
  if (focused !== undefined) list.querySelector<HTMLElement>(`[data-key="${CSS.escape(focused)}"]`)?.focus();
};

export const renderRooms = (list: HTMLElement, rooms: RoomEntry[], open: (room: string) => void): void => {
  replaceEntries(
    list,
    rooms.map((room) => {
      const button = el(
        "button",
        { class: room.joined ? "entry" : "entry not-joined", attrs: { type: "button" } },
        el("span", { class: "hash", text: "#", attrs: { "aria-hidden": "true" } }),
        room.name === DEFAULT_ROOM
          ? label(el("span", { class: "label" }), "lobby")
          : el("span", { class: "label", text: room.name }),
      );
      if (room.members !== undefined)
        button.append(
          el("span", { class: "count", text: String(room.members), attrs: { "aria-hidden": "true" } }),
          spoken(room.joined ? "onlineInRoom" : "membersInRoom", room.members),
        );
      button.append(...badges(room.unread, room.mentions));
      button.dataset.key = room.name;
      if (room.active) button.setAttribute("aria-current", "true");
      button.addEventListener("click", () => open(room.name));
      return el("li", {}, button);
    }),
  );
};

export interface PrivateEntry {
  peer: User;
  online: boolean;
  active: boolean;
  unread: number;
  mentions: number;
}

export const renderPrivates = (list: HTMLElement, entries: PrivateEntry[], open: (peer: User) => void): void => {
  replaceEntries(
    list,
    entries.map((entry) => {
      const button = el(
        "button",
        { class: entry.online ? "entry" : "entry offline", attrs: { type: "button" } },
        avatar(entry.peer),
        el("span", { class: "label", text: entry.peer.name }),
        ...badges(entry.unread, entry.mentions),
      );
      button.dataset.key = String(entry.peer.id);
      if (entry.active) button.setAttribute("aria-current", "true");
      button.addEventListener("click", () => open(entry.peer));
      return el("li", {}, button);
    }),
  );
};

export const renderUsers = (
  list: HTMLElement,
  users: User[],
  me: User,
  open: (peer: User) => void,
  /** A big room with more members than shown: the button that asks for (the next page of) them. */
  more?: { label: "showMembers" | "moreMembers"; ask: () => void },
  /** For a room's moderators: the menu button beside each other person. */
  moderate?: (user: User) => HTMLElement,
): void => {
  const sorted = [...users].sort((a, b) => (a.id === me.id ? -1 : b.id === me.id ? 1 : a.name.localeCompare(b.name)));
  const items = sorted.map((user) => {
    const self = user.id === me.id;
    const name = el("span", { class: "label", text: user.name });
    const item = el("li", { class: self ? "user self" : "user" });
    item.dataset.user = String(user.id);
    if (self) {
      const you = el("span", { class: "you" });
      label(you, "you");
      item.append(el("div", { class: "entry" }, avatar(user), name, you));
    } else {
      const button = el("button", { class: "entry", attrs: { type: "button" } }, avatar(user), name);
      button.setAttribute("aria-label", t("openPrivate", { name: user.name }));
      button.dataset.key = String(user.id);
      button.addEventListener("click", () => open(user));
      item.append(button);
      if (moderate) item.append(moderate(user));
    }
    return item;
  });
  if (more) {
    const button = el("button", { class: "more-members small", attrs: { type: "button" } });
    label(button, more.label);
    button.addEventListener("click", more.ask);
    items.push(el("li", { class: "more" }, button));
  }
  replaceEntries(list, items);
};
