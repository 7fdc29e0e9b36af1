/**
 * Search, as the domain sees it (no store, no HTTP): how a message's text becomes index tokens, how
 * a query becomes a plan, and where a query's terms are in a text (for marking matches).
 *
 * Chinese has no spaces, and a word segmenter's words are not what people search for (上海 must be
 * found in 我们明天在上海吃饭 however it is segmented), so every run of Chinese or Japanese characters is
 * indexed as its overlapping pairs of characters — any two-character substring is a token, a longer
 * query is the phrase of its pairs — and each character on its own, for one-character queries.
 * Other text is split into words by `Intl.Segmenter`, folded (case, accents, compatibility forms).
 * The tokens of a text come in order (a "stream"), so quoted phrases are phrases of tokens.
 */

/** Longest query, in characters. */
export const MAX_QUERY_LENGTH = 256;
/** Most terms (words, phrases, filters) in a query. */
export const MAX_QUERY_TERMS = 16;
/** Tokens indexed per message at most (a 2,000-character message has fewer). */
const MAX_TOKENS = 4000;
/** A longer "word" is not indexed (nobody searches for it; PostgreSQL refuses lexemes over 2046 bytes). */
const MAX_WORD_LENGTH = 64;
/** The last word typed matches as a prefix from this many characters on (a one-letter prefix matches half the index). */
const MIN_PREFIX_LENGTH = 3;

const CJK = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]/u;
const segmenter = new Intl.Segmenter("zh", { granularity: "word" });

/** Case, accents and compatibility forms folded: how both the index and queries see text. */
export const fold = (text: string): string =>
  text
    .normalize("NFKD")
    .replace(/\p{M}+/gu, "")
    .toLowerCase()
    .normalize("NFKC");

/** A message's index tokens: the stream (words and pairs of CJK characters, in order), single CJK characters, and facts. */
export interface IndexTokens {
  stream: string[];
  chars: string[];
  /** `link` when the text has an http(s) link; `file` for a message with a file, and `image` too for an image. */
  facts: string[];
}

const LINK = /\bhttps?:\/\/[^\s]/iu;

/**
 * The tokens a text is indexed by (see the module's comment); with a file, its name is indexed with
 * the text (a caption and a name are found alike) and the message has the `file` fact (`image` too
 * for one shown inline).
 */
export const indexTokens = (body: string, file?: { name: string; inline: boolean }): IndexTokens => {
  const text = file ? `${body}\n${file.name}` : body;
  const stream: string[] = [];
  const chars = new Set<string>();
  let run: string[] = [];
  const word = (text: string) => {
    if (text.length <= MAX_WORD_LENGTH) stream.push(text);
  };
  const flush = () => {
    if (run.length === 1) stream.push(run[0]!);
    for (let i = 0; i + 1 < run.length; i++) stream.push(run[i]! + run[i + 1]!);
    run = [];
  };
  for (const { segment, isWordLike } of segmenter.segment(fold(text))) {
    if (stream.length >= MAX_TOKENS) break;
    if (!isWordLike) {
      flush();
      continue;
    }
    // A segment may mix scripts ("iphone15很好"): CJK characters join the run, the rest are words.
    let current = "";
    for (const char of segment) {
      if (CJK.test(char)) {
        if (current) {
          flush();
          word(current);
          current = "";
        }
        run.push(char);
        chars.add(char);
      } else {
        if (run.length > 0) flush();
        if (/[\p{L}\p{N}]/u.test(char)) current += char;
        else if (current) {
          word(current);
          current = "";
        }
      }
    }
    if (current) word(current);
  }
  flush();
  const facts = LINK.test(body) ? ["link"] : [];
  if (file) facts.push(...(file.inline ? ["file", "image"] : ["file"]));
  return { stream: stream.slice(0, MAX_TOKENS), chars: [...chars], facts };
};

/**
 * One term of a query: a phrase of stream tokens (a word, a CJK string's pairs, a quoted phrase), a
 * word prefix (the last word typed), or one CJK character.
 */
