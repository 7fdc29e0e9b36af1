/**
 * Dates on the page: each message's <time> (time of day; the full date and
 * time on hover) and the day separators of a message list ("Today",
 * "Yesterday", a date), all from the messages' own timestamps (`data-ts`),
 * so they stay right whatever order messages come in: older history put
 * above, live messages past midnight. A language switch or a new day
 * re-renders them (`relocaliseDates`).
 */
import { dayKey, dayLabel, fullDateTime, timeLabel } from "./dates";
import { el } from "./dom";
import { lang } from "./text";

const SEPARATOR = "day-separator";

/** A message's time, rendered for the current language. */
export const timeElement = (ts: number): HTMLTimeElement => {
  const time = el("time", { attrs: { datetime: new Date(ts).toISOString() } });
  time.dataset.ts = String(ts);
  localiseTime(time);
  return time;
};

const localiseTime = (time: HTMLElement): void => {
  const ts = Number(time.dataset.ts);
  time.textContent = timeLabel(ts, lang());
  time.title = fullDateTime(ts, lang());
};

const separator = (ts: number): HTMLLIElement => {
  const node = el("li", { class: SEPARATOR }, el("time", { attrs: { datetime: dayKey(ts) } }));
  node.dataset.day = dayKey(ts);
  node.dataset.dayTs = String(ts);
  localiseSeparator(node, Date.now());
  return node;
};

const localiseSeparator = (node: HTMLElement, now: number): void => {
  node.firstElementChild!.textContent = dayLabel(Number(node.dataset.dayTs), now, lang());
};

/**
 * Puts a separator before the first entry of each day in the list (entries are the children with
 * `data-ts`), and removes the ones no longer there: one pass, after any change to the list.
 */
export const syncDays = (list: HTMLElement): void => {
  let previousDay: string | undefined;
  /** A separator passed and not yet matched with the entry after it. */
  let waiting: HTMLElement | undefined;
  for (const child of [...list.children] as HTMLElement[]) {
    if (child.classList.contains(SEPARATOR)) {
      waiting?.remove();
      waiting = child;
      continue;
    }
    if (child.dataset.ts === undefined) continue;
    const ts = Number(child.dataset.ts);
    const day = dayKey(ts);
    if (day !== previousDay) {
      if (waiting?.dataset.day !== day) {
        waiting?.remove();
        list.insertBefore(separator(ts), child);
      }
    } else waiting?.remove();
    waiting = undefined;
    previousDay = day;
  }
  waiting?.remove();
};

/** Re-renders every time and day separator under `root` (a language switch, a new day). */
export const relocaliseDates = (root: ParentNode): void => {
  const now = Date.now();
  for (const time of root.querySelectorAll<HTMLElement>("time[data-ts]")) localiseTime(time);
  for (const node of root.querySelectorAll<HTMLElement>(`.${SEPARATOR}`)) localiseSeparator(node, now);
};
