/**
 * The page routes: `GET /` and `GET /ws` (the tutorial's path) render the chat
 * page; `/static/*` serves `public/` from disk, or the set embedded in the
 * compiled executable (see embedded.ts).
 */
import { Elysia } from "elysia";
import { html } from "@elysiajs/html";
import { staticPlugin } from "@elysiajs/static";
import { authPlugin } from "../auth/plugin";
import { nameKey } from "../auth/names";
import type { Session, Sessions } from "../auth/sessions";
import { ChatPage } from "./page";
import { servedAssets, type AssetLoader } from "./embedded";

/** Security headers for every page. */
const PAGE_HEADERS = {
  "content-security-policy":
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "same-origin",
  "x-frame-options": "DENY",
};

export const webRoutes = (sessions: Sessions, allowedOrigins: ReadonlySet<string>, assets: string | AssetLoader) => {
  const render = async (session: Session | undefined, headers: Record<string, unknown>): Promise<string> => {
    Object.assign(headers, PAGE_HEADERS);
    return ChatPage({ user: session?.user, guestName: session ? "" : await sessions.offerGuestName(nameKey) });
  };
  return (
    new Elysia({ name: "web.routes", seed: sessions.instanceId })
      .use(
        typeof assets === "string"
          ? staticPlugin({ assets, prefix: "/static", alwaysStatic: false })
          : servedAssets(assets),
      )
      // autoDetect off: its global mapResponse swallows the JSON bodies of error responses.
      .use(html({ autoDetect: false }))
      .use(authPlugin(sessions, allowedOrigins))
      .get("/", async ({ session, set, html }) => html(await render(session, set.headers)), { session: true })
      .get("/ws", async ({ session, set, html }) => html(await render(session, set.headers)), { session: true })
  );
};
