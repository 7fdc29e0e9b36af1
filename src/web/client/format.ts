/**
 * Message text → a small tree of plain objects (`FormatNode[]`), turned into
 * DOM nodes by `toDom` (format-dom.ts). No DOM here, so it runs (and is
 * tested) under Bun as it is; and no HTML anywhere: every piece of the text
 * ends up as a text node, the only elements are the ones named below.
 *
 * What it understands, in this order:
 *
 * - ``` fenced blocks ``` (several lines, white space kept, nothing inside is formatted);
 * - `code` spans (one line, nothing inside is formatted);
 * - links: `http://` and `https://` only (any other scheme, look-alike or not, stays text). A URL
 *   runs over URL-safe ASCII and stops at anything else (a space, a CJK character or punctuation),
 *   then loses trailing punctuation and unbalanced closing brackets;
 * - `@name` mentions, `mentions-me` when it is `options.me` (case-insensitive);
 * - **bold**, *italic* or _italic_, ~~strike~~: they work next to CJK text without spaces
 *   (这是**重点**内容), but `*` and `_` next to ASCII letters or digits are text (snake_case,
 *   2*3*4). They do not cross a line break.
 */

export type FormatTag = "a" | "code" | "pre" | "strong" | "em" | "del" | "span";

export interface FormatElement {
  tag: FormatTag;
  attrs?: Record<string, string>;
  children: FormatNode[];
}

/** A piece of text, or an element of the formatted message. */
export type FormatNode = string | FormatElement;

export interface FormatOptions {
  /** The reader's own name: `@<me>` is marked `mentions-me`. */
  me?: string;
}

/** The attributes every link gets: a new tab, no opener, no referrer, no endorsement. */
export const LINK_REL = "noopener noreferrer nofollow";

const FENCE = /```(?:[\w+#.-]*\n)?([\s\S]*?)```/g;

/** Formats a message's text. */
export const format = (text: string, options: FormatOptions = {}): FormatNode[] => {
  const out: FormatNode[] = [];
  let from = 0;
  for (const match of text.matchAll(FENCE)) {
    const body = match[1]!.replace(/\n$/, "");
    if (body.trim() === "") continue;
    // The line breaks around a block are the block's own (it is one already).
    out.push(...inline(text.slice(from, match.index).replace(/\n$/, ""), options));
    out.push({ tag: "pre", children: [{ tag: "code", children: [body] }] });
    from = match.index + match[0].length;
    if (text[from] === "\n") from++;
  }
  out.push(...inline(text.slice(from), options));
  return merge(out);
};

// ---------------------------------------------------------------- code spans, links, mentions

/** One character of text, or something already built (a code span, a link, a mention) that emphasis wraps whole. */
type Atom = string | FormatElement;

const CODE_SPAN = /`([^`\n]+)`/y;
const URL_START = /https?:\/\//iy;
const URL_SAFE = /[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]/;
const TRAILING = new Set([".", ",", ";", ":", "!", "?", "'", "*", "~"]);
const ASCII_ALNUM = /[A-Za-z0-9]/;
/** Before an `@`, these make it an e-mail address rather than a mention. */
const EMAIL_CHAR = /[A-Za-z0-9._%+-]/;
const NAME_CHAR = /[\p{L}\p{N}\p{M}_]/u;
const GENERIC_MENTION = /@([\p{L}\p{N}_][\p{L}\p{N}\p{M}_.-]*)/uy;
/** Scripts written without spaces: a name in them may run straight into the next word. */
const UNSPACED = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/u;

const inline = (text: string, options: FormatOptions): FormatNode[] => {
  if (text === "") return [];
  const atoms: Atom[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === "`") {
      CODE_SPAN.lastIndex = i;
      const code = CODE_SPAN.exec(text);
      if (code) {
        atoms.push({ tag: "code", children: [code[1]!] });
        i += code[0].length;
        continue;
      }
    } else if ((c === "h" || c === "H") && !ASCII_ALNUM.test(text[i - 1] ?? "")) {
      const url = linkAt(text, i);
      if (url !== undefined) {
        atoms.push({
          tag: "a",
          attrs: { href: url, target: "_blank", rel: LINK_REL },
          children: [url],
        });
        i += url.length;
        continue;
      }
    } else if (c === "@" && !EMAIL_CHAR.test(text[i - 1] ?? "")) {
      const name = mentionAt(text, i, options.me);
      if (name !== undefined) {
        atoms.push({
          tag: "span",
          attrs: { class: name.me ? "mention mentions-me" : "mention" },
          children: [text.slice(i, i + 1 + name.length)],
        });
        i += 1 + name.length;
        continue;
      }
    }
    atoms.push(c);
    i++;
  }
  return emphasis(atoms, 0, atoms.length);
};

