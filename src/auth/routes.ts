/**
 * Sign-in, sign-up and sign-out over HTTP: `POST /wsin` (the tutorial's
 * route: a guest name, or a name and password), `POST /signup`,
 * `GET|POST /wsout` (`?everywhere=1`: every session of the account), and
 * `GET /wsme` for "who am I". The use cases are in services/accounts.ts.
 */
import { Elysia } from "elysia";
import { SignInBody, SignUpBody } from "../protocol";
import { apiError, DEVICE_COOKIE, SESSION_COOKIE } from "../http/errors";
import { authPlugin } from "./plugin";
import type { AccountService, AuthSession, Failure, Outcome } from "../services/accounts";
import { limitKey } from "../security/client-ip";
import { resolveClient } from "../http/client";
import type { RateLimit } from "../security/rate";
import type { Logger } from "../log";
import type { ServerRole } from "../domain/policy";

export interface AuthRoutesDeps {
  accounts: AccountService;
  allowedOrigins: ReadonlySet<string>;
  cookieSecure: boolean;
  /** Closes the sockets of ended sessions (with 4002), on every instance. */
  closeSessions: (sids: readonly string[]) => void;
  /** A signed-in account changed its name: its sockets show the new one. */
  renamed: (session: AuthSession) => void;
  /** The account's server role (owner, admin, member, guest), told by `/wsme`: the page shows admins their page. */
  roleOf: (account: AuthSession["account"]) => Promise<ServerRole>;
  /** Sign-in attempts per client address (limitKey). */
  signInLimiter: RateLimit<string>;
  /** Peers whose X-Forwarded-For is believed (TRUST_PROXY). */
  trustedProxies: ReadonlySet<string>;
  log: Logger;
}

/** The identity cookie lives this long in the browser; the server decides whether the session is still valid. */
const COOKIE_MAX_AGE_S = 30 * 24 * 3600;
/** The device cookie: a year. */
const DEVICE_MAX_AGE_S = 365 * 24 * 3600;

type Jar = Record<string, { value: unknown; set(options: object): void; remove(): void }>;

