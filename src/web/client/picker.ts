/**
 * The small pickers of the composer and the messages: an emoji picker for
 * reactions (the reader's recent ones first, kept in this browser), and the
 * `@` autocomplete of members while typing.
 */
import type { User } from "../../protocol";
import { el } from "./dom";
import { t } from "./text";

const RECENT_KEY = "teahouse.recentEmoji";
const RECENT_MAX = 8;
const COMMON = ["👍", "❤️", "😂", "🎉", "😮", "😢", "🙏", "👀", "🔥", "✅", "👏", "🤔", "😄", "🍵", "💯", "👌"];

const recent = (): string[] => {
  try {
    const stored = JSON.parse(localStorage.getItem(RECENT_KEY) ?? "[]") as unknown;
    return Array.isArray(stored) ? stored.filter((e): e is string => typeof e === "string").slice(0, RECENT_MAX) : [];
  } catch {
    return [];
  }
};

const remember = (emoji: string): void => {
  try {
    localStorage.setItem(
      RECENT_KEY,
      JSON.stringify([emoji, ...recent().filter((e) => e !== emoji)].slice(0, RECENT_MAX)),
    );
  } catch {
    // Private mode: no recent emoji, nothing else lost.
  }
};

/** A popup of emoji buttons next to the button that opened it; Escape or a click elsewhere closes it. */
export class EmojiPicker {
  private opener: HTMLElement | undefined;

  constructor(private readonly node: HTMLElement) {
    node.setAttribute("aria-label", t("pickEmoji"));
    node.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.stopPropagation();
        this.close();
      }
    });
    document.addEventListener("click", (event) => {
      if (!this.node.hidden && !this.node.contains(event.target as Node) && event.target !== this.opener) this.close();
    });
  }

  get isOpen(): boolean {
    return !this.node.hidden;
  }

  open(anchor: HTMLElement, pick: (emoji: string) => void): void {
    this.opener = anchor;
    const emoji = [...new Set([...recent(), ...COMMON])];
    this.node.replaceChildren(
      ...emoji.map((one) => {
        const button = el("button", { class: "emoji-choice", text: one, attrs: { type: "button" } });
        button.addEventListener("click", (event) => {
          event.stopPropagation();
          remember(one);
          this.close();
          pick(one);
        });
        return button;
      }),
    );
    this.node.hidden = false;
    const box = anchor.getBoundingClientRect();
    const parent = this.node.offsetParent?.getBoundingClientRect() ?? { left: 0, top: 0, width: innerWidth };
    const left = Math.max(4, Math.min(box.left - parent.left, parent.width - this.node.offsetWidth - 4));
    this.node.style.left = `${left}px`;
    this.node.style.top = `${Math.max(4, box.top - parent.top - this.node.offsetHeight - 4)}px`;
    this.node.querySelector<HTMLButtonElement>("button")?.focus();
  }

  close(): void {
    if (this.node.hidden) return;
    this.node.hidden = true;
    const opener = this.opener;
    this.opener = undefined;
    if (opener?.isConnected) opener.focus();
  }
}

/** The `@name` being typed just before the caret, if any: where it starts and what is typed of it. */
const typedMention = (text: string, caret: number): { start: number; query: string } | undefined => {
  const match = /(?:^|[\s(（，。、,.!?！？])@([^\s@]{0,32})$/u.exec(text.slice(0, caret));
  if (!match) return undefined;
  return { start: caret - match[1]!.length - 1, query: match[1]! };
};

/** Suggests members while `@name` is typed in the composer; arrows, Enter or Tab pick, Escape closes. */
export class MentionPicker {
  private choices: User[] = [];
  private selected = 0;
  private at: { start: number; query: string } | undefined;

  constructor(
    private readonly input: HTMLTextAreaElement,
    private readonly node: HTMLElement,
    /** The people who may be mentioned in the open conversation. */
    private readonly candidates: () => User[],
  ) {
    node.setAttribute("aria-label", t("mentionSuggestions"));
    input.addEventListener("input", () => this.update());
    input.addEventListener("blur", () => setTimeout(() => this.close(), 150));
  }

  get isOpen(): boolean {
    return !this.node.hidden;
  }

  /** Handles a key in the composer while open; true when it was the picker's. */
  handleKey(event: KeyboardEvent): boolean {
    if (!this.isOpen || event.isComposing) return false;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      const step = event.key === "ArrowDown" ? 1 : -1;
      this.selected = (this.selected + step + this.choices.length) % this.choices.length;
      this.render();
    } else if (event.key === "Enter" || event.key === "Tab") this.pick(this.choices[this.selected]!);
    else if (event.key === "Escape") this.close();
    else return false;
    event.preventDefault();
    event.stopPropagation();
    return true;
  }

  update(): void {
    this.at = typedMention(this.input.value, this.input.selectionStart ?? this.input.value.length);
    if (!this.at) return this.close();
    const query = this.at.query.toLocaleLowerCase();
    const people = this.candidates();
    const starts = people.filter((user) => user.name.toLocaleLowerCase().startsWith(query));
    const within = people.filter((user) => !starts.includes(user) && user.name.toLocaleLowerCase().includes(query));
    this.choices = [...starts, ...within].slice(0, 8);
    if (this.choices.length === 0) return this.close();
    this.selected = Math.min(this.selected, this.choices.length - 1);
    this.render();
  }

  close(): void {
    this.node.hidden = true;
    this.input.removeAttribute("aria-activedescendant");
    this.input.setAttribute("aria-expanded", "false");
  }

  private render(): void {
    this.node.replaceChildren(
      ...this.choices.map((user, index) => {
        const item = el("li", {
          class: index === this.selected ? "mention-choice selected" : "mention-choice",
          text: user.name,
          attrs: { role: "option", id: `mention-${index}`, "aria-selected": String(index === this.selected) },
        });
        item.addEventListener("mousedown", (event) => {
          event.preventDefault();
          this.pick(user);
        });
        return item;
      }),
    );
    this.node.hidden = false;
    this.input.setAttribute("aria-expanded", "true");
    this.input.setAttribute("aria-activedescendant", `mention-${this.selected}`);
  }

  private pick(user: User): void {
    if (!this.at) return;
    const value = this.input.value;
    const caret = this.input.selectionStart ?? value.length;
    const inserted = `@${user.name} `;
    this.input.value = value.slice(0, this.at.start) + inserted + value.slice(caret);
    const end = this.at.start + inserted.length;
    this.input.setSelectionRange(end, end);
    this.close();
    this.input.dispatchEvent(new Event("input"));
  }
}
