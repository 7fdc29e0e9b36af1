/**
 * Identity for routes that opt in: `{ auth: true }` resolves the signed-in
 * session from the signed cookie once per request (and once per WebSocket
 * upgrade) or answers 401 and clears the cookie; `{ session: true }` resolves
 * it when present. `{ sameOrigin: true }` refuses cross-site requests (403).
 *
 * Cookie signing itself is configured on the root instance (see app.ts):
 * configured on a plugin it is silently ignored.
 */
import { Elysia } from "elysia";
import { apiError, SESSION_COOKIE } from "../http/errors";
import { isOriginAllowed } from "../http/origin";
import type { Sessions } from "./sessions";

export const authPlugin = (sessions: Sessions, allowedOrigins: ReadonlySet<string>) =>
  new Elysia({ name: "auth.session", seed: sessions.instanceId }).macro({
    auth: {
      async resolve({ cookie, status }) {
        const jar = cookie[SESSION_COOKIE]!;
        const session = await sessions.resolve(typeof jar.value === "string" ? jar.value : undefined);
        if (!session) {
          if (jar.value !== undefined) jar.remove();
          return status(401, apiError(401, "not_signed_in", "Not signed in (or the session ended); sign in again"));
        }
        sessions.touch(session);
        return { session };
      },
    },
    session: {
      async resolve({ cookie }) {
        const jar = cookie[SESSION_COOKIE]!;
        const session = await sessions.resolve(typeof jar.value === "string" ? jar.value : undefined);
        if (session) sessions.touch(session);
        else if (jar.value !== undefined) jar.remove();
        return { session };
      },
    },
    sameOrigin: {
      beforeHandle({ request, status }) {
        if (!isOriginAllowed(request, allowedOrigins))
          return status(403, apiError(403, "forbidden_origin", "Cross-site request refused"));
      },
    },
  });
