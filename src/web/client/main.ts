/**
 * The page's entry point: switches between the sign-in view and the room,
 * and wires the page shell's controls (bound once; they act on the current
 * Chat, which is replaced on every sign-in).
 */
import type { User } from "../../protocol";
import { errorKey } from "../i18n";
import { signIn, signOut, whoAmI } from "./api";
import { Chat } from "./chat";
import { byId } from "./dom";
import { lang, relabel, setLang, t } from "./text";

const signinView = byId("signin-view");
const roomView = byId("room-view");
const signinForm = byId<HTMLFormElement>("signin");
const nameInput = byId<HTMLInputElement>("name");
const signinError = byId("signin-error");
const composer = byId<HTMLFormElement>("composer");
const text = byId<HTMLTextAreaElement>("text");

let chat: Chat | undefined;

const showSignIn = (name?: string): void => {
  chat?.dispose();
  chat = undefined;
  setDrawer(false);
  roomView.hidden = true;
  signinView.hidden = false;
  if (name !== undefined) nameInput.value = name;
  nameInput.focus();
  nameInput.select();
};

const enterRoom = (user: User): void => {
  chat?.dispose();
  signinView.hidden = true;
  roomView.hidden = false;
  signinError.textContent = "";
  chat = new Chat(user, { onSignedOut: () => showSignIn(user.name) });
  text.focus();
};

// ---------------------------------------------------------------- sign in / out

signinForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = signinForm.querySelector<HTMLButtonElement>("button[type=submit]")!;
  button.disabled = true;
  signinError.textContent = "";
  const result = await signIn(nameInput.value);
  button.disabled = false;
  if (result.ok) return enterRoom(result.user);
  const key = errorKey(result.error);
  signinError.textContent = key ? t(key) : t("err_unknown", { message: result.message });
  nameInput.focus();
  nameInput.select();
});

byId("signout").addEventListener("click", async () => {
  const name = byId("me").textContent ?? "";
  chat?.dispose();
  chat = undefined;
  await signOut();
  showSignIn(name);
});

// ---------------------------------------------------------------- composer

text.addEventListener("keydown", (event) => {
  // Enter sends, Shift+Enter is a new line; never while an IME is composing (Chinese input uses Enter to pick).
  if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.keyCode === 229) return;
  event.preventDefault();
  composer.requestSubmit();
});
text.addEventListener("input", () => chat?.typed());
composer.addEventListener("submit", (event) => {
  event.preventDefault();
  chat?.send(text.value);
  text.value = "";
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
byId("leave-room").addEventListener("click", () => chat?.leaveActiveRoom());
byId("load-older").addEventListener("click", () => chat?.loadOlder());
byId("reconnect-now").addEventListener("click", () => chat?.reconnectNow());

// ---------------------------------------------------------------- drawer (narrow screens)

const drawerToggle = byId("drawer-toggle");
const backdrop = byId("drawer-backdrop");
function setDrawer(open: boolean): void {
  roomView.classList.toggle("drawer-open", open);
  drawerToggle.setAttribute("aria-expanded", String(open));
  backdrop.hidden = !open;
  // Keyboard users land in the drawer they opened (Escape returns them).
  if (open) byId("sidebar").querySelector<HTMLElement>("button, input")?.focus();
}
drawerToggle.addEventListener("click", () => setDrawer(!roomView.classList.contains("drawer-open")));
backdrop.addEventListener("click", () => setDrawer(false));
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && roomView.classList.contains("drawer-open")) {
    setDrawer(false);
    drawerToggle.focus();
  }
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

const boot = async (): Promise<void> => {
  relabel();
  if (roomView.hidden) return showSignIn();
  // The page says "signed in"; the session may still have ended since (or the server may be down, then retry).
  const me = await whoAmI();
  if (me.state === "signed-in") enterRoom(me.user);
  else if (me.state === "signed-out") showSignIn(document.body.dataset.guest || byId("me").textContent || "");
  // Server unreachable right after rendering the page: show the room and let the connection retry; the first
  // `list` frame tells us who we are (id 0 matches nobody until then).
  else enterRoom({ type: "guest", id: 0, name: byId("me").textContent ?? "", image: 0 });
};
void boot();
