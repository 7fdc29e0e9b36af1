/**
 * Identity for routes that opt in: `{ auth: true }` resolves the signed-in
 * session from the signed cookie once per request (and once per WebSocket
 * upgrade) or answers 401 and clears the cookie; `{ session: true }` resolves
 * it when present. `{ sameOrigin: true }` refuses cross-site requests (403).
 * The device cookie (a random id, signed, kept across sign-outs) lets a
 * browser get its guest account back.
 *
 * The session and device cookies are signed (security/signing.ts): a session cookie whose signature
 * is wrong gets 401 `invalid_session` and is cleared; a device cookie whose signature is wrong counts
 * as none (sign-in gives the browser a new one).
 */
import { Elysia } from "elysia";
import { apiError, DEVICE_COOKIE, SESSION_COOKIE } from "../http/errors";
import { isOriginAllowed } from "../http/origin";
import type { AccountService } from "../services/accounts";

/** A session cookie with a wrong signature: refused, and the browser told to forget it. */
const INVALID_SESSION = apiError(401, "invalid_session", "The session cookie is not valid; sign in again");

export const authPlugin = (accounts: AccountService, allowedOrigins: ReadonlySet<string>) =>
  new Elysia({ name: "auth.session", seed: accounts.instanceId }).macro({
    auth: {
      async resolve({ cookie, status }) {
        const jar = cookie[SESSION_COOKIE]!;
        const sid = accounts.cookies.verify(jar.value);
        if (sid === false) {
          jar.remove();
          return status(401, INVALID_SESSION);
        }
        const session = await accounts.resolve(sid);
        if (!session) {
          if (jar.value !== undefined) jar.remove();
          return status(401, apiError(401, "not_signed_in", "Not signed in (or the session ended); sign in again"));
        }
        if (session.nameLost)
          return status(
            401,
            apiError(401, "name_lost", `Someone else has the name "${session.account.name}" now; pick another`),
          );
        return { session };
      },
    },
    session: {
      async resolve({ cookie, status }) {
        const jar = cookie[SESSION_COOKIE]!;
        const sid = accounts.cookies.verify(jar.value);
        if (sid === false) {
          jar.remove();
          return status(401, INVALID_SESSION);
        }
        const session = await accounts.resolve(sid);
        if (!session && jar.value !== undefined) jar.remove();
        return { session, device: accounts.cookies.verify(cookie[DEVICE_COOKIE]!.value) || undefined };
      },
    },
    sameOrigin: {
      beforeHandle({ request, status }) {
        if (!isOriginAllowed(request, allowedOrigins))
          return status(403, apiError(403, "forbidden_origin", "Cross-site request refused"));
      },
    },
  });
