/**
 * A search plan (domain/search.ts) in each engine's own query language: an FTS5 MATCH expression
 * for SQLite, a tsquery for PostgreSQL; and a message's tokens as a PostgreSQL tsvector. Tokens are
 * always quoted: nothing a person types is read as query syntax.
 */
import type { IndexTokens, SearchPlan } from "../domain/search";
import { showsInline } from "../domain/files";

const ftsString = (text: string): string => `"${text.replaceAll('"', '""')}"`;

/** A message's conversation, as an index token of its own (`facts`): a search matches inside its scope only. */
export const conversationToken = (conversationId: number): string => `k${conversationId}`;

/**
 * The FTS5 expression over `message_index(stream, chars, facts)`: every term ANDed, within the
 * conversations given (their tokens ORed), so the index never even looks at another conversation's.
 */
export const fts5Match = (plan: SearchPlan, conversationIds: readonly number[]): string =>
  [
    `facts : (${conversationIds.map((id) => ftsString(conversationToken(id))).join(" OR ")})`,
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

/**
 * Lexemes of single characters, facts and conversations are kept apart from the stream's by a prefix
 * no stream token has (those are letters and digits only): a prefix query never reaches them.
 */
const CHAR = "#c:";
const FACT = "#f:";
/** The highest position a tsvector keeps. */
const MAX_POSITION = 16383;

/** The tsvector of a message's tokens: the stream with positions (phrases), characters and facts without. */
export const tsvectorOf = (tokens: IndexTokens, conversationId: number): string => {
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
    lexeme(FACT + conversationToken(conversationId)),
  ].join(" ");
};

/** The tsquery of a plan: phrases with <->, the last word as a prefix, every term ANDed, within the conversations given. */
export const tsqueryOf = (plan: SearchPlan, conversationIds: readonly number[]): string =>
  [
    `(${conversationIds.map((id) => lexeme(FACT + conversationToken(id))).join(" | ")})`,
    ...plan.terms.map((term) =>
      term.kind === "phrase"
        ? `(${term.tokens.map(lexeme).join(" <-> ")})`
        : term.kind === "prefix"
          ? `${lexeme(term.token)}:*`
          : lexeme(CHAR + term.token),
    ),
    ...plan.filters.facts.map((fact) => lexeme(FACT + fact)),
  ].join(" & ");

/** What indexing reads of a message's row besides its id: the text, the conversation, and its file. */
export interface IndexRow {
  body: string;
  conversation_id: number;
  file_name: string | null;
  file_type: string | null;
  file_width: number | null;
  file_height: number | null;
}
/** The columns of IndexRow but the conversation's (a message's text and its file: a name is found like a caption). */
export const INDEXED_TEXT = "body, file_name, file_type, file_width, file_height";
/** The file a row's index tokens include (its name, and whether it is an image), if it has one. */
export const indexedFile = (row: IndexRow): { name: string; inline: boolean } | undefined =>
  row.file_name === null
    ? undefined
    : { name: row.file_name, inline: showsInline(row.file_type!, row.file_width, row.file_height) };
