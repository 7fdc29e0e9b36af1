/**
 * Rules about what a message's text says, shared by the server and the page: one emoji (a reaction),
 * the `@name`s that may be mentions, and the length of a text as the server counts it.
 */
import { NAME_MAX_LENGTH } from "./names";

const RGI_EMOJI = /^\p{RGI_Emoji}$/v;

/**
 * The emoji as reactions keep it, or undefined when `text` is not exactly one emoji: one RGI emoji
 * (ZWJ sequences, skin tones, flags, keycaps and tag sequences included); a pictograph without its
 * emoji presentation selector (❤) is taken with it (❤️).
 */
export const oneEmoji = (text: string): string | undefined => {
  if (RGI_EMOJI.test(text)) return text;
  const presented = `${text}\uFE0F`;
  return RGI_EMOJI.test(presented) ? presented : undefined;
};

/** Characters of a text as the server counts them (code points), after trimming. */
export const textLength = (text: string): number => {
  const trimmed = text.trim();
  let n = 0;
  for (const _ of trimmed) n++;
  return n;
};

/** Where a name may end: white space, and punctuation other than what names often hold (`_ - . '`). */
const NAME_BREAK = /[\s\p{P}\p{S}]/u;
const KEEP_IN_NAME = /[_\-.'·]/u;

const CJK = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/u;

/**
 * The candidate names after each `@` of a text (one that starts it or follows white space or
 * punctuation): the prefixes of what follows, up to NAME_MAX_LENGTH characters, that end where a name
 * can end — before white space, punctuation or the end, or between two CJK characters (Chinese has no
 * spaces: "@张三你好" may mean 张三), never inside a Latin word ("@annabel" is not "ann"). The
 * longest candidate that is a member's name is the mention. At most `maxMentions` `@`s are read.
 */
export const mentionCandidates = (text: string, maxMentions: number): string[][] => {
  const found: string[][] = [];
  const chars = [...text];
  for (let at = 0; at < chars.length && found.length < maxMentions; at++) {
    if (chars[at] !== "@") continue;
    const before = chars[at - 1];
    if (before !== undefined && !/[\s\p{P}\p{S}]/u.test(before)) continue;
    const candidates: string[] = [];
    let name = "";
    for (let i = at + 1; i < chars.length && [...name].length < NAME_MAX_LENGTH; i++) {
      const char = chars[i]!;
      if (NAME_BREAK.test(char) && !KEEP_IN_NAME.test(char) && char !== " ") break;
      // A space may be inside a name ("Li Lei"), never at its end.
      if (char === " " && (name.endsWith(" ") || name.length === 0)) break;
      name += char;
      const next = chars[i + 1];
      const ends = next === undefined || next === " " || NAME_BREAK.test(next) || (CJK.test(char) && CJK.test(next));
      if (char !== " " && ends) candidates.push(name);
    }
    if (candidates.length > 0) found.push(candidates.reverse());
  }
  return found;
};