export type SearchTerm =
  { kind: "phrase"; tokens: string[] } | { kind: "prefix"; token: string } | { kind: "char"; token: string };

export interface SearchFilters {
  /** `from:name`: the name as typed (the service finds the account). */
  from?: string;
  /** `in:room`: the room's name as typed. */
  in?: string;
  /** `after:2026-12-01`: sent on or after that day (UTC), ms. */
  after?: number;
  /** `before:2026-12-01`: sent before that day (UTC), ms. */
  before?: number;
  /** `has:link`, `has:file`, `has:image`. */
  facts: string[];
}

export interface SearchPlan {
  terms: SearchTerm[];
  filters: SearchFilters;
  /** What to mark in a result: each term's folded text. */
  needles: Array<{ text: string; wholeWord: boolean }>;
}

export type ParsedQuery = { ok: true; plan: SearchPlan } | { ok: false; reason: string };

const FILTER_KEYS = new Set(["from", "in", "before", "after", "has"]);
const KNOWN_FACTS = new Set(["link", "file", "image"]);

const dayStart = (value: string): number | undefined => {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return undefined;
  const ms = Date.parse(`${value}T00:00:00Z`);
  return Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== value ? undefined : ms;
};

/**
 * A query as typed → a plan: words and "quoted phrases" (ANDed), `from:` `in:` `before:` `after:`
 * `has:` filters; the last unquoted word also matches as a prefix (search as you type). Refused,
 * with a reason: too long, too many terms, an unclosed quote, a bad date or filter, nothing to find.
 */
