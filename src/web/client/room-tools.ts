/**
 * What a room's moderators get in the page: the room settings form under the header (topic, slow
 * mode, privacy, an invite link for a private room) and a menu on each person in the member list
 * (mute, unmute, make or unmake moderator, remove from a private room). The server decides what
 * is allowed (a refusal comes back as an error line); this only offers what the role may try.
 */
import type { ClientFrame } from "../../protocol";
import type { Conversation } from "./conversation";
import { byId, el } from "./dom";
import { label, t } from "./text";
import type { StringKey } from "../i18n";

/** The invite link for a private room: the page joins it when opened (see `inviteFromHash`). */
export const inviteLink = (room: string, token: string): string =>
  `${location.origin}/ws#join=${encodeURIComponent(room)}&invite=${encodeURIComponent(token)}`;

/** A room and an invite token in the address (`#join=<room>&invite=<token>`), once. */
export const inviteFromHash = (hash: string): { room: string; invite: string } | undefined => {
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  const room = params.get("join");
  const invite = params.get("invite");
  return room && invite ? { room, invite } : undefined;
};

const MUTES: Array<["mute10m" | "mute1h" | "mute1d", number]> = [
  ["mute10m", 600],
  ["mute1h", 3600],
  ["mute1d", 86_400],
];

export class RoomTools {
  private readonly toggle = byId<HTMLButtonElement>("room-settings-toggle");
  private readonly form = byId<HTMLFormElement>("room-settings");
  private readonly topic = byId<HTMLInputElement>("room-topic");
  private readonly slow = byId<HTMLSelectElement>("room-slow");
  private readonly privacy = byId<HTMLInputElement>("room-private");
  private readonly inviteButton = byId<HTMLButtonElement>("room-invite");
  private readonly link = byId<HTMLInputElement>("room-invite-link");
  private readonly menu = byId("member-menu");
  private room: Conversation | undefined;

  constructor(private readonly send: (frame: ClientFrame) => boolean) {
    this.toggle.addEventListener("click", () => this.open(this.form.hidden === true));
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      const conv = this.room;
      const room = conv?.room;
      if (!conv || !room) return;
      // Only what changed (a refusal of one setting then does not hold back the others).
      const topic = this.topic.value.replace(/\s+/g, " ").trim();
      const slow = Number(this.slow.value);
      const changes = {
        ...(topic !== conv.topic ? { topic } : {}),
        ...(slow !== conv.slow ? { slow } : {}),
        ...(!this.privacy.disabled && this.privacy.checked !== conv.isPrivate ? { private: this.privacy.checked } : {}),
      };
      if (Object.keys(changes).length > 0) this.send({ type: "room_settings", room, ...changes });
      this.open(false);
    });
    this.inviteButton.addEventListener("click", () => {
      const room = this.room?.room;
      // A link the page hands out lasts a week and lets in 25 people at most.
      if (room) this.send({ type: "invite", room, expiresInSeconds: 7 * 86_400, uses: 25 });
    });
    document.addEventListener("click", (event) => {
      if (!this.menu.hidden && !this.menu.contains(event.target as Node)) this.menu.hidden = true;
    });
    this.menu.addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.menu.hidden = true;
    });
  }

  /** The conversation in front changed, or what the reader may do there. */
  show(conv: Conversation): void {
    this.room = conv;
    const moderates = conv.room !== undefined && conv.moderates;
    this.toggle.hidden = !moderates;
    if (!moderates) this.open(false);
    this.privacy.disabled = !conv.owns || conv.room === "lobby";
    this.inviteButton.hidden = !conv.isPrivate;
    if (this.form.hidden) {
      this.topic.value = conv.topic;
      this.slow.value = String(conv.slow);
      if (this.slow.value === "") this.slow.value = "0";
      this.privacy.checked = conv.isPrivate;
    }
  }

  private open(on: boolean): void {
    this.form.hidden = !on;
    this.toggle.setAttribute("aria-expanded", String(on));
    if (on) {
      this.link.hidden = true;
      if (this.room) this.show(this.room);
      this.topic.focus();
    }
  }

  /** The server made an invite link for the room. */
  showInvite(room: string, token: string): void {
    this.link.value = inviteLink(room, token);
    this.link.hidden = false;
    this.link.select();
  }

  /** The menu button for one person in the member list (moderators only; never oneself). */
  menuButton(user: { id: number; name: string }): HTMLButtonElement {
    const button = el("button", { class: "member-actions", attrs: { type: "button", "aria-haspopup": "menu" } });
    button.textContent = "⋯";
    button.setAttribute("aria-label", t("moderateUser", { name: user.name }));
    button.addEventListener("click", (event) => {
      event.stopPropagation();
      this.openMenu(button, user);
    });
    return button;
  }

  private openMenu(anchor: HTMLElement, user: { id: number; name: string }): void {
    const conv = this.room;
    const room = conv?.room;
    if (!conv || !room) return;
    const item = (key: StringKey, frame: ClientFrame) => {
      const button = label(el("button", { class: "menu-item", attrs: { type: "button", role: "menuitem" } }), key);
      button.addEventListener("click", () => {
        this.send(frame);
        this.menu.hidden = true;
        anchor.focus();
      });
      return button;
    };
    this.menu.replaceChildren(
      ...MUTES.map(([key, seconds]) => item(key, { type: "mute", room, user: user.id, seconds })),
      item("unmute", { type: "mute", room, user: user.id, seconds: 0 }),
      ...(conv.owns
        ? [
            item("makeModerator", { type: "moderator", room, user: user.id, on: true }),
            item("unmakeModerator", { type: "moderator", room, user: user.id, on: false }),
          ]
        : []),
      ...(conv.isPrivate ? [item("removeFromRoom", { type: "remove", room, user: user.id })] : []),
    );
    // Fixed in the viewport, under its button, kept inside the window.
    this.menu.hidden = false;
    const box = anchor.getBoundingClientRect();
    const { offsetWidth: width, offsetHeight: height } = this.menu;
    const below = box.bottom + 4 + height <= innerHeight ? box.bottom + 4 : Math.max(8, box.top - 4 - height);
    this.menu.style.top = `${Math.round(below)}px`;
    this.menu.style.left = `${Math.round(Math.min(Math.max(8, box.left), innerWidth - width - 8))}px`;
    this.menu.querySelector<HTMLButtonElement>("button")?.focus();
  }
}
