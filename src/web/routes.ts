/**
 * The page routes: `GET /` and `GET /ws` (the tutorial's path) render the chat
 * page in the visitor's language; `/static/*` serves the browser assets (see
 * assets.ts) from memory.
 */
import { Elysia } from "elysia";
import { html } from "@elysiajs/html";
import { authPlugin } from "../auth/plugin";
import type { AccountService, AuthSession } from "../services/accounts";
import { apiError } from "../http/errors";
import { contentType, sourceAssets, WORKER_BUNDLE, type AssetLoader } from "./assets";
import { LANG_COOKIE, pickLanguage } from "./i18n";
import { ChatPage } from "./page";

/** Security headers for every page: no inline script or style, no framing. */
const PAGE_HEADERS = {
  "content-security-policy":
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "same-origin",
  "x-frame-options": "DENY",
  // The page embeds who is signed in and a guest name: never cache it.
  "cache-control": "no-store",
  vary: "Accept-Language, Cookie",
};

/** Headers of the service worker: it loads and fetches nothing (its notifications' icon aside). */
const WORKER_HEADERS = {
  "content-security-policy": "default-src 'none'; img-src 'self'",
  "x-content-type-options": "nosniff",
  "cache-control": "no-cache",
};

interface ServedAsset {
  bytes: Uint8Array;
  type: string;
  etag: string;
}

/** Loads the assets once and keeps them in memory with their ETags; a failed load is retried on the next request. */
const assetCache = (load: AssetLoader) => {
  let loading: Promise<Map<string, ServedAsset>> | undefined;
  const loadAll = async () => {
    const served = new Map<string, ServedAsset>();
    for (const [name, blob] of await load()) {
      const bytes = new Uint8Array(await blob.arrayBuffer());
      served.set(name, { bytes, type: contentType(name), etag: `"${Bun.hash(bytes).toString(36)}"` });
    }
    return served;
  };
  return (name: string): Promise<ServedAsset | undefined> =>
    (loading ??= loadAll().catch((error: unknown) => {
      loading = undefined;
      throw error;
    })).then((assets) => assets.get(name));
};

/**
 * `assets`: a folder of hand-written assets (the client is bundled from source
 * on first use), or a loader for a prebuilt set (see assets.ts).
 */
export const webRoutes = (
  accounts: AccountService,
  allowedOrigins: ReadonlySet<string>,
  assets: string | AssetLoader,
  /** What the page tells the client about the server's limits (the composer counts down to MAX_MESSAGE_LENGTH). */
  page: { maxMessageLength?: number; maxFileBytes?: number } = {},
) => {
  const asset = assetCache(typeof assets === "string" ? sourceAssets(assets) : assets);
  const render = async (
    session: AuthSession | undefined,
    headers: Record<string, unknown>,
    acceptLanguage: string | null,
    langCookie: unknown,
  ): Promise<string> => {
    Object.assign(headers, PAGE_HEADERS);
    return ChatPage({
      user: session && !session.nameLost ? session.user : undefined,
      guestName: session && !session.nameLost ? "" : await accounts.offerGuestName(),
      nameLost: session?.nameLost === true,
      lang: pickLanguage(acceptLanguage, langCookie),
      ...(page.maxMessageLength !== undefined ? { maxMessageLength: page.maxMessageLength } : {}),
      ...(page.maxFileBytes !== undefined ? { maxFileBytes: page.maxFileBytes } : {}),
    });
  };
  return (
    new Elysia({ name: "web.routes", seed: accounts.instanceId })
      // autoDetect off: its global mapResponse swallows the JSON bodies of error responses.
      .use(html({ autoDetect: false }))
      .use(authPlugin(accounts, allowedOrigins))
      .get(
        "/",
        async ({ session, set, html, request, cookie }) =>
          html(await render(session, set.headers, request.headers.get("accept-language"), cookie[LANG_COOKIE]?.value)),
        { session: true },
      )
      .get(
        "/ws",
        async ({ session, set, html, request, cookie }) =>
          html(await render(session, set.headers, request.headers.get("accept-language"), cookie[LANG_COOKIE]?.value)),
        { session: true },
      )
      // The service worker at the root: its scope is the whole site (pushes open the page at /ws).
      .get("/sw.js", async ({ status }) => {
        const found = await asset(WORKER_BUNDLE);
        if (!found) return status(404, apiError(404, "not_found", "Nothing at /sw.js"));
        return new Response(found.bytes, { headers: { "content-type": found.type, ...WORKER_HEADERS } });
      })
      .get("/static/:name", async ({ params, request, status }) => {
        const found = await asset(params.name);
        if (!found) return status(404, apiError(404, "not_found", `Nothing at /static/${params.name}`));
        // File names carry no content hash, so browsers revalidate every time (cheap: 304 by ETag).
        const headers = { "content-type": found.type, etag: found.etag, "cache-control": "no-cache" };
        if (request.headers.get("if-none-match") === found.etag) return new Response(null, { status: 304, headers });
        return new Response(found.bytes, { headers: { ...headers, "x-content-type-options": "nosniff" } });
      })
  );
};