/** The http(s) URL starting at `start`, or undefined. */
const linkAt = (text: string, start: number): string | undefined => {
  URL_START.lastIndex = start;
  if (!URL_START.test(text)) return undefined;
  let end = URL_START.lastIndex;
  while (end < text.length && URL_SAFE.test(text[end]!)) end++;
  let url = text.slice(start, end);
  for (;;) {
    const last = url[url.length - 1]!;
    if (TRAILING.has(last)) url = url.slice(0, -1);
    else if (last === ")" && count(url, "(") < count(url, ")")) url = url.slice(0, -1);
    else if (last === "]" && count(url, "[") < count(url, "]")) url = url.slice(0, -1);
    else break;
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if ((parsed.protocol !== "http:" && parsed.protocol !== "https:") || parsed.hostname === "") return undefined;
  return url;
};

const count = (text: string, char: string): number => text.split(char).length - 1;

/** The name after the `@` at `at` (the reader's own first), or undefined. */
const mentionAt = (text: string, at: number, me: string | undefined): { length: number; me: boolean } | undefined => {
  if (me !== undefined && me !== "") {
    const candidate = text.slice(at + 1, at + 1 + me.length);
    const next = text.slice(at + 1 + me.length).match(/^./su)?.[0];
    const lastOfMe = [...me].pop()!;
    const boundary = next === undefined || !NAME_CHAR.test(next) || (UNSPACED.test(next) && UNSPACED.test(lastOfMe));
    if (boundary && candidate.toLowerCase() === me.toLowerCase()) return { length: me.length, me: true };
  }
  GENERIC_MENTION.lastIndex = at;
  const match = GENERIC_MENTION.exec(text);
  if (!match) return undefined;
  const name = match[1]!.replace(/[.-]+$/, "");
  return { length: name.length, me: false };
};

// ---------------------------------------------------------------- emphasis

const DELIMITERS = [
  { mark: "**", tag: "strong" },
  { mark: "~~", tag: "del" },
  { mark: "*", tag: "em" },
  { mark: "_", tag: "em" },
] as const;

const isSpace = (atom: Atom | undefined): boolean => typeof atom === "string" && /\s/.test(atom);
const isAlnum = (atom: Atom | undefined): boolean => typeof atom === "string" && ASCII_ALNUM.test(atom);
const marks = (atoms: Atom[], at: number, mark: string): boolean => {
  for (let k = 0; k < mark.length; k++) if (atoms[at + k] !== mark[k]) return false;
  return true;
};

/** Emphasis over atoms[start, end): delimiters are text atoms; what they wrap may hold code, links and mentions. */
const emphasis = (atoms: Atom[], start: number, end: number): FormatNode[] => {
  const out: FormatNode[] = [];
  let text = "";
  const flush = () => {
    if (text !== "") out.push(text);
    text = "";
  };
  /** Per mark: a search for its closer failed up to this index, so any later opener's fails too. */
  const failedUpTo = new Map<string, number>();
  /** Where the line of atoms[i] ends (a closer is on the same line). */
  let lineEnd = start - 1;
  let i = start;
  while (i < end) {
    if (i > lineEnd) for (lineEnd = i; lineEnd < end && atoms[lineEnd] !== "\n"; lineEnd++);
    const atom = atoms[i]!;
    if (typeof atom !== "string") {
      flush();
      out.push(atom);
      i++;
      continue;
    }
    const found = atom === "*" || atom === "_" || atom === "~" ? opening(atoms, i, lineEnd, failedUpTo) : undefined;
    if (found) {
      flush();
      out.push({ tag: found.tag, children: emphasis(atoms, i + found.mark.length, found.close) });
      i = found.close + found.mark.length;
      continue;
    }
    // A "**" that opens nothing is text; its second star may still open an *italic*.
    text += atom;
    i++;
  }
  flush();
  return out;
};

const opening = (
  atoms: Atom[],
  i: number,
  limit: number,
  failedUpTo: Map<string, number>,
): { mark: string; tag: FormatTag; close: number } | undefined => {
  for (const { mark, tag } of DELIMITERS) {
    if (!marks(atoms, i, mark)) continue;
    const single = mark.length === 1;
    const after = atoms[i + mark.length];
    if (after === undefined || isSpace(after)) return undefined;
    // 2*3*4, snake_case: inside a word of ASCII letters and digits, * and _ are text.
    if (single && isAlnum(atoms[i - 1])) return undefined;
    if (single && mark === "*" && atoms[i - 1] === "*") return undefined;
    if ((failedUpTo.get(mark) ?? -1) >= limit) return undefined;
    const close = closing(atoms, i + mark.length, limit, mark);
    if (close !== undefined) return { mark, tag, close };
    failedUpTo.set(mark, limit);
    // "**x" with no closing "**": not a bold; do not try "*" at the same place.
    return undefined;
  }
  return undefined;
};

const closing = (atoms: Atom[], from: number, limit: number, mark: string): number | undefined => {
  const single = mark.length === 1;
  for (let j = from + 1; j + mark.length <= limit; j++) {
    if (!marks(atoms, j, mark)) continue;
    if (mark === "*" && (atoms[j + 1] === "*" || atoms[j - 1] === "*")) {
      // A "**" inside an *italic* belongs to a bold of its own.
      if (atoms[j + 1] === "*") j++;
      continue;
    }
    if (isSpace(atoms[j - 1])) continue;
    if (single && isAlnum(atoms[j + 1])) continue;
    return j;
  }
  return undefined;
};

/** Joins neighbouring strings (the fence split leaves some). */
const merge = (nodes: FormatNode[]): FormatNode[] => {
  const out: FormatNode[] = [];
  for (const node of nodes) {
    const last = out[out.length - 1];
    if (typeof node === "string" && typeof last === "string") out[out.length - 1] = last + node;
    else if (node !== "") out.push(node);
  }
  return out;
};

/** The text a tree shows (what a reader sees, markers gone). */
export const plainText = (nodes: FormatNode[]): string =>
  nodes.map((node) => (typeof node === "string" ? node : plainText(node.children))).join("");
