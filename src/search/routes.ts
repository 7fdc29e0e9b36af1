/**
 * `GET /search?q=…&before=<message id>`: the signed-in account's search (services/search.ts), as
 * JSON. A malformed query is a 400 with the reason; `in:` a room the account is not in, 403; too
 * many searches, 429 with Retry-After.
 */
import { Elysia, t } from "elysia";
import { apiError } from "../http/errors";
import { authPlugin } from "../auth/plugin";
import type { AccountService } from "../services/accounts";
import type { SearchService } from "../services/search";

export const searchRoutes = (accounts: AccountService, allowedOrigins: ReadonlySet<string>, search: SearchService) =>
  new Elysia({ name: "search.routes" }).use(authPlugin(accounts, allowedOrigins)).get(
    "/search",
    async ({ session, query, status, set }) => {
      const before = query.before === undefined ? undefined : Number(query.before);
      if (before !== undefined && (!Number.isSafeInteger(before) || before < 1))
        return status(400, apiError(400, "invalid_query", "before: a message id"));
      const outcome = await search.search(session.account.id, query.q ?? "", before);
      if (!outcome.ok) {
        if (outcome.retryMs !== undefined) set.headers["retry-after"] = String(Math.ceil(outcome.retryMs / 1000));
        return status(outcome.status, apiError(outcome.status, outcome.error, outcome.message));
      }
      set.headers["cache-control"] = "no-store";
      return {
        code: 0 as const,
        data: outcome.hits,
        ...(outcome.next === undefined ? {} : { next: outcome.next }),
      };
    },
    { auth: true, query: t.Object({ q: t.Optional(t.String()), before: t.Optional(t.String()) }) },
  );
