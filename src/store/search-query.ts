/**
 * A search plan (domain/search.ts) in each engine's own query language: an FTS5 MATCH expression
 * for SQLite, a tsquery for PostgreSQL; and a message's tokens as a PostgreSQL tsvector. Tokens are
 * always quoted: nothing a person types is read as query syntax.
 */
import type { IndexTokens, SearchPlan } from "../domain/search";

const ftsString = (text: string): string => `"${text.replaceAll('"', '""')}"`;

/** The FTS5 expression over `message_index(stream, chars, facts)`: every term ANDed. */
export const fts5Match = (plan: SearchPlan): string =>
  [
    ...plan.terms.map((term) =>
      term.kind === "phrase"
        ? `stream : ${ftsString(term.tokens.join(" "))}`
        : term.kind === "prefix"
          ? `stream : ${ftsString(term.token)} *`
          : `chars : ${ftsString(term.token)}`,
    ),
    ...plan.filters.facts.map((fact) => `facts : ${ftsString(fact)}`),
  ].join(" AND ");

/** A lexeme quoted for tsvector and tsquery input (no normalisation: the tokens are already folded). */
const lexeme = (text: string): string => `'${text.replaceAll("\\", "\\\\").replaceAll("'", "''")}'`;

/** Lexemes of single characters and facts are kept apart from the stream's by a prefix. */
const CHAR = "c:";
const FACT = "f:";
/** The highest position a tsvector keeps. */
const MAX_POSITION = 16383;

/** The tsvector of a message's tokens: the stream with positions (phrases), characters and facts without. */
export const tsvectorOf = (tokens: IndexTokens): string => {
  const positions = new Map<string, number[]>();
  tokens.stream.forEach((token, index) => {
    const at = Math.min(index + 1, MAX_POSITION);
    const list = positions.get(token);
    if (list) list.push(at);
    else positions.set(token, [at]);
  });
  return [
    ...[...positions].map(([token, at]) => `${lexeme(token)}:${[...new Set(at)].join(",")}`),
    ...tokens.chars.map((char) => lexeme(CHAR + char)),
    ...tokens.facts.map((fact) => lexeme(FACT + fact)),
  ].join(" ");
};

/** The tsquery of a plan: phrases with <->, the last word as a prefix, every term ANDed. */
export const tsqueryOf = (plan: SearchPlan): string =>
  [
    ...plan.terms.map((term) =>
      term.kind === "phrase"
        ? `(${term.tokens.map(lexeme).join(" <-> ")})`
        : term.kind === "prefix"
          ? `${lexeme(term.token)}:*`
          : lexeme(CHAR + term.token),
    ),
    ...plan.filters.facts.map((fact) => lexeme(FACT + fact)),
  ].join(" & ");
