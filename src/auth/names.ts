/**
 * Display names: normalisation, validation, the key that makes look-alike
 * names collide, and the rotating guest names of the tutorial (路人甲 … 路人癸).
 */

export const NAME_MAX_LENGTH = 32;

export type NameCheck = { ok: true; name: string; key: string } | { ok: false; error: string; message: string };

// Control characters, line/paragraph separators, bidi controls and invisible
// characters that would let a name hide or reorder text. ZWJ (U+200D) stays: emoji use it.
const FORBIDDEN =
  /[\p{Cc}\u2028\u2029\u200B\u200C\u200E\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\u061C\uFEFF\uFFF9-\uFFFB]/u;

// Letters from other scripts that render like Latin ones, folded so that
// "аlice" (Cyrillic а) and "alice" are the same name.
const CONFUSABLES: Record<string, string> = {
  а: "a",
  в: "b",
  е: "e",
  к: "k",
  м: "m",
  н: "h",
  о: "o",
  р: "p",
  с: "c",
  т: "t",
  у: "y",
  х: "x",
  і: "i",
  ј: "j",
  ѕ: "s",
  α: "a",
  β: "b",
  ε: "e",
  ι: "i",
  κ: "k",
  ν: "v",
  ο: "o",
  ρ: "p",
  τ: "t",
  υ: "u",
  χ: "x",
  "0": "o",
  "1": "l",
  "|": "l",
};

/** The comparison key of a name: compatibility-folded, case-folded, confusables folded, no spaces. */
export const nameKey = (name: string): string =>
  [...name.normalize("NFKC").toLowerCase().replace(/\s+/gu, "")].map((ch) => CONFUSABLES[ch] ?? ch).join("");

/**
 * Validates a user-supplied name (or room name): trimmed, NFC, inner
 * whitespace collapsed, 1…max characters, no control or bidi characters.
 */
export const checkName = (raw: unknown, what = "name", max = NAME_MAX_LENGTH): NameCheck => {
  if (typeof raw !== "string") return { ok: false, error: `invalid_${what}`, message: `The ${what} must be text` };
  const name = raw.normalize("NFC").trim().replace(/\s+/gu, " ");
  if (FORBIDDEN.test(name))
    return { ok: false, error: `invalid_${what}`, message: `The ${what} contains control or invisible characters` };
  const length = [...name].length;
  if (length === 0) return { ok: false, error: `invalid_${what}`, message: `The ${what} is empty` };
  if (length > max)
    return { ok: false, error: `invalid_${what}`, message: `The ${what} is longer than ${max} characters` };
  return { ok: true, name, key: nameKey(name) };
};

const STEMS = ["甲", "乙", "丙", "丁", "戊", "己", "庚", "辛", "壬", "癸"];

/** The n-th guest name (0-based): 路人甲 … 路人癸, then 路人甲2 … 路人癸2, … */
export const guestName = (n: number): string => {
  const round = Math.floor(n / STEMS.length) + 1;
  return `路人${STEMS[n % STEMS.length]}${round === 1 ? "" : round}`;
};

/** A room name: a name as above, without commas (the resume URL lists rooms comma-separated). */
export const checkRoomName = (raw: unknown): NameCheck => {
  const check = checkName(raw, "room");
  if (check.ok && check.name.includes(","))
    return { ok: false, error: "invalid_room", message: "A room name cannot contain a comma" };
  return check;
};
