/**
 * The page's entry point: switches between the sign-in view and the room,
 * and wires the page shell's controls (bound once; they act on the current
 * Chat, which is replaced on every sign-in).
 */
import type { NotifyLevel, ServerRole, User } from "../../protocol";
import type { StringKey } from "../i18n";
import { request, signIn, signOut, signUp, whoAmI, type SignInResult } from "./api";
import { AdminPanel } from "./admin";
import { Chat, errorText } from "./chat";
import { ComposerLimit } from "./composer";
import { MentionPicker } from "./picker";
import { SearchBox } from "./search";
import { Notifier } from "./notify";
import { PushToggle } from "./push";
import { RoomTools } from "./room-tools";
import { byId } from "./dom";
import { label, lang, relabel, setLang, t } from "./text";

const signinView = byId("signin-view");
const roomView = byId("room-view");
const signinForm = byId<HTMLFormElement>("signin");
const nameInput = byId<HTMLInputElement>("name");
const passwordInput = byId<HTMLInputElement>("password");
const signinError = byId("signin-error");
const composer = byId<HTMLFormElement>("composer");
const text = byId<HTMLTextAreaElement>("text");
const accountToggle = byId<HTMLButtonElement>("account-toggle");
const accountMenu = byId("account-menu");
const registerForm = byId<HTMLFormElement>("register-form");
const registerPassword = byId<HTMLInputElement>("register-password");
const registerError = byId("register-error");

let chat: Chat | undefined;
/** The signed-in account's server role (from `/wsme`): admins and the owner get the admin page. */
let role: ServerRole | undefined;
/** A sign-up invite link's token (`/ws#invite=<token>`), passed to sign-up until one goes through. */
let invite: string | undefined;
const adminOpen = byId<HTMLButtonElement>("admin-open");
const bannedView = byId("banned-view");
const resetView = byId("reset-view");
const signinNotice = byId("signin-notice");
let admin: AdminPanel | undefined;
const notifier = new Notifier(byId<HTMLButtonElement>("notify-permission"), byId<HTMLInputElement>("notify-sound"));
const roomTools = new RoomTools((frame) => chat?.sendFrame(frame) ?? false);
const push = new PushToggle(byId("push-option"), byId<HTMLInputElement>("push-enable"), byId("push-error"), (id) =>
  chat?.openMessage(id),
);
byId<HTMLSelectElement>("notify-level").addEventListener("change", (event) => {
  chat?.setNotifyLevel((event.target as HTMLSelectElement).value as NotifyLevel);
});
const limit = new ComposerLimit(
  text,
  byId("composer-count"),
  byId("composer-error"),
  Number(composer.dataset.maxLength),
);

/** Shows an error (an i18n key, or a server code) in an element, as text. */
const showError = (element: HTMLElement, key: StringKey | undefined): void => {
  if (key) label(element, key);
  else {
    delete element.dataset.i18n;
    element.textContent = "";
  }
};

/** The words for a failed sign-in, sign-up or registration. */
const failureText = (result: Extract<SignInResult, { ok: false }>): string =>
  result.error === "rate_limited"
    ? t("err_signin_rate_limited", { seconds: result.retryAfter ?? 60 })
    : errorText(result.error, result.message);

/** Leaves the room view (the chat ends): before the sign-in, banned or reset view shows. */
const leaveRoom = (): void => {
  chat?.dispose();
  chat = undefined;
  admin?.close();
  setRole(undefined);
  setDrawer(false);
  setAccountMenu(false);
  limit.clearError();
  roomView.hidden = true;
  bannedView.hidden = true;
  resetView.hidden = true;
};

const showSignIn = (name?: string, error?: StringKey, notice?: StringKey): void => {
  leaveRoom();
  signinView.hidden = false;
  showNotice(notice ?? (invite === undefined ? undefined : "inviteNotice"));
  if (name !== undefined) nameInput.value = name;
  passwordInput.value = "";
  showError(signinError, error);
  nameInput.focus();
  nameInput.select();
};

/** The sign-in view's notice (an invite, a password set), or none. */
const showNotice = (key: StringKey | undefined): void => {
  signinNotice.hidden = key === undefined;
  if (key) label(signinNotice, key);
};

/** The account was banned while here: say so plainly (no reconnecting, no bare sign-in form). */
const showBanned = (): void => {
  leaveRoom();
  signinView.hidden = true;
  bannedView.hidden = false;
  byId("banned-title").focus();
};
byId("banned-back").addEventListener("click", () => showSignIn(nameInput.value));

/** Shows the admin page's entry to admins and the owner. */
function setRole(next: ServerRole | undefined): void {
  role = next;
  adminOpen.hidden = !(role === "owner" || role === "admin");
}

