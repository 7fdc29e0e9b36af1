/**
 * The chat page shell, server-rendered in the visitor's language so the first
 * paint is already right; the client (public `/static/chat.js`, bundled from
 * src/web/client) brings it to life. Every user-supplied value is escaped
 * (`safe`, and attributes are always escaped); the page carries no inline
 * script or style (the CSP forbids both).
 *
 * Elements whose text the client relabels on a language switch carry
 * `data-i18n` (text), `data-i18n-placeholder` or `data-i18n-label` (aria-label).
 */
import type { User } from "../protocol";
import { format, formatBytes, HTML_LANG, type Lang, type StringKey } from "./i18n";

export interface PageProps {
  /** The signed-in user, or undefined for a visitor. */
  user: User | undefined;
  /** The guest name offered to a visitor. */
  guestName: string;
  /** A guest whose name someone else took while it was away: the sign-in view says so. */
  nameLost?: boolean;
  lang: Lang;
  /** MAX_MESSAGE_LENGTH: the composer counts down to it (the page says it in `data-max-length`). */
  maxMessageLength?: number;
  /** MAX_FILE_MB in bytes, when files can be sent: the composer shows it and checks it before an upload. */
  maxFileBytes?: number;
}

/** The server's default MAX_MESSAGE_LENGTH, for a page rendered without one. */
export const DEFAULT_MAX_MESSAGE_LENGTH = 2000;

