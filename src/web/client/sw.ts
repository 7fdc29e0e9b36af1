/**
 * The service worker: shows a Web Push (services/push.ts) as a notification, one per conversation
 * (a newer one replaces it: same tag as the page's own notifications), and on a click focuses an open
 * page at that message, or opens one there. It loads and fetches nothing (served with
 * `default-src 'none'`). Bundled on its own (web/assets.ts) and served at /sw.js.
 */
import { format, pickLanguage } from "../i18n";
import type { PushPayload } from "../../protocol";

// The worker's global scope, typed here (the client's lib is the DOM's, not the WebWorker one).
interface PushEventLike extends Event {
  data: { json(): unknown } | null;
  waitUntil(promise: Promise<unknown>): void;
}
interface NotificationEventLike extends Event {
  notification: Notification & { data: unknown };
  waitUntil(promise: Promise<unknown>): void;
}
interface WindowClientLike {
  url: string;
  focus(): Promise<unknown>;
  postMessage(message: unknown): void;
}
interface WorkerScope {
  addEventListener(type: "push", listener: (event: PushEventLike) => void): void;
  addEventListener(type: "notificationclick", listener: (event: NotificationEventLike) => void): void;
  addEventListener(
    type: "install" | "activate",
    listener: (event: Event & { waitUntil(p: Promise<unknown>): void }) => void,
  ): void;
  registration: { showNotification(title: string, options: NotificationOptions & { data?: unknown }): Promise<void> };
  clients: {
    matchAll(options: { type: "window"; includeUncontrolled: boolean }): Promise<WindowClientLike[]>;
    openWindow(url: string): Promise<unknown>;
    claim(): Promise<void>;
  };
  skipWaiting(): Promise<void>;
  location: Location;
}
const scope = self as unknown as WorkerScope;

scope.addEventListener("install", (event) => event.waitUntil(scope.skipWaiting()));
scope.addEventListener("activate", (event) => event.waitUntil(scope.clients.claim()));

/** The conversation's key, as the page names it (its own notifications use the same tag). */
const tagOf = (push: PushPayload): string => (push.room !== undefined ? `room:${push.room}` : `user:${push.with}`);

scope.addEventListener("push", (event) => {
  let push: PushPayload;
  try {
    push = event.data?.json() as PushPayload;
  } catch {
    return;
  }
  if (!push || typeof push.id !== "number") return;
  const lang = pickLanguage(navigator.languages.join(","));
  const where = push.room !== undefined ? `# ${push.room}` : format(lang, "privateChats");
  const body = push.count > 1 ? `${push.text}\n${format(lang, "pushCount", { count: push.count })}` : push.text;
  event.waitUntil(
    scope.registration.showNotification(format(lang, "notifyFrom", { name: push.from, where }), {
      body,
      tag: tagOf(push),
      icon: "/static/favicon.svg",
      data: { id: push.id },
    }),
  );
});

scope.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const id = (event.notification.data as { id?: unknown } | null)?.id;
  const url = new URL(typeof id === "number" ? `/ws#m${id}` : "/ws", scope.location.origin).href;
  event.waitUntil(
    (async () => {
      const pages = await scope.clients.matchAll({ type: "window", includeUncontrolled: true });
      const page = pages.find((client) => new URL(client.url).origin === scope.location.origin);
      if (!page) return scope.clients.openWindow(url);
      page.postMessage({ type: "open", id });
      return page.focus();
    })(),
  );
});
