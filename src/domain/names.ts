/**
 * Display names and room names: normalisation, validation, the comparison key
 * that makes names people cannot tell apart collide, and the rotating guest
 * names of the tutorial (路人甲 … 路人癸).
 *
 * The key is NFKC, case folding, then the confusables skeleton of Unicode
 * UTS #39, then case folding again, repeated until nothing changes, with white
 * space and default-ignorable characters removed. The skeleton data is
 * confusables.txt of Unicode 13.0.0 as shipped by the npm package unhomoglyph
 * (nodeca, data.json; bundled by `bun build --compile` like any import). The
 * regular expressions below use the engine's own Unicode tables (Unicode 17 in
 * Bun 1.4).
 *
 * confusables.txt is not closed under case: it maps `I` to `l` but not `i`,
 * so with one key for both "ALICE" (same as "alice") and "aIice" (looks like
 * "alice"), i and l must share a prototype: `i` maps to `l` as well. Keys are
 * stored (accounts, rooms): changing this mapping or the data's version
 * changes keys, so they have to be recomputed from the names.
 */

import confusablesData from "unhomoglyph/data.json";

export const NAME_MAX_LENGTH = 32;

export type NameCheck = { ok: true; name: string; key: string } | { ok: false; error: string; message: string };

/** The room every socket is in (protocol.ts has the same DEFAULT_ROOM); no other room may have its key. */
export const DEFAULT_ROOM = "lobby";

/** nameKey(DEFAULT_ROOM), written out so that importing this module builds nothing (a test checks it). */
export const DEFAULT_ROOM_KEY = "lobby";

// ---------------------------------------------------------------------------
// The key

/**
 * Case folding: lower, upper, then lower case is closer to Unicode's full
 * folding than lower case alone (ß → ss, ẞ → ss, ς → σ, ſ → s, ı → i).
 */
const fold = (s: string): string => s.toLowerCase().toUpperCase().toLowerCase();

// White space and default-ignorable characters do not show, so they do not count.
const UNSEEN = /[\p{White_Space}\p{Default_Ignorable_Code_Point}]+/gu;

// The only addition to confusables.txt: see the comment at the top.
const CASE_CLOSURE: Record<string, string> = { i: "l" };

let prototypes: Map<string, string> | undefined;

/**
 * Each character with a prototype, mapped to its final form: skeleton, fold
 * and compatibility decomposition repeated until stable (a prototype can be
 * upper case, "0" → "O", have a prototype of its own once folded,
 * "ᗰ" → "M" → "m" → "rn", or be a compatibility character, "%" → "º/₀"). Built on
 * the first key, in a few milliseconds; the key then costs one lookup per
 * character.
 */
const prototypeTable = (): Map<string, string> => {
  if (prototypes) return prototypes;
  const data: Record<string, string> = { ...(confusablesData as Record<string, string>), ...CASE_CLOSURE };
  const step = (s: string): string => {
    let out = "";
    for (const ch of s.normalize("NFKD")) out += data[ch] ?? ch;
    return fold(out).normalize("NFKD");
  };
  const table = new Map<string, string>();
  for (const source of Object.keys(data)) {
    let form = step(source);
    for (let round = 0; round < 8; round++) {
      const next = step(form);
      if (next === form) break;
      form = next;
    }
    table.set(source, form);
  }
  prototypes = table;
  return table;
};

/**
 * The comparison key of a name: two names with the same key look alike (or
 * differ only in case, width or spacing). Not for display.
 */
export const nameKey = (name: string): string => {
  const table = prototypeTable();
  const folded = fold(name.normalize("NFKC")).normalize("NFKD").replace(UNSEEN, "");
  let key = "";
  for (const ch of folded) key += table.get(ch) ?? ch;
  return key.replace(UNSEEN, "").normalize("NFD");
};

// ---------------------------------------------------------------------------
// Validation

// Spacing that is collapsed to one space (and trimmed): tab, line feed and the
// like, and the space separators. Other line breaks are refused below.
const SPACES = /[\t\n\v\f\r\p{Zs}]+/gu;