export const authRoutes = ({
  accounts,
  allowedOrigins,
  cookieSecure,
  closeSessions,
  renamed,
  roleOf,
  signInLimiter,
  trustedProxies,
  log,
}: AuthRoutesDeps) => {
  /** Sets a signed cookie (both of these are: the session id and the device id). */
  const setCookie = (cookie: Jar, name: string, value: string, maxAge: number) =>
    cookie[name]!.set({
      value: accounts.cookies.sign(value),
      httpOnly: true,
      sameSite: "lax",
      path: "/",
      secure: cookieSecure,
      maxAge,
    });
  /** This browser's device id, made on its first sign-in (`fresh`: to be set, after the session cookie). */
  const deviceOf = (device: string | undefined): { id: string; fresh: boolean } =>
    device && /^[0-9a-f-]{36}$/.test(device) ? { id: device, fresh: false } : { id: crypto.randomUUID(), fresh: true };
  const keepDevice = (cookie: Jar, device: { id: string; fresh: boolean }) => {
    if (device.fresh) setCookie(cookie, DEVICE_COOKIE, device.id, DEVICE_MAX_AGE_S);
  };
  /** Every attempt counts, failed or not: guessing names or minting sessions in bulk is what is limited. */
  const overLimit = async (
    request: Request,
    server: { requestIP(r: Request): { address: string } | null } | null,
  ): Promise<number> => {
    const client = limitKey(resolveClient(request.headers, server?.requestIP(request)?.address, trustedProxies).ip);
    const retryMs = await signInLimiter.take(client);
    if (retryMs > 0) log.info("signin.rate_limited", { client });
    return retryMs;
  };
  const refused = (
    failure: Failure,
    status: (code: number, body: unknown) => unknown,
    set: { headers: Record<string, string | number> },
  ) => {
    if (failure.retryAfterSeconds !== undefined) set.headers["retry-after"] = String(failure.retryAfterSeconds);
    return status(failure.status, apiError(failure.status, failure.error, failure.message));
  };
  /** Switches this browser to a new session (the one it had ends, and its sockets close). */
  const signedIn = async (cookie: Jar, previous: AuthSession | undefined, next: AuthSession) => {
    if (previous && previous.sid !== next.sid) {
      await accounts.signOut(previous.sid);
      closeSessions([previous.sid]);
    }
    // The account may be online elsewhere (another tab, another device) under its old name or kind.
    renamed(next);
    setCookie(cookie, SESSION_COOKIE, next.sid, COOKIE_MAX_AGE_S);
    return { code: 0 as const, data: `Signed in as ${next.user.name}`, user: next.user };
  };
  /**
   * Ends this session (or all of the account's): recorded first, then the cookie goes and the
   * sockets close. If the store cannot record it, nothing changes and the answer says so (503).
   */
  const signOut = async (
    session: AuthSession | undefined,
    cookie: Jar,
    everywhere: boolean,
    status: (code: number, body: unknown) => unknown,
  ) => {
    if (session) {
      let sids: string[];
      try {
        sids = everywhere ? await accounts.signOutEverywhere(session.account.id) : [session.sid];
        if (!everywhere) await accounts.signOut(session.sid);
      } catch (error) {
        log.error("signout.failed", { error: String((error as Error)?.message ?? error) });
        return status(503, apiError(503, "unavailable", "Could not sign out (the store is unavailable); try again"));
      }
      closeSessions(sids);
    }
    cookie[SESSION_COOKIE]!.remove();
    return undefined;
  };
  /**
   * One sign-in attempt (`/wsin` or `/signup`): rate-limited per address, then the use case with this
   * browser's device id; a success switches the browser to the new session. The device cookie is set
   * after the session cookie, whatever the outcome, so the browser keeps one id.
   */
  const attempt = async (
    context: {
      cookie: unknown;
      session: AuthSession | undefined;
      device: string | undefined;
      request: Request;
      server: { requestIP(r: Request): { address: string } | null } | null;
      set: { headers: Record<string, string | number> };
      status: (code: number, body: unknown) => unknown;
    },
    run: (deviceId: string, address: string) => Promise<Outcome<{ session: AuthSession }>>,
  ) => {
    const { session, request, server, set, status } = context;
    const retryMs = await overLimit(request, server);
    if (retryMs > 0) {
      set.headers["retry-after"] = String(Math.ceil(retryMs / 1000));
      return status(429, apiError(429, "rate_limited", "Too many sign-in attempts; try again later"));
    }
    const jar = context.cookie as Jar;
    const browser = deviceOf(context.device);
    const address = resolveClient(request.headers, server?.requestIP(request)?.address, trustedProxies).ip;
    const outcome = await run(browser.id, address);
    const answer = outcome.ok ? await signedIn(jar, session, outcome.session) : refused(outcome, status, set);
    keepDevice(jar, browser);
    return answer;
  };
  return new Elysia({ name: "auth.routes", seed: accounts.instanceId })
    .use(authPlugin(accounts, allowedOrigins))
    .post(
      "/wsin",
      (context) =>
        attempt(context, (device, address) =>
          context.body?.password !== undefined
            ? accounts.signInPassword(context.body.name ?? "", context.body.password, device, address)
            : accounts.signInGuest(context.body?.name, device, context.session, address),
        ),
      { body: SignInBody, session: true, sameOrigin: true },
    )
    .post(
      "/signup",
      (context) =>
        attempt(context, (device, address) =>
          accounts.signUp(
            context.body.name,
            context.body.password,
            device,
            context.session,
            address,
            context.body.invite,
          ),
        ),
      { body: SignUpBody, session: true, sameOrigin: true },
    )
    .get(
      "/wsme",
      async ({ session }) => ({
        code: 0 as const,
        data: "Signed in",
        user: session.user,
        role: await roleOf(session.account),
      }),
      { auth: true },
    )
    .get(
      "/wsout",
      async ({ cookie, session, request, redirect, status }) => {
        const failed = await signOut(session, cookie as unknown as Jar, false, status);
        if (failed) return failed;
        // A link or the address bar: back to the page; fetch(): JSON.
        if (request.headers.get("accept")?.includes("text/html")) return redirect("/", 303);
        return { code: 0 as const, data: "Signed out" };
      },
      { session: true, sameOrigin: true },
    )
    .post(
      "/wsout",
      async ({ cookie, session, query, status }) => {
        const everywhere = query.everywhere === "1" || query.everywhere === "true";
        const failed = await signOut(session, cookie as unknown as Jar, everywhere, status);
        if (failed) return failed;
        return { code: 0 as const, data: everywhere ? "Signed out everywhere" : "Signed out" };
      },
      { session: true, sameOrigin: true },
    );
};