const enterRoom = (user: User, knownRole?: ServerRole): void => {
  chat?.dispose();
  admin?.close();
  signinView.hidden = true;
  bannedView.hidden = true;
  resetView.hidden = true;
  roomView.hidden = false;
  showError(signinError, undefined);
  passwordInput.value = "";
  const current: Chat = new Chat(user, {
    onSignedOut: (nameLost) => {
      if (chat === current) showSignIn(current.user.name, nameLost ? "err_name_lost" : undefined);
    },
    onBanned: () => {
      if (chat === current) showBanned();
    },
    onUser: (next) => renderAccount(next),
    notifier,
    roomTools,
  });
  chat = current;
  setRole(knownRole);
  // Signed in through the form: the role comes from `/wsme`.
  if (knownRole === undefined && user.id !== 0)
    void whoAmI().then((me) => {
      if (chat === current && me.state === "signed-in") setRole(me.role);
    });
  void push.signedIn(user.id);
  renderAccount(user);
  limit.update();
  text.focus();
};

// ---------------------------------------------------------------- sign in / register

const busy = (on: boolean): void => {
  for (const button of signinForm.querySelectorAll<HTMLButtonElement>("button:not(.lang-switch)")) button.disabled = on;
};

const signInWith = async (attempt: () => Promise<SignInResult>, signingUp = false): Promise<void> => {
  busy(true);
  signinError.textContent = "";
  const result = await attempt();
  busy(false);
  if (result.ok) {
    // Only a sign-up spends the invite: a guest sign-in keeps it for registering from the account menu.
    if (signingUp && invite !== undefined) usedInvite();
    return enterRoom(result.user);
  }
  delete signinError.dataset.i18n;
  signinError.textContent = failureText(result);
  // A registered name wants its password; anything else is about the name.
  const field = result.error === "name_registered" || result.error === "invalid_password" ? passwordInput : nameInput;
  field.focus();
  field.select();
};

signinForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const password = passwordInput.value;
  void signInWith(() => signIn(nameInput.value, password === "" ? undefined : password));
});

byId("register").addEventListener("click", () => {
  void signInWith(() => signUp(nameInput.value, passwordInput.value, invite), true);
});

/** The invite went through (or was used): out of the address bar and the form. */
const usedInvite = (): void => {
  invite = undefined;
  showNotice(undefined);
  if (/^#invite=/.test(location.hash)) history.replaceState(null, "", location.pathname + location.search);
};

// ---------------------------------------------------------------- a password reset link

const resetForm = byId<HTMLFormElement>("reset-form");
const resetPassword = byId<HTMLInputElement>("reset-password");
const resetError = byId("reset-error");
let resetToken = "";

const showReset = (token: string): void => {
  leaveRoom();
  signinView.hidden = true;
  resetToken = token;
  resetView.hidden = false;
  resetPassword.value = "";
  resetError.textContent = "";
  resetPassword.focus();
};
// Not now: the link leaves the address bar and the page is what it was (the chat, when signed in).
byId("reset-cancel").addEventListener("click", () => {
  history.replaceState(null, "", location.pathname + location.search);
  location.reload();
});
resetForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const submit = resetForm.querySelector<HTMLButtonElement>("button[type=submit]")!;
  submit.disabled = true;
  const answer = await request("POST", "/reset", { token: resetToken, password: resetPassword.value });
  submit.disabled = false;
  if (!answer.ok) {
    resetError.textContent = errorText(answer.error, answer.message);
    resetPassword.focus();
    return;
  }
  history.replaceState(null, "", location.pathname + location.search);
  showSignIn(typeof answer.body.name === "string" ? answer.body.name : "", undefined, "resetDone");
  passwordInput.focus();
});

// ---------------------------------------------------------------- the account menu

const renderAccount = (user: User): void => {
  label(byId("account-kind"), user.type === "member" ? "accountMember" : "accountGuest");
  registerForm.hidden = user.type === "member";
  if (user.type === "guest") byId("register-done").hidden = true;
  label(byId("register-prompt"), "registerPrompt", { name: user.name });
  byId<HTMLInputElement>("register-username").value = user.name;
};

function setAccountMenu(open: boolean): void {
  accountMenu.hidden = !open;
  accountToggle.setAttribute("aria-expanded", String(open));
  if (open) {
    registerError.textContent = "";
    byId("account-error").textContent = "";
    (registerForm.hidden ? byId("signout") : registerPassword).focus();
  }
}
accountToggle.addEventListener("click", () => setAccountMenu(accountToggle.getAttribute("aria-expanded") !== "true"));
// A click or the focus elsewhere (Tab, typing in the composer) closes it.
const outsideAccount = (event: Event): void => {
  if (!accountMenu.hidden && !(event.target as Element).closest(".account")) setAccountMenu(false);
};
document.addEventListener("click", outsideAccount);
document.addEventListener("focusin", outsideAccount);

registerForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const current = chat;
  if (!current) return;
  const button = registerForm.querySelector<HTMLButtonElement>("button[type=submit]")!;
  button.disabled = true;
  registerError.textContent = "";
  const result = await signUp(current.user.name, registerPassword.value, invite);
  button.disabled = false;
  if (!result.ok) {
    registerError.textContent = failureText(result);
    registerPassword.focus();
    return;
  }
  registerPassword.value = "";
  if (invite !== undefined) usedInvite();
  current.setUser(result.user);
  renderAccount(result.user);
  byId("register-done").hidden = false;
  byId("signout").focus();
});

const leave = async (everywhere: boolean): Promise<void> => {
  // The name alone (the avatar's letter is not part of it).
  const name = chat?.user.name ?? "";
  const error = byId("account-error");
  error.textContent = "";
  await push.signingOut();
  const result = await signOut(everywhere);
  // The server answered but could not sign out: still signed in (a reload would show it), so say so.
  if (!result.ok && result.error !== "network") {
    error.textContent = errorText(result.error, result.message);
    return;
  }
  showSignIn(name);
};
byId("signout").addEventListener("click", () => void leave(false));

// ---------------------------------------------------------------- the admin page

adminOpen.addEventListener("click", () => {
  setAccountMenu(false);
  setDrawer(false);
  admin ??= new AdminPanel({
    actor: () => ({ id: chat?.user.id ?? 0, name: chat?.user.name ?? "", role: role ?? "guest" }),
    openMessage: (id) => chat?.openMessage(id),
  });
  admin.open();
});
// Searching, or the drawer, is about the chat: the admin page gives way.
byId("search").addEventListener("focus", () => admin?.close());
byId("signout-everywhere").addEventListener("click", () => void leave(true));

// ---------------------------------------------------------------- composer

const mentions = new MentionPicker(text, byId("mention-list"), () => chat?.mentionable() ?? []);

new SearchBox(
  {
    form: byId<HTMLFormElement>("search-form"),
    input: byId<HTMLInputElement>("search"),
    panel: byId("search-results"),
    list: byId<HTMLOListElement>("search-list"),
    status: byId("search-status"),
    more: byId<HTMLButtonElement>("search-more"),
    close: byId<HTMLButtonElement>("search-close"),
  },
  (id) => chat?.openMessage(id),
  (accountId) => chat?.nameOf(accountId) ?? `#${accountId}`,
);

text.addEventListener("keydown", (event) => {
  if (mentions.handleKey(event)) return;
  if (event.isComposing || event.keyCode === 229) return;
  // Escape stops replying or editing; Up in an empty composer edits your last message.
  if (event.key === "Escape" && chat?.cancelCompose()) {
    event.preventDefault();
    limit.update();
    return;
  }
  if (event.key === "ArrowUp" && text.value === "" && chat?.editLast()) {
    event.preventDefault();
    return;
  }
  // Enter sends, Shift+Enter is a new line; never while an IME is composing (Chinese input uses Enter to pick).
  if (event.key !== "Enter" || event.shiftKey) return;
  event.preventDefault();
  composer.requestSubmit();
});
text.addEventListener("input", () => {
  limit.update();
  chat?.typed();
});
composer.addEventListener("submit", (event) => {
  event.preventDefault();
  // Over the limit: kept in the composer, with the reason, never cut short.
  if (!limit.allows()) return text.focus();
  if (!chat?.send(text.value)) return text.focus();
  text.value = "";
  limit.update();
  text.focus();
});

// ---------------------------------------------------------------- rooms, history, connection

byId<HTMLFormElement>("join-room").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = byId<HTMLInputElement>("room-name");
  const room = input.value.trim();
  if (room === "") return;
  input.value = "";
  chat?.openRoom(room);
  setDrawer(false);
  text.focus();
});
byId("leave-room").addEventListener("click", () => {
  chat?.leaveActiveRoom();
  // The button is gone with the room: the reader goes on in the conversation shown now.
  text.focus();
});
byId("load-older").addEventListener("click", () => chat?.loadOlder());
byId("reconnect-now").addEventListener("click", () => chat?.reconnectNow());

// ---------------------------------------------------------------- drawer (narrow screens)

const drawerToggle = byId("drawer-toggle");
const backdrop = byId("drawer-backdrop");
const sidebar = byId("sidebar");
/** Where the sidebar is a drawer (public/chat.css has the same width). */
const narrow = window.matchMedia("(max-width: 720px)");
/** What the open drawer covers: out of reach (focus, clicks, screen readers) until it closes. */
const behindDrawer = [roomView.querySelector<HTMLElement>(".topbar")!, byId("banner"), byId("conversation")];

