/**
 * Web Push over HTTP: `GET /push/key` answers the server's VAPID public key (what a browser's
 * `pushManager.subscribe` needs as `applicationServerKey`); `POST /push/subscribe` keeps the browser's
 * PushSubscription JSON for the signed-in session (a repeat with the same endpoint replaces it);
 * `DELETE /push/subscribe` with `{endpoint}` removes it. Both need the session cookie and a
 * same-origin request. (The service worker showing the pushes is `/sw.js`, with the page: web/routes.ts.)
 */
import { createPublicKey } from "node:crypto";
import { Elysia } from "elysia";
import { Value } from "@sinclair/typebox/value";
import { authPlugin } from "../auth/plugin";
import { apiError } from "../http/errors";
import type { Store, VapidKeys } from "../ports/store";
import { PushSubscriptionBody, PushUnsubscribeBody } from "../protocol";
import type { AccountService } from "../services/accounts";
import { MAX_SUBSCRIPTIONS_PER_ACCOUNT } from "../services/push";
import type { RateLimit } from "../security/rate";
import { endpointProblem } from "./endpoint";

/** Whether 65 bytes are a point of P-256 (a key web-push could encrypt for). */
const onCurve = (raw: Buffer): boolean => {
  try {
    createPublicKey({
      key: {
        kty: "EC",
        crv: "P-256",
        x: raw.subarray(1, 33).toString("base64url"),
        y: raw.subarray(33).toString("base64url"),
      },
      format: "jwk",
    });
    return true;
  } catch {
    return false;
  }
};

const bytesOf = (base64url: string): number => Buffer.from(base64url, "base64url").length;

/** Why a subscription body is refused (undefined: it is taken). */
const subscriptionProblem = (body: unknown, allowPrivate: boolean): string | undefined => {
  if (!Value.Check(PushSubscriptionBody, body))
    return "expected a PushSubscription as JSON: {endpoint, keys: {p256dh, auth}}";
  const problem = endpointProblem(body.endpoint, allowPrivate);
  if (problem) return problem;
  const key = Buffer.from(body.keys.p256dh, "base64url");
  if (key.length !== 65 || key[0] !== 4 || !onCurve(key))
    return "keys.p256dh must be an uncompressed P-256 public key (65 bytes)";
  if (bytesOf(body.keys.auth) !== 16) return "keys.auth must be 16 bytes";
  return undefined;
};

export const pushRoutes = (
  accounts: AccountService,
  allowedOrigins: ReadonlySet<string>,
  deps: {
    store: Store;
    vapid: () => Promise<VapidKeys>;
    allowPrivate: boolean;
    /** Subscription changes per account. */
    limiter: RateLimit<number>;
  },
) =>
  new Elysia({ name: "push.routes" })
    .use(authPlugin(accounts, allowedOrigins))
    .get("/push/key", async ({ set }) => {
      set.headers["cache-control"] = "no-cache";
      return { code: 0 as const, data: (await deps.vapid()).publicKey };
    })
    .post(
      "/push/subscribe",
      async ({ session, body, status, set }) => {
        const problem = subscriptionProblem(body, deps.allowPrivate);
        if (problem) return status(400, apiError(400, "invalid_subscription", problem));
        const wait = await deps.limiter.take(session.account.id);
        if (wait > 0) {
          set.headers["retry-after"] = String(Math.ceil(wait / 1000));
          return status(429, apiError(429, "rate_limited", "Too many subscription changes; try again later"));
        }
        const { endpoint, keys } = body as PushSubscriptionBody;
        const saved = await deps.store.savePushSubscription(
          session.sid,
          session.account.id,
          { endpoint, p256dh: keys.p256dh, auth: keys.auth },
          Date.now(),
          MAX_SUBSCRIPTIONS_PER_ACCOUNT,
        );
        if (!saved)
          return status(409, apiError(409, "subscription_taken", "Another account is subscribed at that endpoint"));
        return status(201, { code: 0 as const, data: "subscribed" });
      },
      { auth: true, sameOrigin: true, parse: "json" },
    )
    .delete(
      "/push/subscribe",
      async ({ session, body, status }) => {
        if (!Value.Check(PushUnsubscribeBody, body))
          return status(400, apiError(400, "invalid_subscription", "expected {endpoint}"));
        if (!(await deps.store.deletePushSubscription(session.account.id, body.endpoint)))
          return status(404, apiError(404, "not_subscribed", "No subscription of yours at that endpoint"));
        return { code: 0 as const, data: "unsubscribed" };
      },
      { auth: true, sameOrigin: true, parse: "json" },
    );
