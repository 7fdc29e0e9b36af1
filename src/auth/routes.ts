/**
 * Sign-in and sign-out over HTTP (the tutorial's routes): `POST /wsin`,
 * `GET|POST /wsout`, and `GET /wsme` for "who am I".
 */
import { Elysia } from "elysia";
import { SignInBody } from "../protocol";
import { apiError, SESSION_COOKIE } from "../http/errors";
import { authPlugin } from "./plugin";
import { checkName, nameKey } from "./names";
import type { Session, Sessions } from "./sessions";
import { limitKey } from "../security/client-ip";
import { resolveClient } from "../http/client";
import type { KeyedRateLimiter } from "../security/rate";
import type { Logger } from "../log";

export interface AuthRoutesDeps {
  sessions: Sessions;
  allowedOrigins: ReadonlySet<string>;
  cookieSecure: boolean;
  /** Called when a session ends by sign-out or by signing in anew: close its sockets. */
  onSessionEnded: (session: Session) => void;
  /** Sign-in attempts per client address (limitKey). */
  signInLimiter: KeyedRateLimiter<string>;
  /** Peers whose X-Forwarded-For is believed (TRUST_PROXY). */
  trustedProxies: ReadonlySet<string>;
  log: Logger;
}

/** The identity cookie lives this long in the browser; the server decides whether the session is still valid. */
const COOKIE_MAX_AGE_S = 30 * 24 * 3600;

export const authRoutes = ({
  sessions,
  allowedOrigins,
  cookieSecure,
  onSessionEnded,
  signInLimiter,
  trustedProxies,
  log,
}: AuthRoutesDeps) => {
  const signOut = async (session: Session | undefined, jar: { remove(): void }): Promise<void> => {
    jar.remove();
    if (!session) return;
    await sessions.end(session.sid);
    onSessionEnded(session);
  };
  return new Elysia({ name: "auth.routes", seed: sessions.instanceId })
    .use(authPlugin(sessions, allowedOrigins))
    .post(
      "/wsin",
      async ({ body, cookie, session, status, request, server, set }) => {
        // Every attempt counts, failed or not: guessing names or minting sessions in bulk is what is limited.
        const client = limitKey(resolveClient(request.headers, server?.requestIP(request)?.address, trustedProxies).ip);
        const retryMs = signInLimiter.take(client);
        if (retryMs > 0) {
          log.info("signin.rate_limited", { client });
          set.headers["retry-after"] = String(Math.ceil(retryMs / 1000));
          return status(429, apiError(429, "rate_limited", "Too many sign-in attempts; try again later"));
        }
        const requested =
          body?.name === undefined || body.name.trim() === "" ? await sessions.offerGuestName(nameKey) : body.name;
        const check = checkName(requested);
        if (!check.ok) return status(400, apiError(400, check.error, check.message));
        // Signing in again replaces this browser's current session — only once the new one exists,
        // so a refused name leaves the current session as it was. Keeping one's own name frees it first.
        if (session && session.nameKey === check.key) await signOut(session, { remove() {} });
        const created = await sessions.create(check.name, check.key);
        if (!created.ok)
          return status(409, apiError(409, "name_taken", `The name "${check.name}" is in use; pick another`));
        if (session && !session.ended) await signOut(session, { remove() {} });
        cookie[SESSION_COOKIE]!.set({
          value: created.session.sid,
          httpOnly: true,
          sameSite: "lax",
          path: "/",
          secure: cookieSecure,
          maxAge: COOKIE_MAX_AGE_S,
        });
        return { code: 0 as const, data: `Signed in as ${check.name}`, user: created.session.user };
      },
      { body: SignInBody, session: true, sameOrigin: true },
    )
    .get("/wsme", ({ session }) => ({ code: 0 as const, data: "Signed in", user: session.user }), { auth: true })
    .get(
      "/wsout",
      async ({ cookie, session, request, redirect }) => {
        await signOut(session, cookie[SESSION_COOKIE]!);
        // A link or the address bar: back to the page; fetch(): JSON.
        if (request.headers.get("accept")?.includes("text/html")) return redirect("/", 303);
        return { code: 0 as const, data: "Signed out" };
      },
      { session: true, sameOrigin: true },
    )
    .post(
      "/wsout",
      async ({ cookie, session }) => {
        await signOut(session, cookie[SESSION_COOKIE]!);
        return { code: 0 as const, data: "Signed out" };
      },
      { session: true, sameOrigin: true },
    );
};
