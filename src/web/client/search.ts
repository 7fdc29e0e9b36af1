/**
 * The search box and its results: typing searches (debounced; the server also matches the last word
 * as a prefix), results newest first with the matches marked (as <mark> elements, never HTML),
 * "more results" pages on, and a result opens its conversation at that message.
 */
import type { SearchHit as Hit } from "../../protocol";
import { el } from "./dom";
import { fullDateTime } from "./dates";
import { label, lang } from "./text";

/** Wait this long after the last key before searching. */
const DEBOUNCE_MS = 250;

export class SearchBox {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private query = "";
  private next: number | undefined;
  /** Answers to older queries are dropped. */
  private asked = 0;

  constructor(
    private readonly nodes: {
      form: HTMLFormElement;
      input: HTMLInputElement;
      panel: HTMLElement;
      list: HTMLOListElement;
      status: HTMLElement;
      more: HTMLButtonElement;
      close: HTMLButtonElement;
    },
    /** Opens the conversation at a message. */
    private readonly open: (id: number) => void,
    /** The name of the other account of a direct conversation. */
    private readonly nameOf: (accountId: number) => string,
  ) {
    nodes.input.addEventListener("input", () => this.typed());
    nodes.form.addEventListener("submit", (event) => {
      event.preventDefault();
      clearTimeout(this.timer);
      void this.run(false);
    });
    nodes.input.addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.close();
    });
    nodes.panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.close();
    });
    nodes.more.addEventListener("click", () => void this.run(true));
    nodes.close.addEventListener("click", () => this.close());
  }

  close(): void {
    clearTimeout(this.timer);
    this.asked++;
    this.nodes.panel.hidden = true;
    this.nodes.input.value = "";
  }

  private typed(): void {
    clearTimeout(this.timer);
    if (this.nodes.input.value.trim() === "") {
      this.asked++;
      this.nodes.panel.hidden = true;
      return;
    }
    this.timer = setTimeout(() => void this.run(false), DEBOUNCE_MS);
  }

  private async run(more: boolean): Promise<void> {
    const { input, panel, list, status, more: moreButton } = this.nodes;
    if (!more) {
      this.query = input.value.trim();
      this.next = undefined;
      if (this.query === "") return;
      list.replaceChildren();
    }
    const ask = ++this.asked;
    panel.hidden = false;
    label(status, "searchSearching");
    const url = new URL("/search", location.href);
    url.searchParams.set("q", this.query);
    if (more && this.next !== undefined) url.searchParams.set("before", String(this.next));
    let answer: { data: Hit[] | string; next?: number };
    let ok: boolean;
    try {
      const response = await fetch(url, { cache: "no-store" });
      ok = response.ok;
      answer = (await response.json()) as typeof answer;
    } catch {
      ok = false;
      answer = { data: "network" };
    }
    if (ask !== this.asked) return;
    if (!ok || typeof answer.data === "string") {
      label(status, "searchFailed", { reason: typeof answer.data === "string" ? answer.data : "?" });
      moreButton.hidden = true;
      return;
    }
    for (const hit of answer.data) list.append(this.item(hit));
    this.next = answer.next;
    moreButton.hidden = answer.next === undefined;
    const count = list.children.length;
    if (count === 0) label(status, "searchNone");
    else label(status, "searchCount", { count: answer.next === undefined ? String(count) : `${count}+` });
  }

  private item(hit: Hit): HTMLLIElement {
    const where = el("span", { class: "search-where" });
    if (hit.room !== undefined) label(where, "searchInRoom", { room: hit.room });
    else label(where, "searchWith", { name: this.nameOf(hit.with!) });
    const time = el("time", {
      text: fullDateTime(hit.ts, lang()),
      attrs: { datetime: new Date(hit.ts).toISOString() },
    });
    const text = el("p", { class: "search-text" });
    let at = 0;
    for (const [start, end] of hit.marks) {
      if (start > at) text.append(hit.text.slice(at, start));
      text.append(el("mark", { text: hit.text.slice(start, end) }));
      at = end;
    }
    if (at < hit.text.length) text.append(hit.text.slice(at));
    const button = el(
      "button",
      { class: "search-hit", attrs: { type: "button" } },
      el("span", { class: "search-meta" }, where, el("span", { class: "name", text: hit.user.name }), time),
      text,
    );
    button.dataset.id = String(hit.id);
    button.addEventListener("click", () => {
      this.nodes.panel.hidden = true;
      this.open(hit.id);
    });
    return el("li", {}, button);
  }
}
