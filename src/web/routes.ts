/**
 * The page routes: `GET /` and `GET /ws` (the tutorial's path) render the chat
 * page; `/static/*` serves `public/`.
 */
import { Elysia } from "elysia";
import { html } from "@elysiajs/html";
import { staticPlugin } from "@elysiajs/static";
import { authPlugin } from "../auth/plugin";
import { nameKey } from "../auth/names";
import type { SessionStore } from "../auth/sessions";
import { ChatPage } from "./page";

/** Security headers for every page. */
const PAGE_HEADERS = {
  "content-security-policy":
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "same-origin",
  "x-frame-options": "DENY",
};

export const webRoutes = (sessions: SessionStore, allowedOrigins: ReadonlySet<string>, publicDir: string) => {
  const page = ({ session, set }: { session: { user: import("../protocol").User } | undefined; set: { headers: Record<string, string | number> } }) => {
    Object.assign(set.headers, PAGE_HEADERS);
    return ChatPage({ user: session?.user, guestName: session ? "" : sessions.offerGuestName(nameKey) });
  };
  return new Elysia({ name: "web.routes", seed: sessions })
    .use(staticPlugin({ assets: publicDir, prefix: "/static", alwaysStatic: false }))
    .use(html())
    .use(authPlugin(sessions, allowedOrigins))
    .get("/", page, { session: true })
    .get("/ws", page, { session: true });
};
