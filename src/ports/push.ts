/** Sending one Web Push message (RFC 8030) to a browser's push service; the adapter encrypts and signs it. */
import type { PushSubscriptionRecord } from "./store";

export interface OutgoingPush {
  subscription: PushSubscriptionRecord;
  /** The JSON the service worker reads (encrypted for the browser: RFC 8291). */
  payload: string;
  /** Pushes with the same topic replace each other while undelivered (at most 32 base64url characters). */
  topic: string;
  /** How long the push service keeps it for a browser that is offline. */
  ttlSeconds: number;
}

/** `sent`: accepted; `gone`: the subscription no longer exists (404, 410): forget it; `failed`: try later or never. */
export type PushOutcome = "sent" | "gone" | "failed";

export interface PushSender {
  send(push: OutgoingPush): Promise<PushOutcome>;
}