/** Opens or closes the drawer; `returnFocus`: back to the ☰ that opened it. */
function setDrawer(open: boolean, returnFocus = false): void {
  const wasOpen = roomView.classList.contains("drawer-open");
  roomView.classList.toggle("drawer-open", open);
  drawerToggle.setAttribute("aria-expanded", String(open));
  backdrop.hidden = !open;
  // Open, it is a modal dialog: focus stays in it (the rest is inert; Tab wraps around).
  for (const element of behindDrawer) element.inert = open;
  if (open) {
    sidebar.setAttribute("role", "dialog");
    sidebar.setAttribute("aria-modal", "true");
  } else {
    sidebar.removeAttribute("role");
    sidebar.removeAttribute("aria-modal");
  }
  if (open && !wasOpen) byId("drawer-close").focus();
  if (!open && wasOpen && returnFocus) drawerToggle.focus();
}
const drawerOpen = (): boolean => roomView.classList.contains("drawer-open");
drawerToggle.addEventListener("click", () => {
  admin?.close();
  setDrawer(!drawerOpen(), true);
});
backdrop.addEventListener("click", () => setDrawer(false, true));
byId("drawer-close").addEventListener("click", () => setDrawer(false, true));
// Wide again: no drawer, nothing inert.
narrow.addEventListener("change", () => {
  if (!narrow.matches && drawerOpen()) setDrawer(false);
});
// The focus trap: Tab from the last control goes to the first, Shift+Tab from the first to the last.
sidebar.addEventListener("keydown", (event) => {
  if (event.key !== "Tab" || !drawerOpen()) return;
  const controls = [
    ...sidebar.querySelectorAll<HTMLElement>("button, input, select, textarea, a[href], [tabindex]"),
  ].filter((control) => control.tabIndex >= 0 && !control.matches(":disabled") && control.getClientRects().length > 0);
  const first = controls[0];
  const last = controls[controls.length - 1];
  if (!first || !last) return;
  if (event.shiftKey && document.activeElement === first) {
    event.preventDefault();
    last.focus();
  } else if (!event.shiftKey && document.activeElement === last) {
    event.preventDefault();
    first.focus();
  }
});
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  if (!accountMenu.hidden) {
    setAccountMenu(false);
    accountToggle.focus();
  } else if (drawerOpen()) setDrawer(false, true);
});
// Picking a conversation in the drawer closes it and returns to typing.
byId("sidebar").addEventListener("click", (event) => {
  if ((event.target as Element).closest("button.entry")) {
    setDrawer(false);
    text.focus();
  }
});

// ---------------------------------------------------------------- language

for (const button of document.querySelectorAll<HTMLButtonElement>(".lang-switch"))
  button.addEventListener("click", () => {
    setLang(lang() === "zh" ? "en" : "zh");
    chat?.relabel();
  });

// ---------------------------------------------------------------- boot

/** The page's own links: `#reset=<token>` (set a new password) and `#invite=<token>` (sign up). */
const fragment = (): { reset?: string; invite?: string } => {
  const match = /^#(reset|invite)=([A-Za-z0-9_-]{1,64})$/.exec(location.hash);
  if (!match) return {};
  return match[1] === "reset" ? { reset: match[2]! } : { invite: match[2]! };
};
addEventListener("hashchange", () => {
  const link = fragment();
  if (link.reset !== undefined) showReset(link.reset);
  else if (link.invite !== undefined) {
    invite = link.invite;
    if (!signinView.hidden) showNotice("inviteNotice");
  }
});

const boot = async (): Promise<void> => {
  relabel();
  const link = fragment();
  invite = link.invite;
  if (link.reset !== undefined) return showReset(link.reset);
  // A guest whose name was taken while away: the server rendered the sign-in view with a fresh name.
  if (roomView.hidden) return showSignIn(undefined, document.body.dataset.nameLost ? "err_name_lost" : undefined);
  // The page says "signed in"; the session may still have ended since (or the server may be down, then retry).
  const me = await whoAmI();
  if (me.state === "signed-in") enterRoom(me.user, me.role);
  else if (me.state === "signed-out" || me.state === "name-lost")
    showSignIn(
      me.state === "name-lost" ? undefined : document.body.dataset.guest || byId("me").textContent || "",
      me.state === "name-lost" ? "err_name_lost" : undefined,
    );
  // Server unreachable right after rendering the page: show the room and let the connection retry; the first
  // `conversations` frame tells us who we are (id 0 matches nobody until then).
  else enterRoom({ type: "guest", id: 0, name: byId("me").textContent ?? "", image: 0 });
};
void boot();
