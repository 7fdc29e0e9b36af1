/**
 * Web Push: telling members of a conversation about a message while none of their pages is in front
 * of them, the way their notification level there asks (see `worthTelling`).
 *
 * Each message stored on this instance is noticed here (so with several instances each message is
 * pushed once, by the instance that stored it). Every FLUSH_MS the messages noticed are matched
 * against the subscriptions of their conversations' members (one store query), and each member and
 * conversation with something to tell gets one push, collapsed: the newest message and how many it
 * stands for. Pushes per member and conversation are one, then one per CONVERSATION_INTERVAL_S (at most
 * 3 a minute, across instances: the limiter is shared), and per account PER_ACCOUNT a minute; what a
 * limit holds back goes out, still collapsed, once it allows, if its member has not looked meanwhile
 * (a page of theirs came to the front: `looked`), with its text as it is then (deleted: not at all).
 * A subscription the push service says is gone (404, 410) is forgotten.
 */
import type { Conversation } from "../domain/model";
import type { Logger } from "../log";
import type { PushSender } from "../ports/push";
import type { PushSubscriptionRecord, PushTarget, Store } from "../ports/store";
import { PUSH_TEXT_LENGTH, worthTelling, type PushPayload } from "../protocol";
import type { Rate, RateLimit } from "../security/rate";

/** How long noticed messages gather before they are matched with subscriptions (one query per flush). */
export const FLUSH_MS = 500;
/** Per member and conversation: one push, then one per this many seconds. */
export const CONVERSATION_INTERVAL_S = 20;
export const CONVERSATION_RATE: Rate = { perSecond: 1 / CONVERSATION_INTERVAL_S, burst: 1 };
/** Per account, across its conversations: this many a minute (a burst of a third of it). */
export const PER_ACCOUNT = 30;
export const ACCOUNT_RATE: Rate = { perSecond: PER_ACCOUNT / 60, burst: PER_ACCOUNT / 3 };
/** A push the browser's service has not delivered by then is dropped (the page has it anyway). */
const TTL_SECONDS = 3600;
/** Messages waiting for a flush, and members waiting for a limit: beyond these, new ones are not pushed. */
const MAX_QUEUED = 10_000;
const MAX_PENDING = 10_000;
/** Pushes in flight at once. */
const MAX_IN_FLIGHT = 32;
/** Subscriptions an account keeps (its newest): a browser each. */
export const MAX_SUBSCRIPTIONS_PER_ACCOUNT = 10;

/** A message stored here, as a push needs it. */
export interface Noticed {
  id: number;
  conversation: Conversation;
  senderId: number;
  senderName: string;
  body: string;
  mentions: readonly number[];
}

interface Pending {
  accountId: number;
  conversation: Conversation;
  latest: Noticed;
  count: number;
  mention: boolean;
  subscriptions: PushSubscriptionRecord[];
  /** Held back by a limit: tried again then. */
  timer: Timer | undefined;
  /** Being tried now. */
  busy: boolean;
  /** It waited for a limit: its subscriptions and its message are read again before it goes. */
  stale: boolean;
  /** The conversation's limit let it through already (the account's held it back). */
  paid: boolean;
}

export interface PushDeps {
  store: Store;
  sender: PushSender;
  log: Logger;
  /** Whether any socket of the account, on any instance, has its page in front of its reader. */
  visible(accountId: number): boolean;
  perConversation: RateLimit<string>;
  perAccount: RateLimit<number>;
}

export class PushService {
  private queue: Noticed[] = [];
  private flushTimer: Timer | undefined;
  private readonly pending = new Map<string, Pending>();
  /** Account → its keys in `pending`. */
  private readonly pendingOf = new Map<number, Set<string>>();
  private readonly work = new Set<Promise<void>>();
  private inFlight = 0;
  private readonly waiting: Array<() => void> = [];
  private stopped = false;
  private droppedAt = 0;

  constructor(private readonly deps: PushDeps) {}

  /** A message was stored here. */
  noticed(message: Noticed): void {
    if (this.stopped) return;
    if (this.queue.length >= MAX_QUEUED) return this.dropped("queue");
    this.queue.push(message);
    this.flushTimer ??= setTimeout(() => {
      this.flushTimer = undefined;
      this.track(this.flush());
    }, FLUSH_MS);
  }