export const ChatPage = ({
  user,
  guestName,
  nameLost,
  lang,
  maxMessageLength = DEFAULT_MAX_MESSAGE_LENGTH,
  maxFileBytes,
}: PageProps) => {
  const limit = maxFileBytes === undefined ? "" : formatBytes(maxFileBytes);
  const t = (key: StringKey, params?: Record<string, string | number>) => format(lang, key, params);
  const langSwitch = (
    <button type="button" class="lang-switch ghost" data-i18n="switchLanguage" data-i18n-label="switchLanguageLabel">
      {t("switchLanguage")}
    </button>
  );
  return (
    "<!doctype html>" +
    (
      <html lang={HTML_LANG[lang]}>
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width, initial-scale=1, interactive-widget=resizes-content" />
          <meta name="color-scheme" content="light dark" />
          <title>{t("appName")}</title>
          <link rel="icon" href="/static/favicon.svg" type="image/svg+xml" />
          <link rel="stylesheet" href="/static/chat.css" />
          <script type="module" src="/static/chat.js"></script>
        </head>
        <body data-guest={guestName} data-lang={lang} data-name-lost={nameLost ? "1" : undefined}>
          <div id="signin-view" class="signin-view" hidden={user !== undefined}>
            <form id="signin" class="signin-card" novalidate>
              <div class="signin-top">{langSwitch}</div>
              <div class="logo" aria-hidden="true">
                茶
              </div>
              <h1 data-i18n="appName">{t("appName")}</h1>
              <p class="tagline" data-i18n="tagline">
                {t("tagline")}
              </p>
              <label for="name" data-i18n="nameLabel">
                {t("nameLabel")}
              </label>
              <input
                id="name"
                name="name"
                value={guestName}
                autocomplete="username"
                required
                aria-describedby="signin-error"
              />
              <label for="password" data-i18n="passwordLabel">
                {t("passwordLabel")}
              </label>
              <input
                id="password"
                name="password"
                type="password"
                autocomplete="current-password"
                data-i18n-placeholder="passwordPlaceholder"
                placeholder={t("passwordPlaceholder")}
                aria-describedby="signin-error signin-hint"
              />
              <div class="signin-actions">
                <button type="submit" id="signin-submit" class="primary" data-i18n="signIn">
                  {t("signIn")}
                </button>
                <button type="button" id="register" class="ghost" data-i18n="register">
                  {t("register")}
                </button>
              </div>
              <p id="signin-notice" class="notice" role="status" hidden></p>
              <p id="signin-error" class="error" role="alert">
                {nameLost ? t("err_name_lost") : ""}
              </p>
              <p id="signin-hint" class="hint" data-i18n="registerHint">
                {t("registerHint")}
              </p>
            </form>
          </div>

          <div id="banned-view" class="signin-view" hidden>
            <section class="signin-card" aria-labelledby="banned-title">
              <div class="signin-top">{langSwitch}</div>
              <div class="logo" aria-hidden="true">
                茶
              </div>
              <h1 id="banned-title" data-i18n="bannedTitle" tabindex="-1">
                {t("bannedTitle")}
              </h1>
              <p class="tagline" data-i18n="bannedText">
                {t("bannedText")}
              </p>
              <div class="signin-actions">
                <button type="button" id="banned-back" class="ghost" data-i18n="bannedBack">
                  {t("bannedBack")}
                </button>
              </div>
            </section>
          </div>

          <div id="reset-view" class="signin-view" hidden>
            <form id="reset-form" class="signin-card" novalidate>
              <div class="signin-top">{langSwitch}</div>
              <div class="logo" aria-hidden="true">
                茶
              </div>
              <h1 data-i18n="resetTitle">{t("resetTitle")}</h1>
              <input id="reset-username" type="text" autocomplete="username" hidden tabindex="-1" aria-hidden="true" />
              <label for="reset-password" data-i18n="resetLabel">
                {t("resetLabel")}
              </label>
              <input
                id="reset-password"
                type="password"
                autocomplete="new-password"
                data-i18n-placeholder="newPasswordPlaceholder"
                placeholder={t("newPasswordPlaceholder")}
                aria-describedby="reset-error"
              />
              <div class="signin-actions">
                <button type="submit" class="primary" data-i18n="resetSubmit">
                  {t("resetSubmit")}
                </button>
                <button type="button" id="reset-cancel" data-i18n="cancel">
                  {t("cancel")}
                </button>
              </div>
              <p id="reset-error" class="error" role="alert"></p>
            </form>
          </div>

          <div id="room-view" class="room-view" hidden={user === undefined}>
            <header class="topbar">
              <button
                type="button"
                id="drawer-toggle"
                class="icon drawer-toggle"
                aria-controls="sidebar"
                aria-expanded="false"
                data-i18n-label="showSidebar"
                aria-label={t("showSidebar")}
              >
                <span aria-hidden="true">☰</span>
                <span id="drawer-badge" class="badge" hidden></span>
              </button>
              <span class="brand">
                <span class="logo small" aria-hidden="true">
                  茶
                </span>
                <span data-i18n="appName">{t("appName")}</span>
              </span>
              <form id="search-form" class="search-form" role="search">
                <input
                  id="search"
                  type="search"
                  autocomplete="off"
                  enterkeyhint="search"
                  data-i18n-placeholder="searchPlaceholder"
                  placeholder={t("searchPlaceholder")}
                  data-i18n-label="searchLabel"
                  aria-label={t("searchLabel")}
                  aria-controls="search-results"
                />
              </form>
              <span class="spacer"></span>
              <div class="account">
                <button
                  type="button"
                  id="account-toggle"
                  class="account-toggle ghost"
                  aria-expanded="false"
                  aria-controls="account-menu"
                >
                  <span id="me" class="me" safe>
                    {user?.name ?? ""}
                  </span>
                  <span class="caret" aria-hidden="true">
                    ▾
                  </span>
                </button>
                <div id="account-menu" class="account-menu" hidden>
                  <p class="account-kind">
                    <span id="account-kind" data-i18n={user?.type === "member" ? "accountMember" : "accountGuest"}>
                      {t(user?.type === "member" ? "accountMember" : "accountGuest")}
                    </span>
                  </p>
                  <form id="register-form" class="register-form" hidden={user?.type === "member"}>
                    <label for="register-password" id="register-prompt"></label>
                    <input
                      id="register-username"
                      type="text"
                      autocomplete="username"
                      hidden
                      tabindex="-1"
                      aria-hidden="true"
                    />
                    <div class="register-row">
                      <input
                        id="register-password"
                        type="password"
                        autocomplete="new-password"
                        data-i18n-placeholder="newPasswordPlaceholder"
                        placeholder={t("newPasswordPlaceholder")}
                        aria-describedby="register-error"
                      />
                      <button type="submit" class="primary small" data-i18n="setPassword">
                        {t("setPassword")}
                      </button>
                    </div>
                    <p id="register-error" class="error" role="alert"></p>
                  </form>
                  <p id="register-done" class="notice" role="status" data-i18n="registered" hidden>
                    {t("registered")}
                  </p>
                  <button type="button" id="notify-permission" class="menu-item" data-i18n="notifyEnable" hidden>
                    {t("notifyEnable")}
                  </button>
                  <label class="menu-item check" id="push-option" hidden>
                    <input type="checkbox" id="push-enable" />
                    <span data-i18n="pushEnable">{t("pushEnable")}</span>
                  </label>
                  <p id="push-error" class="error" role="alert"></p>
                  <label class="menu-item check">
                    <input type="checkbox" id="notify-sound" />
                    <span data-i18n="notifySound">{t("notifySound")}</span>
                  </label>
                  <button type="button" id="admin-open" class="menu-item" data-i18n="adminOpen" hidden>
                    {t("adminOpen")}
                  </button>
                  <button type="button" id="signout" class="menu-item" data-i18n="signOut">
                    {t("signOut")}
                  </button>
                  <button type="button" id="signout-everywhere" class="menu-item" data-i18n="signOutEverywhere">
                    {t("signOutEverywhere")}
                  </button>
                  <p id="account-error" class="error" role="alert"></p>
                </div>
              </div>
              {langSwitch}
            </header>

            <div id="banner" class="banner" role="status" hidden>
              <span id="banner-text"></span>
              <button type="button" id="reconnect-now" data-i18n="tryNow">
                {t("tryNow")}
              </button>
            </div>

            <div class="layout">
              <aside id="sidebar" class="sidebar" data-i18n-label="showSidebar" aria-label={t("showSidebar")}>
                <div class="drawer-head">
                  <button
                    type="button"
                    id="drawer-close"
                    class="icon drawer-close ghost"
                    data-i18n-label="closeSidebar"
                    aria-label={t("closeSidebar")}
                  >
                    <span aria-hidden="true">✕</span>
                  </button>
                </div>
                <section>
                  <h2 data-i18n="rooms">{t("rooms")}</h2>
                  <ul id="room-list" class="nav-list"></ul>
                  <form id="join-room" class="join-room">
                    <input
                      id="room-name"
                      autocomplete="off"
                      list="room-suggestions"
                      data-i18n-placeholder="joinRoomPlaceholder"
                      placeholder={t("joinRoomPlaceholder")}
                      data-i18n-label="joinRoom"
                      aria-label={t("joinRoom")}
                    />
                    <button type="submit" data-i18n="join">
                      {t("join")}
                    </button>
                    <datalist id="room-suggestions"></datalist>
                  </form>
                </section>
                <section id="private-section" hidden>
                  <h2 data-i18n="privateChats">{t("privateChats")}</h2>
                  <ul id="private-list" class="nav-list"></ul>
                </section>
                <section>
                  <h2 id="online-count">{t("online")}</h2>
                  <ul id="users" class="user-list"></ul>
                </section>
              </aside>
              <div id="drawer-backdrop" class="drawer-backdrop" hidden></div>

              <main id="conversation" class="conversation">
                <header class="conv-head">
                  <div class="conv-name">
                    <h2 id="conv-title"></h2>
                    <p id="conv-topic" class="conv-topic" hidden></p>
                  </div>
                  <select
                    id="notify-level"
                    class="notify-level"
                    data-i18n-label="notifyLevel"
                    aria-label={t("notifyLevel")}
                  >
                    <option value="all" data-i18n="notifyAll">
                      {t("notifyAll")}
                    </option>
                    <option value="mentions" data-i18n="notifyMentions">
                      {t("notifyMentions")}
                    </option>
                    <option value="none" data-i18n="notifyNone">
                      {t("notifyNone")}
                    </option>
                  </select>
                  <button
                    type="button"
                    id="room-settings-toggle"
                    class="ghost small"
                    data-i18n="roomSettings"
                    aria-expanded="false"
                    aria-controls="room-settings"
                    hidden
                  >
                    {t("roomSettings")}
                  </button>
                  <button type="button" id="leave-room" class="ghost small" data-i18n="leaveRoom" hidden>
                    {t("leaveRoom")}
                  </button>
                </header>
                <form id="room-settings" class="room-settings" hidden>
                  <label class="field">
                    <span data-i18n="roomTopic">{t("roomTopic")}</span>
                    <input id="room-topic" type="text" autocomplete="off" />
                  </label>
                  <label class="field">
                    <span data-i18n="slowMode">{t("slowMode")}</span>
                    <select id="room-slow">
                      <option value="0" data-i18n="slowOff">
                        {t("slowOff")}
                      </option>
                      {[5, 10, 30, 60, 300].map((seconds) => (
                        <option
                          value={String(seconds)}
                          data-i18n="slowSeconds"
                          data-i18n-args={JSON.stringify({ seconds })}
                        >
                          {t("slowSeconds", { seconds })}
                        </option>
                      ))}
                    </select>
                  </label>
                  <label class="check">
                    <input id="room-private" type="checkbox" />
                    <span data-i18n="roomPrivate">{t("roomPrivate")}</span>
                  </label>
                  <div class="row">
                    <button type="submit" class="primary small" data-i18n="save">
                      {t("save")}
                    </button>
                    <button type="button" id="room-invite" class="small" data-i18n="makeInvite" hidden>
                      {t("makeInvite")}
                    </button>
                  </div>
                  <input
                    id="room-invite-link"
                    class="invite-link"
                    type="text"
                    readonly
                    hidden
                    aria-label={t("inviteLink")}
                    data-i18n-label="inviteLink"
                  />
                  <p id="room-settings-error" class="error" role="alert"></p>
                </form>
                <div id="member-menu" class="member-menu" role="menu" hidden></div>
                <section id="search-results" class="search-results" hidden aria-live="polite">
                  <header class="search-head">
                    <h2 id="search-title" data-i18n="searchResults">
                      {t("searchResults")}
                    </h2>
                    <button type="button" id="search-close" class="ghost small" data-i18n="searchClose">
                      {t("searchClose")}
                    </button>
                  </header>
                  <p id="search-status" class="search-status"></p>
                  <ol id="search-list" class="search-list"></ol>
                  <button type="button" id="search-more" class="ghost small" data-i18n="searchMore" hidden>
                    {t("searchMore")}
                  </button>
                </section>
                <div id="scroller" class="scroller">
                  <button type="button" id="load-older" class="load-older ghost small" data-i18n="loadOlder" hidden>
                    {t("loadOlder")}
                  </button>
                  <p id="empty" class="empty" hidden></p>
                  <div id="messages" class="messages"></div>
                </div>
                <button type="button" id="new-messages" class="chip" data-i18n="newMessages" hidden>
                  {t("newMessages")}
                </button>
                <p id="typing" class="typing" aria-live="polite"></p>
                <p id="composer-error" class="error composer-error" role="alert"></p>
                <div id="compose-context" class="compose-context" hidden>
                  <span id="compose-context-text"></span>
                  <button type="button" id="compose-cancel" class="ghost small" data-i18n="cancelCompose">
                    {t("cancelCompose")}
                  </button>
                </div>
                <ul id="mention-list" class="mention-list" role="listbox" hidden></ul>
                <div id="emoji-picker" class="emoji-picker" role="dialog" hidden></div>
                {maxFileBytes === undefined ? (
                  ""
                ) : (
                  <>
                    <ul id="uploads" class="uploads" aria-live="polite" hidden></ul>
                    <div id="drop-zone" class="drop-zone" hidden>
                      <p data-i18n="dropFiles" data-i18n-args={JSON.stringify({ limit })}>
                        {format(lang, "dropFiles", { limit })}
                      </p>
                    </div>
                  </>
                )}
                <p id="muted-notice" class="notice muted-notice" role="status" hidden></p>
                <form
                  id="composer"
                  class="composer"
                  data-max-length={String(maxMessageLength)}
                  data-max-file-bytes={maxFileBytes === undefined ? undefined : String(maxFileBytes)}
                >
                  {maxFileBytes === undefined ? (
                    ""
                  ) : (
                    <>
                      <button
                        type="button"
                        id="attach"
                        class="ghost attach"
                        title={format(lang, "attachLabel", { limit })}
                        aria-label={format(lang, "attachLabel", { limit })}
                        data-i18n-label="attachLabel"
                        data-i18n-args={JSON.stringify({ limit })}
                      >
                        📎
                      </button>
                      <input type="file" id="file-input" multiple hidden />
                    </>
                  )}
                  <textarea
                    id="text"
                    rows="1"
                    enterkeyhint="send"
                    data-i18n-label="messageLabel"
                    aria-label={t("messageLabel")}
                    aria-describedby="composer-count composer-error"
                    placeholder={t("messagePlaceholder")}
                  ></textarea>
                  <span id="composer-count" class="composer-count" hidden></span>
                  {maxFileBytes === undefined ? (
                    ""
                  ) : (
                    <span
                      id="file-hint"
                      class="file-hint"
                      data-i18n="fileLimitHint"
                      data-i18n-args={JSON.stringify({ limit })}
                    >
                      {format(lang, "fileLimitHint", { limit })}
                    </span>
                  )}
                  <button type="submit" class="primary" data-i18n="send">
                    {t("send")}
                  </button>
                </form>
              </main>
            </div>

            <section id="admin-view" class="admin-view" aria-labelledby="admin-title" hidden>
              <header class="admin-head">
                <h2 id="admin-title" data-i18n="adminTitle" tabindex="-1">
                  {t("adminTitle")}
                </h2>
                <button type="button" id="admin-close" class="ghost small" data-i18n="adminClose">
                  {t("adminClose")}
                </button>
              </header>
              <div class="admin-tabs" role="tablist" data-i18n-label="adminTabs" aria-label={t("adminTabs")}>
                <button
                  type="button"
                  role="tab"
                  id="admin-tab-users"
                  class="admin-tab"
                  data-tab="users"
                  aria-controls="admin-panel-users"
                  aria-selected="false"
                  tabindex="-1"
                  data-i18n="adminTabUsers"
                >
                  {t("adminTabUsers")}
                </button>
                <button
                  type="button"
                  role="tab"
                  id="admin-tab-rooms"
                  class="admin-tab"
                  data-tab="rooms"
                  aria-controls="admin-panel-rooms"
                  aria-selected="false"
                  tabindex="-1"
                  data-i18n="adminTabRooms"
                >
                  {t("adminTabRooms")}
                </button>
                <button
                  type="button"
                  role="tab"
                  id="admin-tab-settings"
                  class="admin-tab"
                  data-tab="settings"
                  aria-controls="admin-panel-settings"
                  aria-selected="false"
                  tabindex="-1"
                  data-i18n="adminTabSettings"
                >
                  {t("adminTabSettings")}
                </button>
                <button
                  type="button"
                  role="tab"
                  id="admin-tab-audit"
                  class="admin-tab"
                  data-tab="audit"
                  aria-controls="admin-panel-audit"
                  aria-selected="false"
                  tabindex="-1"
                  data-i18n="adminTabAudit"
                >
                  {t("adminTabAudit")}
                </button>
                <button
                  type="button"
                  role="tab"
                  id="admin-tab-reports"
                  class="admin-tab"
                  data-tab="reports"
                  aria-controls="admin-panel-reports"
                  aria-selected="false"
                  tabindex="-1"
                  data-i18n="adminTabReports"
                >
                  {t("adminTabReports")}
                </button>
              </div>
              <div
                id="admin-panel-users"
                class="admin-panel"
                role="tabpanel"
                aria-labelledby="admin-tab-users"
                tabindex="0"
                hidden
              ></div>
              <div
                id="admin-panel-rooms"
                class="admin-panel"
                role="tabpanel"
                aria-labelledby="admin-tab-rooms"
                tabindex="0"
                hidden
              ></div>
              <div
                id="admin-panel-settings"
                class="admin-panel"
                role="tabpanel"
                aria-labelledby="admin-tab-settings"
                tabindex="0"
                hidden
              ></div>
              <div
                id="admin-panel-audit"
                class="admin-panel"
                role="tabpanel"
                aria-labelledby="admin-tab-audit"
                tabindex="0"
                hidden
              ></div>
              <div
                id="admin-panel-reports"
                class="admin-panel"
                role="tabpanel"
                aria-labelledby="admin-tab-reports"
                tabindex="0"
                hidden
              ></div>
            </section>
          </div>
        </body>
      </html>
    )
  );
};
