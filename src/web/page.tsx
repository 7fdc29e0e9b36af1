/**
 * The chat page shell, server-rendered. Every user-supplied value is escaped
 * (`safe`); the page carries no inline script (the CSP forbids it).
 */
import type { User } from "../protocol";

export interface PageProps {
  /** The signed-in user, or undefined for a visitor. */
  user: User | undefined;
  /** The guest name offered to a visitor. */
  guestName: string;
}

export const ChatPage = ({ user, guestName }: PageProps) =>
  "<!doctype html>" +
  (
    <html lang="zh-CN">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>teahouse</title>
        <link rel="stylesheet" href="/static/chat.css" />
      </head>
      <body data-guest={guestName}>
        <main id="app">
          <form id="signin" hidden={user !== undefined}>
            <label for="name">Name</label>
            <input id="name" name="name" value={guestName} maxlength="32" autocomplete="nickname" />
            <button type="submit">Sign in</button>
            <p id="signin-error" role="alert"></p>
          </form>
          <section id="room" hidden={user === undefined}>
            <p>
              Signed in as{" "}
              <b id="me" safe>
                {user?.name ?? ""}
              </b>{" "}
              · <a href="/wsout">Sign out</a>
            </p>
            <ul id="users"></ul>
            <ol id="messages" aria-live="polite"></ol>
            <form id="composer">
              <input id="text" autocomplete="off" maxlength="2000" />
              <button type="submit">Send</button>
            </form>
          </section>
        </main>
        <script type="module" src="/static/chat.js"></script>
      </body>
    </html>
  );