  /** Everything noticed so far matched, and every push that may go now sent (tests). */
  async settled(): Promise<void> {
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
      this.track(this.flush());
    }
    while (this.work.size > 0) await Promise.all([...this.work]);
  }

  /** The account has a page in front of it again: what was held back for it is seen, not pushed. */
  looked(accountId: number): void {
    for (const key of this.pendingOf.get(accountId) ?? []) {
      const entry = this.pending.get(key);
      if (entry && !entry.busy) this.forget(key, entry);
    }
  }

  /** Stops taking messages; what is noticed already is matched and sent (waiting at most `waitMs`), the rest dropped. */
  async stop(waitMs = 0): Promise<void> {
    this.stopped = true;
    if (waitMs > 0) await Promise.race([this.settled(), Bun.sleep(waitMs)]);
    clearTimeout(this.flushTimer);
    for (const entry of this.pending.values()) clearTimeout(entry.timer);
    this.pending.clear();
    this.pendingOf.clear();
    this.queue = [];
  }

  private forget(key: string, entry: Pending): void {
    clearTimeout(entry.timer);
    entry.timer = undefined;
    if (this.pending.get(key) === entry) this.pending.delete(key);
    const keys = this.pendingOf.get(entry.accountId);
    keys?.delete(key);
    if (keys?.size === 0) this.pendingOf.delete(entry.accountId);
  }

  private track(promise: Promise<void>): void {
    const tracked = promise
      .catch((error: unknown) =>
        this.deps.log.warn("push.failed", { error: String((error as Error)?.message ?? error) }),
      )
      .finally(() => this.work.delete(tracked));
    this.work.add(tracked);
  }

  private dropped(what: string): void {
    const now = Date.now();
    if (now - this.droppedAt < 60_000) return;
    this.droppedAt = now;
    this.deps.log.warn("push.dropped", { full: what });
  }

  private async flush(): Promise<void> {
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    const targets = await this.deps.store.pushTargets([...new Set(batch.map((m) => m.conversation.id))]);
    const byConversation = groupTargets(targets);
    const touched = new Set<string>();
    for (const message of batch) {
      const members = byConversation.get(message.conversation.id);
      if (!members) continue;
      const direct = message.conversation.kind === "direct";
      for (const [accountId, { level, subscriptions }] of members) {
        if (accountId === message.senderId) continue;
        const mentioned = message.mentions.includes(accountId);
        if (!worthTelling(level, direct, mentioned) || this.deps.visible(accountId)) continue;
        const key = `${accountId}:${message.conversation.id}`;
        let entry = this.pending.get(key);
        if (!entry) {
          if (this.pending.size >= MAX_PENDING) {
            this.dropped("pending");
            continue;
          }
          entry = {
            accountId,
            conversation: message.conversation,
            latest: message,
            count: 0,
            mention: false,
            subscriptions,
            timer: undefined,
            busy: false,
            stale: false,
            paid: false,
          };
          this.pending.set(key, entry);
          let keys = this.pendingOf.get(accountId);
          if (!keys) this.pendingOf.set(accountId, (keys = new Set()));
          keys.add(key);
        }
        // Flushes may finish out of order: the push shows the newest message.
        if (message.id >= entry.latest.id) entry.latest = message;
        entry.count++;
        entry.mention ||= mentioned;
        if (!entry.stale) entry.subscriptions = subscriptions;
        touched.add(key);
      }
    }
    for (const key of touched) {
      const entry = this.pending.get(key)!;
      if (!entry.timer && !entry.busy) this.track(this.attempt(key, entry));
    }
  }

  /** Sends a member's pending push for a conversation if the limits allow, else tries again when they will. */
  private async attempt(key: string, entry: Pending): Promise<void> {
    const { perConversation, perAccount, visible, store } = this.deps;
    entry.busy = true;
    try {
      if (visible(entry.accountId)) return this.forget(key, entry);
      let wait = entry.paid ? 0 : await perConversation.take(key);
      if (wait === 0) {
        entry.paid = true;
        wait = await perAccount.take(entry.accountId);
      }
      if (wait > 0) {
        if (this.stopped) return this.forget(key, entry);
        entry.stale = true;
        entry.timer = setTimeout(() => {
          entry.timer = undefined;
          this.track(this.attempt(key, entry));
        }, wait);
        return;
      }
      this.forget(key, entry);
      if (visible(entry.accountId)) return;
      if (entry.stale) {
        // It waited: what it says may have changed meanwhile (edited, deleted), and so may who gets it.
        const now = await store.message(entry.latest.id);
        if (!now || now.deletedAt !== null) return;
        entry.latest = { ...entry.latest, body: now.body };
        entry.subscriptions = await this.currentSubscriptions(entry);
      }
      const payload = pushPayload(entry);
      await Promise.all(entry.subscriptions.map((subscription) => this.sendOne(subscription, payload, entry)));
    } finally {
      entry.busy = false;
    }
  }

  /** The member's subscriptions now, and whether its level there still asks for this push. */
  private async currentSubscriptions(entry: Pending): Promise<PushSubscriptionRecord[]> {
    const mine = (await this.deps.store.pushTargets([entry.conversation.id])).filter(
      (target) => target.accountId === entry.accountId,
    );
    const level = mine[0]?.level;
    const direct = entry.conversation.kind === "direct";
    return level && worthTelling(level, direct, entry.mention) ? mine : [];
  }

  private async sendOne(subscription: PushSubscriptionRecord, payload: string, entry: Pending): Promise<void> {
    while (this.inFlight >= MAX_IN_FLIGHT) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.inFlight++;
    try {
      const outcome = await this.deps.sender.send({
        subscription,
        payload,
        topic: `c${entry.conversation.id}`,
        ttlSeconds: TTL_SECONDS,
      });
      if (outcome === "gone") {
        await this.deps.store.dropPushEndpoint(subscription.endpoint);
        this.deps.log.info("push.subscription_gone", { accountId: entry.accountId });
      }
    } finally {
      this.inFlight--;
      this.waiting.shift()?.();
    }
  }
}

/** Conversation → account → its level there and its subscriptions. */
const groupTargets = (targets: readonly PushTarget[]) => {
  const byConversation = new Map<
    number,
    Map<number, { level: PushTarget["level"]; subscriptions: PushSubscriptionRecord[] }>
  >();
  for (const { conversationId, accountId, level, endpoint, p256dh, auth } of targets) {
    let members = byConversation.get(conversationId);
    if (!members) byConversation.set(conversationId, (members = new Map()));
    let member = members.get(accountId);
    if (!member) members.set(accountId, (member = { level, subscriptions: [] }));
    member.subscriptions.push({ endpoint, p256dh, auth });
  }
  return byConversation;
};

/** What the service worker is told: the newest message, where, from whom, and how many this push stands for. */
const pushPayload = ({ latest, count, mention, conversation }: Pending): string => {
  const payload: PushPayload = {
    id: latest.id,
    ...(conversation.kind === "room" ? { room: conversation.name! } : { with: latest.senderId }),
    from: latest.senderName,
    text: [...latest.body].slice(0, PUSH_TEXT_LENGTH).join(""),
    count,
    mention,
  };
  return JSON.stringify(payload);
};
