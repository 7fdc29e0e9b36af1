/**
 * The PushSender adapter: `web-push` encrypts the payload for the browser (RFC 8291, aes128gcm) and
 * signs the request for the push service (VAPID, RFC 8292); the request itself is sent here, through
 * a lookup that refuses non-public addresses (see endpoint.ts), with no redirects followed and a
 * deadline. Extra CAs come from NODE_EXTRA_CA_CERTS as for any TLS client.
 */
import https from "node:https";
import webpush from "web-push";
import type { OutgoingPush, PushOutcome, PushSender } from "../ports/push";
import type { VapidKeys } from "../ports/store";
import type { Logger } from "../log";
import { endpointProblem, guardedLookup } from "./endpoint";

/** A push service that has not answered by then is given up on (the next message tries again). */
const SEND_TIMEOUT_MS = 10_000;

export const generateVapidKeys = (): VapidKeys => webpush.generateVAPIDKeys();

export class WebPushSender implements PushSender {
  private readonly lookup;

  constructor(
    private readonly options: {
      /** The VAPID key pair (known once the store has started). */
      vapid: () => Promise<VapidKeys>;
      subject: string;
      allowPrivate: boolean;
      log: Logger;
      /** Extra trusted CA (PEM) for push services, beside the system's (tests). */
      ca?: string;
    },
  ) {
    this.lookup = guardedLookup(options.allowPrivate);
  }

  async send({ subscription, payload, topic, ttlSeconds }: OutgoingPush): Promise<PushOutcome> {
    const { subject, allowPrivate, log } = this.options;
    const vapid = await this.options.vapid();
    const problem = endpointProblem(subscription.endpoint, allowPrivate);
    if (problem) {
      log.warn("push.refused", { problem });
      return "gone";
    }
    const details = webpush.generateRequestDetails(
      { endpoint: subscription.endpoint, keys: { p256dh: subscription.p256dh, auth: subscription.auth } },
      payload,
      {
        vapidDetails: { subject, publicKey: vapid.publicKey, privateKey: vapid.privateKey },
        TTL: ttlSeconds,
        topic,
        urgency: "high",
        contentEncoding: "aes128gcm",
      },
    );
    const status = await new Promise<number>((resolve, reject) => {
      const request = https.request(
        details.endpoint,
        {
          method: details.method,
          headers: details.headers,
          lookup: this.lookup as never,
          timeout: SEND_TIMEOUT_MS,
          agent: false,
          ...(this.options.ca ? { ca: this.options.ca } : {}),
        },
        (response) => {
          // The body says nothing needed here; read it so the connection is released.
          response.resume();
          response.on("end", () => resolve(response.statusCode ?? 0));
          response.on("error", reject);
        },
      );
      request.on("timeout", () => request.destroy(new Error("push service timed out")));
      request.on("error", reject);
      request.end(details.body ?? undefined);
    }).catch((error: unknown) => {
      log.warn("push.failed", { error: String((error as Error)?.message ?? error) });
      return 0;
    });
    if (status >= 200 && status < 300) return "sent";
    if (status === 404 || status === 410) return "gone";
    if (status !== 0) log.warn("push.refused_by_service", { status });
    return "failed";
  }
}
