/**
 * Identity for routes that opt in: `{ auth: true }` resolves the signed-in
 * session from the signed cookie once per request (and once per WebSocket
 * upgrade) or answers 401 and clears the cookie; `{ session: true }` resolves
 * it when present. `{ sameOrigin: true }` refuses cross-site requests (403).
 * The device cookie (a random id, signed, kept across sign-outs) lets a
 * browser get its guest account back.
 *
 * Cookie signing itself is configured on the root instance (see app.ts):
 * configured on a plugin it is silently ignored.
 */
import { Elysia } from "elysia";
import { apiError, DEVICE_COOKIE, SESSION_COOKIE } from "../http/errors";
import { isOriginAllowed } from "../http/origin";
import type { AccountService } from "../services/accounts";

export const authPlugin = (accounts: AccountService, allowedOrigins: ReadonlySet<string>) =>
  new Elysia({ name: "auth.session", seed: accounts.instanceId }).macro({
    auth: {
      async resolve({ cookie, status }) {
        const jar = cookie[SESSION_COOKIE]!;
        const session = await accounts.resolve(typeof jar.value === "string" ? jar.value : undefined);
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
      async resolve({ cookie }) {
        const jar = cookie[SESSION_COOKIE]!;
        const session = await accounts.resolve(typeof jar.value === "string" ? jar.value : undefined);
        if (!session && jar.value !== undefined) jar.remove();
        const device = cookie[DEVICE_COOKIE]!;
        return { session, device: typeof device.value === "string" ? device.value : undefined };
      },
    },
    sameOrigin: {
      beforeHandle({ request, status }) {
        if (!isOriginAllowed(request, allowedOrigins))
          return status(403, apiError(403, "forbidden_origin", "Cross-site request refused"));
      },
    },
  });
