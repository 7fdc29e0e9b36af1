/**
 * Web Push in this browser: a checkbox in the account menu subscribes (asking for notification
 * permission first if need be, never on load) with the server's VAPID key, and the server keeps the
 * subscription for this session (`POST /push/subscribe`); unchecking, or signing out, removes it.
 * The service worker (sw.ts) shows the pushes; clicking one brings a page to the message.
 * Hidden where the browser has no service workers or push, or the server has push off.
 */
import { label } from "./text";

/** The account that subscribed this browser: a page signed in as someone else does not inherit it. */
const OWNER_KEY = "teahouse.pushOwner";

const json = { "content-type": "application/json" };

/** Whether a subscription was made with this server key (base64url). */
const sameKey = (subscription: PushSubscription, key: string | undefined): boolean => {
  const made = subscription.options.applicationServerKey;
  if (!made || !key) return false;
  const bytes = String.fromCharCode(...new Uint8Array(made));
  return btoa(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "") === key.replace(/=+$/, "");
};

export class PushToggle {
  private accountId: number | undefined;
  private key: string | undefined;

  constructor(
    private readonly option: HTMLElement,
    private readonly box: HTMLInputElement,
    private readonly error: HTMLElement,
    /** A push was clicked while this page was open: show that message. */
    open: (id: number) => void,
  ) {
    box.addEventListener("change", () => void (box.checked ? this.subscribe() : this.unsubscribe()));
    navigator.serviceWorker?.addEventListener("message", (event: MessageEvent) => {
      const data = event.data as { type?: unknown; id?: unknown } | null;
      if (data?.type === "open" && typeof data.id === "number") open(data.id);
    });
  }

  private get supported(): boolean {
    return "serviceWorker" in navigator && "PushManager" in window && typeof Notification !== "undefined";
  }

  /** Signed in as `accountId`: show the option, and tell the server this browser's subscription again (a new session). */
  async signedIn(accountId: number): Promise<void> {
    this.accountId = accountId;
    this.error.textContent = "";
    if (!this.supported) return;
    const response = await fetch("/push/key").catch(() => undefined);
    if (!response?.ok) return; // push is off on this server
    this.key = ((await response.json()) as { data: string }).data;
    this.option.hidden = false;
    const subscription = await this.current();
    const mine = subscription !== null && localStorage.getItem(OWNER_KEY) === String(accountId);
    this.box.checked = mine && Notification.permission === "granted";
    if (!this.box.checked || !subscription) return;
    try {
      // Made with another server key (rotated, or configured since): useless, so made again.
      if (!sameKey(subscription, this.key)) await this.subscribe();
      else await this.save(subscription);
    } catch {
      this.box.checked = false;
      label(this.error, "pushFailed");
    }
  }

  /** Signing out: this browser stops receiving this account's pushes (the server drops it with the session too). */
  async signingOut(): Promise<void> {
    this.box.checked = false;
    const owner = this.accountId;
    this.accountId = undefined;
    // Never in the way of signing out: whatever fails here, the server drops the subscription with the session.
    try {
      const subscription = await this.current();
      if (subscription && localStorage.getItem(OWNER_KEY) === String(owner)) {
        localStorage.removeItem(OWNER_KEY);
        await subscription.unsubscribe();
      }
    } catch {
      // nothing to undo
    }
  }

  private async current(): Promise<PushSubscription | null> {
    if (!this.supported) return null;
    const registration = await navigator.serviceWorker.getRegistration("/").catch(() => undefined);
    return (await registration?.pushManager.getSubscription().catch(() => null)) ?? null;
  }

  private async subscribe(): Promise<void> {
    this.error.textContent = "";
    try {
      if (Notification.permission !== "granted" && (await Notification.requestPermission()) !== "granted")
        throw new Error("permission");
      const registration = await navigator.serviceWorker.register("/sw.js", { scope: "/" });
      await navigator.serviceWorker.ready;
      let subscription = await registration.pushManager.getSubscription();
      if (subscription && !sameKey(subscription, this.key)) {
        await subscription.unsubscribe();
        subscription = null;
      }
      subscription ??= await registration.pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: this.key!,
      });
      await this.save(subscription);
      localStorage.setItem(OWNER_KEY, String(this.accountId));
    } catch {
      this.box.checked = false;
      label(this.error, "pushFailed");
    }
  }

  private async save(subscription: PushSubscription): Promise<void> {
    const response = await fetch("/push/subscribe", {
      method: "POST",
      headers: json,
      body: JSON.stringify(subscription.toJSON()),
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
  }

  private async unsubscribe(): Promise<void> {
    this.error.textContent = "";
    const subscription = await this.current();
    localStorage.removeItem(OWNER_KEY);
    if (!subscription) return;
    await fetch("/push/subscribe", {
      method: "DELETE",
      headers: json,
      body: JSON.stringify({ endpoint: subscription.endpoint }),
    }).catch(() => undefined);
    await subscription.unsubscribe().catch(() => false);
  }
}
