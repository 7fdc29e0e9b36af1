/**
 * The HTTP side of the protocol: sign in, who am I, sign out. Same-origin
 * fetches, so the browser sends and stores the HttpOnly session cookie itself.
 */
import { Check } from "@sinclair/typebox/value";
import { ApiError, ApiOk, User } from "../../protocol";

export type SignInResult = { ok: true; user: User } | { ok: false; error: string; message: string };
/** `unreachable`: network error or 5xx — the server is down, not the session. */
export type WhoAmI = { state: "signed-in"; user: User } | { state: "signed-out" } | { state: "unreachable" };

const json = async (response: Response): Promise<unknown> => {
  try {
    return await response.json();
  } catch {
    return undefined;
  }
};

export const signIn = async (name: string): Promise<SignInResult> => {
  let response: Response;
  try {
    response = await fetch("/wsin", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name }),
    });
  } catch {
    return { ok: false, error: "network", message: "" };
  }
  const body = await json(response);
  if (response.ok && Check(ApiOk, body) && body.user) return { ok: true, user: body.user };
  if (Check(ApiError, body)) return { ok: false, error: body.error, message: body.data };
  return { ok: false, error: "network", message: `HTTP ${response.status}` };
};

export const whoAmI = async (): Promise<WhoAmI> => {
  try {
    const response = await fetch("/wsme", { cache: "no-store" });
    if (response.status === 401) return { state: "signed-out" };
    const body = await json(response);
    if (response.ok && Check(ApiOk, body) && body.user) return { state: "signed-in", user: body.user };
    return { state: "unreachable" };
  } catch {
    return { state: "unreachable" };
  }
};

export const signOut = async (): Promise<void> => {
  try {
    await fetch("/wsout", { method: "POST" });
  } catch {
    // Offline: the cookie stays, but the view still returns to sign-in; the next sign-in replaces the session.
  }
};