// Characters that do not show or that change how the text around them shows:
// controls, format characters (bidi controls, zero-width joiners, soft hyphen,
// tags…), every default-ignorable code point (variation selectors, Hangul
// fillers, U+034F, U+180E…), line and paragraph separators, surrogates,
// private use, unassigned code points, and blank symbols (braille blank,
// musical null notehead).
const INVISIBLE =
  /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}\p{Bidi_Control}\u115F\u1160\u2800\u3164\uFFA0\u{1D159}]/u;

// Stacked marks ("Zalgo" text) spill over the lines around a name. Three
// nonspacing or enclosing marks in a row are refused; Tibetan subjoined letters
// (U+0F90–U+0FBC) are letters written below and do not count (སྒྲོལ་མ), but five
// marks of any kind are refused. Spacing marks (Mc) do not stack and do not
// count (Burmese ကျော်: three of them and one nonspacing).
const MARK_RUN = /(?:(?![\u0F90-\u0FBC])[\p{Mn}\p{Me}]){3}|[\p{Mn}\p{Me}]{5}/u;
const LEADING_MARK = /^\p{M}/u;
// A dot above on a letter that already has one (i, j and the other soft-dotted letters) draws
// nothing new: `ali\u0307ce` looks like `alice`. UTS #39 names this sequence as one to refuse.
const DOT_ON_DOTTED = /\p{Soft_Dotted}\p{Mn}*\u0307/u;

/**
 * Validates a user-supplied name (or room name): trimmed, NFC, inner white
 * space collapsed to one space, 1…max characters (code points), nothing
 * invisible, no stacked marks.
 */
export const checkName = (raw: unknown, what = "name", max = NAME_MAX_LENGTH): NameCheck => {
  const error = `invalid_${what}`;
  if (typeof raw !== "string") return { ok: false, error, message: `The ${what} must be text` };
  const name = raw.normalize("NFC").replace(SPACES, " ").replace(/^ | $/g, "");
  if (INVISIBLE.test(name))
    return { ok: false, error, message: `The ${what} contains invisible or control characters` };
  const length = [...name].length;
  if (length === 0) return { ok: false, error, message: `The ${what} is empty` };
  if (length > max) return { ok: false, error, message: `The ${what} is longer than ${max} characters` };
  if (LEADING_MARK.test(name)) return { ok: false, error, message: `The ${what} starts with a combining mark` };
  if (MARK_RUN.test(name)) return { ok: false, error, message: `The ${what} has too many combining marks in a row` };
  if (DOT_ON_DOTTED.test(name))
    return { ok: false, error, message: `The ${what} has a dot above a letter that already has one` };
  return { ok: true, name, key: nameKey(name) };
};

/**
 * A room name: a name as above, without commas (the resume URL lists rooms
 * comma-separated), and not a look-alike of the lobby ("LOBBY", "ⅼobby"):
 * only "lobby" itself has the lobby's key.
 */
export const checkRoomName = (raw: unknown): NameCheck => {
  const check = checkName(raw, "room");
  if (!check.ok) return check;
  if (check.name.includes(","))
    return { ok: false, error: "invalid_room", message: "A room name cannot contain a comma" };
  if (check.key === DEFAULT_ROOM_KEY && check.name !== DEFAULT_ROOM)
    return { ok: false, error: "invalid_room", message: `The room name is reserved: it looks like "${DEFAULT_ROOM}"` };
  return check;
};

// ---------------------------------------------------------------------------
// Guest names

const STEMS = ["甲", "乙", "丙", "丁", "戊", "己", "庚", "辛", "壬", "癸"];

/** The n-th guest name (0-based): 路人甲 … 路人癸, then 路人甲2 … 路人癸2, … */
export const guestName = (n: number): string => {
  const round = Math.floor(n / STEMS.length) + 1;
  return `路人${STEMS[n % STEMS.length]}${round === 1 ? "" : round}`;
};
