/**
 * The PushSender adapter: `web-push` encrypts the payload for the browser (RFC 8291, aes128gcm) and
 * signs the request for the push service (VAPID, RFC 8292); the request itself is sent here, through
 * a lookup that refuses non-public addresses (see endpoint.ts), with no redirects followed and a
 * 10 s deadline for the whole exchange. Extra CAs come from NODE_EXTRA_CA_CERTS as for any TLS client.
 */
import https from "node:https";
import webpush from "web-push";
import type { OutgoingPush, PushOutcome, PushSender } from "../ports/push";
import type { VapidKeys } from "../ports/store";
import type { Logger } from "../log";
import { endpointProblem, guardedLookup } from "./endpoint";

/** A push service that has not answered in full by then is cut off (the next message tries again). */
const SEND_DEADLINE_MS = 10_000;

/** Why a send could not be made at all: the subscription cannot work (bad keys, an address turned private). */
class Unusable extends Error {}

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
    // The URL (an address written in it never goes through the lookup); a name's addresses are checked as it resolves.
    const problem = endpointProblem(subscription.endpoint, allowPrivate, false);
    if (problem) {
      log.warn("push.refused", { problem });
      return "gone";
    }
    let details: ReturnType<typeof webpush.generateRequestDetails>;
    try {
      details = webpush.generateRequestDetails(
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
    } catch (error) {
      // Keys that encrypt nothing (not a point of the curve): the subscription can never work.
      log.warn("push.unusable", { error: String((error as Error)?.message ?? error) });
      return "gone";
    }
    const status = await new Promise<number>((resolve, reject) => {
      const request = https.request(
        details.endpoint,
        {
          method: details.method,
          headers: details.headers,
          lookup: this.lookup as never,
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
      // A deadline for the whole exchange (an idle timeout would let a trickling answer hold it forever).
      const deadline = setTimeout(() => request.destroy(new Error("push service too slow")), SEND_DEADLINE_MS);
      request.on("close", () => clearTimeout(deadline));
      request.on("error", (error: NodeJS.ErrnoException) =>
        reject(error.code === "EPUSHPRIVATE" ? new Unusable(error.message) : error),
      );
      request.end(details.body ?? undefined);
    }).catch((error: unknown) => {
      log.warn("push.failed", { error: String((error as Error)?.message ?? error) });
      return error instanceof Unusable ? -1 : 0;
    });
    if (status >= 200 && status < 300) return "sent";
    // Gone (404, 410), or signed for another key (403: the server's key changed): the browser subscribes again.
    if (status === 404 || status === 410 || status === 403 || status === -1) return "gone";
    if (status !== 0) log.warn("push.refused_by_service", { status });
    return "failed";
  }
}
