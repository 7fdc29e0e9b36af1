/**
 * The HTTP side of the protocol: sign in (a guest name, or a name and a
 * password), register, who am I, sign out (here or everywhere). Same-origin
 * fetches, so the browser sends and stores the HttpOnly session cookie itself.
 */
import { Check } from "@sinclair/typebox/value";
import { ApiError, ApiOk, User, type ServerRole } from "../../protocol";

export type SignInResult =
  | { ok: true; user: User }
  /** `retryAfter`: seconds, from a 429's Retry-After. */
  | { ok: false; error: string; message: string; retryAfter?: number };
/** `unreachable`: network error or 5xx — the server is down, not the session. `name-lost`: pick another name. */
export type WhoAmI =
  | { state: "signed-in"; user: User; role: ServerRole }
  | { state: "signed-out" }
  | { state: "name-lost" }
  | { state: "unreachable" };

const json = async (response: Response): Promise<unknown> => {
  try {
    return await response.json();
  } catch {
    return undefined;
  }
};

const post = async (path: string, body?: unknown): Promise<SignInResult> => {
  let response: Response;
  try {
    response = await fetch(path, {
      method: "POST",
      ...(body === undefined ? {} : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
    });
  } catch {
    return { ok: false, error: "network", message: "" };
  }
  const answer = await json(response);
  if (response.ok && Check(ApiOk, answer) && answer.user) return { ok: true, user: answer.user };
  if (Check(ApiError, answer)) {
    const retryAfter = Number(response.headers.get("retry-after"));
    return {
      ok: false,
      error: answer.error,
      message: answer.data,
      ...(Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfter } : {}),
    };
  }
  return { ok: false, error: "network", message: `HTTP ${response.status}` };
};

/** Guest sign-in with a name; with a password, sign-in to the registered account of that name. */
export const signIn = (name: string, password?: string): Promise<SignInResult> =>
  post("/wsin", password === undefined ? { name } : { name, password });

/**
 * Registers a name with a password (a signed-in guest is upgraded in place: same account); `invite`:
 * a server invite link's token (needed while sign-up is invite-only).
 */
export const signUp = (name: string, password: string, invite?: string): Promise<SignInResult> =>
  post("/signup", invite === undefined ? { name, password } : { name, password, invite });

export const whoAmI = async (): Promise<WhoAmI> => {
  try {
    const response = await fetch("/wsme", { cache: "no-store" });
    if (response.status === 401) {
      const body = await json(response);
      return Check(ApiError, body) && body.error === "name_lost" ? { state: "name-lost" } : { state: "signed-out" };
    }
    const body = await json(response);
    if (response.ok && Check(ApiOk, body) && body.user)
      return { state: "signed-in", user: body.user, role: body.role ?? body.user.type };
    return { state: "unreachable" };
  } catch {
    return { state: "unreachable" };
  }
};

/**
 * Ends this session, or (`everywhere`) every session of the account. `network`: the server could not be
 * reached (the cookie stays, but the next sign-in replaces the session); another error: nothing changed.
 */
export const signOut = async (
  everywhere = false,
): Promise<{ ok: true } | { ok: false; error: string; message: string }> => {
  let response: Response;
  try {
    response = await fetch(everywhere ? "/wsout?everywhere=1" : "/wsout", { method: "POST" });
  } catch {
    return { ok: false, error: "network", message: "" };
  }
  if (response.ok) return { ok: true };
  const body = await json(response);
  return Check(ApiError, body)
    ? { ok: false, error: body.error, message: body.data }
    : { ok: false, error: "unavailable", message: `HTTP ${response.status}` };
};

export type Answer = { ok: true; body: Record<string, unknown> } | { ok: false; error: string; message: string };

/**
 * One JSON request of the API (the admin page, reports, password resets): the answer's body, or its
 * error (`network`: the server could not be reached).
 */
export const request = async (method: string, path: string, body?: unknown): Promise<Answer> => {
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      cache: "no-store",
      ...(body === undefined ? {} : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
    });
  } catch {
    return { ok: false, error: "network", message: "" };
  }
  const answer = await json(response);
  if (response.ok && typeof answer === "object" && answer !== null)
    return { ok: true, body: answer as Record<string, unknown> };
  if (Check(ApiError, answer)) return { ok: false, error: answer.error, message: answer.data };
  return { ok: false, error: "unavailable", message: `HTTP ${response.status}` };
};
