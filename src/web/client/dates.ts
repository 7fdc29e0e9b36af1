/**
 * Dates and times of messages in the UI's language: pure functions of a
 * timestamp, the current time and a language (no DOM), for the message
 * times, their hover text and the day separators (days.ts puts them on the page).
 * Days are the reader's local calendar days.
 */
import { format, HTML_LANG, type Lang } from "../i18n";

/** The local calendar day of a timestamp, as `YYYY-MM-DD` (compares and sorts). */
export const dayKey = (ts: number): string => {
  const date = new Date(ts);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
};

/** Whole local days from `ts`'s day to `now`'s (0: the same day; 1: yesterday), daylight saving aside. */
const daysBetween = (ts: number, now: number): number => {
  const start = (t: number) => {
    const date = new Date(t);
    return new Date(date.getFullYear(), date.getMonth(), date.getDate()).getTime();
  };
  return Math.round((start(now) - start(ts)) / 86_400_000);
};

/** The day separator's words: "Today", "Yesterday", else the date (with the year when it is not this year's). */
export const dayLabel = (ts: number, now: number, lang: Lang): string => {
  const days = daysBetween(ts, now);
  if (days === 0) return format(lang, "today");
  if (days === 1) return format(lang, "yesterday");
  const sameYear = new Date(ts).getFullYear() === new Date(now).getFullYear();
  return new Intl.DateTimeFormat(HTML_LANG[lang], {
    ...(sameYear ? {} : { year: "numeric" }),
    month: "long",
    day: "numeric",
    weekday: "long",
  }).format(ts);
};

/** A message's time of day, as shown next to it. */
export const timeLabel = (ts: number, lang: Lang): string =>
  new Intl.DateTimeFormat(HTML_LANG[lang], { hour: "2-digit", minute: "2-digit" }).format(ts);

/** The full date and time (the hover text of a message's time). */
export const fullDateTime = (ts: number, lang: Lang): string =>
  new Intl.DateTimeFormat(HTML_LANG[lang], { dateStyle: "full", timeStyle: "medium" }).format(ts);

/** Milliseconds from `now` to the next local midnight (when "Today" becomes "Yesterday"). */
export const untilMidnight = (now: number): number => {
  const date = new Date(now);
  return new Date(date.getFullYear(), date.getMonth(), date.getDate() + 1).getTime() - now;
};