export const parseQuery = (query: string): ParsedQuery => {
  const q = query.trim();
  if ([...q].length > MAX_QUERY_LENGTH)
    return { ok: false, reason: `A query is at most ${MAX_QUERY_LENGTH} characters` };
  if ((q.match(/"/g)?.length ?? 0) % 2 === 1) return { ok: false, reason: "A quote is not closed" };
  const parts = [...q.matchAll(/([a-z]+):("[^"]*"|\S+)|"([^"]*)"|(\S+)/giu)];
  if (parts.length > MAX_QUERY_TERMS) return { ok: false, reason: `A query has at most ${MAX_QUERY_TERMS} terms` };
  const filters: SearchFilters = { facts: [] };
  const texts: Array<{ text: string; quoted: boolean }> = [];
  for (const [whole, key, value, quoted, word] of parts) {
    const name = key?.toLowerCase();
    if (name !== undefined && FILTER_KEYS.has(name)) {
      const raw = value!.startsWith('"') ? value!.slice(1, -1) : value!;
      if (raw === "") return { ok: false, reason: `${name}: needs a value` };
      if (name === "from") filters.from = raw;
      else if (name === "in") filters.in = raw.replace(/^#/, "");
      else if (name === "has") {
        const fact = raw.toLowerCase();
        if (!KNOWN_FACTS.has(fact))
          return { ok: false, reason: `has:${fact} is not a filter (has:link, has:file and has:image are)` };
        filters.facts.push(fact);
      } else {
        const day = dayStart(raw);
        if (day === undefined) return { ok: false, reason: `${name}: wants a date like 2026-12-01` };
        if (name === "after") filters.after = day;
        else filters.before = day;
      }
      continue;
    }
    if (word !== undefined && /^[a-z]+:$/i.test(word) && FILTER_KEYS.has(word.slice(0, -1).toLowerCase()))
      return { ok: false, reason: `${word} needs a value` };
    if (quoted !== undefined) texts.push({ text: quoted, quoted: true });
    else texts.push({ text: word ?? whole, quoted: false });
  }
  const terms: SearchTerm[] = [];
  const needles: SearchPlan["needles"] = [];
  texts.forEach(({ text, quoted }, index) => {
    const folded = fold(text).trim();
    const { stream } = indexTokens(text);
    const chars = [...folded];
    if (!quoted && chars.length === 1 && CJK.test(folded)) terms.push({ kind: "char", token: folded });
    else if (stream.length === 0) return;
    else if (
      !quoted &&
      index === texts.length - 1 &&
      stream.length === 1 &&
      !CJK.test(stream[0]!) &&
      stream[0]!.length >= MIN_PREFIX_LENGTH
    )
      terms.push({ kind: "prefix", token: stream[0]! });
    else terms.push({ kind: "phrase", tokens: stream });
    const last = terms[terms.length - 1]!;
    needles.push({ text: folded.replace(/\s+/gu, " "), wholeWord: last.kind === "phrase" && !CJK.test(folded) });
  });
  // A `has:` filter alone lists what has it (every file, every image); anything else needs a word.
  if (terms.length === 0 && filters.facts.length === 0)
    return { ok: false, reason: "Nothing to search for: give a word" };
  if (filters.after !== undefined && filters.before !== undefined && filters.after >= filters.before)
    return { ok: false, reason: "after: is not before before:" };
  return { ok: true, plan: { terms, filters, needles } };
};

/** Ranges (UTF-16 offsets, end exclusive) of `text` where the plan's terms are, merged, in order. */
export const findMatches = (text: string, plan: SearchPlan): Array<[number, number]> => {
  // The folded text, with where each of its characters came from.
  let folded = "";
  const from: number[] = [];
  const to: number[] = [];
  for (let at = 0; at < text.length;) {
    const point = text.codePointAt(at)!;
    const size = point > 0xffff ? 2 : 1;
    for (const char of fold(String.fromCodePoint(point))) {
      folded += char;
      for (let i = 0; i < char.length; i++) {
        from.push(at);
        to.push(at + size);
      }
    }
    at += size;
  }
  // A Latin word's edge: a letter or digit next to it continues the word (a CJK character does not).
  const inWord = (char: string | undefined) => char !== undefined && /[\p{L}\p{N}]/u.test(char) && !CJK.test(char);
  const ranges: Array<[number, number]> = [];
  for (const needle of plan.needles) {
    if (needle.text === "") continue;
    for (let at = folded.indexOf(needle.text); at >= 0; at = folded.indexOf(needle.text, at + 1)) {
      const end = at + needle.text.length;
      const latin = !CJK.test(needle.text[0]!);
      if (latin && inWord(folded[at - 1])) continue;
      if (needle.wholeWord && inWord(folded[end])) continue;
      ranges.push([from[at]!, to[end - 1]!]);
      if (ranges.length > 200) break;
    }
  }
  ranges.sort((x, y) => x[0] - y[0]);
  const merged: Array<[number, number]> = [];
  for (const range of ranges) {
    const last = merged[merged.length - 1];
    if (last && range[0] <= last[1]) last[1] = Math.max(last[1], range[1]);
    else merged.push([...range]);
  }
  return merged;
};

/** Characters a result shows around its first match at most. */
const SNIPPET_LENGTH = 240;

/** The part of a long text around its first match (with "…" where cut), and the matches in it. */
export const snippet = (text: string, plan: SearchPlan): { text: string; marks: Array<[number, number]> } => {
  const marks = findMatches(text, plan);
  if (text.length <= SNIPPET_LENGTH) return { text, marks };
  const first = marks[0]?.[0] ?? 0;
  let start = Math.max(0, first - SNIPPET_LENGTH / 3);
  // Never cut a surrogate pair.
  if (start > 0 && /[\uDC00-\uDFFF]/.test(text[start]!)) start--;
  let end = Math.min(text.length, start + SNIPPET_LENGTH);
  if (end < text.length && /[\uDC00-\uDFFF]/.test(text[end]!)) end++;
  const prefix = start > 0 ? "…" : "";
  const cut = prefix + text.slice(start, end) + (end < text.length ? "…" : "");
  const shift = prefix.length - start;
  return {
    text: cut,
    marks: marks.filter(([s, e]) => s >= start && e <= end).map(([s, e]): [number, number] => [s + shift, e + shift]),
  };
};
