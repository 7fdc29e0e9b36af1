/**
 * Search, the use case: a query (domain/search.ts) over the conversations an account can read — its
 * rooms and direct conversations, as its memberships say now — newest first, each result with the
 * matches marked; and the background indexer that brings new messages (and, after an upgrade, every
 * older one) into the index, a bounded step at a time, while the server serves.
 */
import { parseQuery, snippet, type SearchPlan } from "../domain/search";
import { nameKey } from "../domain/names";
import { shownName, type MembershipView } from "../domain/model";
import type { SearchScope, Store } from "../ports/store";
import type { RateLimit } from "../security/rate";
import type { Logger } from "../log";
import type { SearchHit } from "../protocol";
import { fileRefOf } from "../chat/codec";

/** Results per page. */
export const SEARCH_PAGE_SIZE = 20;

export type SearchOutcome =
  | { ok: true; hits: SearchHit[]; next?: number }
  | { ok: false; status: 400 | 403 | 429; error: string; message: string; retryMs?: number };

export class SearchService {
  constructor(private readonly deps: { store: Store; limiter: RateLimit<number>; log: Logger }) {}

  async search(accountId: number, query: string, before?: number): Promise<SearchOutcome> {
    const parsed = parseQuery(query);
    if (!parsed.ok) return { ok: false, status: 400, error: "invalid_query", message: parsed.reason };
    const retryMs = await this.deps.limiter.take(accountId);
    if (retryMs > 0)
      return { ok: false, status: 429, error: "rate_limited", message: "Too many searches; wait a moment", retryMs };
    const { store } = this.deps;
    const plan = parsed.plan;
    const memberships = await store.conversationsOf(accountId);
    const scope = await this.scope(plan, memberships);
    if ("status" in scope) return scope;
    const page = await store.search(plan, scope, before ?? Number.MAX_SAFE_INTEGER, SEARCH_PAGE_SIZE);
    const where = new Map(memberships.map((view) => [view.conversation.id, view]));
    const hits = page.messages.map((message): SearchHit => {
      const view = where.get(message.conversationId)!;
      // A file without a caption is shown (and marked) by its name.
      const { text, marks } = snippet(message.body || (message.file?.name ?? ""), plan);
      return {
        id: message.id,
        ...(view.conversation.kind === "room" ? { room: view.conversation.name! } : { with: view.peer!.id }),
        user: {
          type: message.sender.kind,
          id: message.sender.id,
          name: shownName(message.sender),
          image: message.sender.image,
        },
        ts: message.createdAt,
        text,
        marks,
        ...(message.editedAt === null ? {} : { editedAt: message.editedAt }),
        ...(message.file ? { file: fileRefOf(message.id, message.file) } : {}),
      };
    });
    return page.next === undefined ? { ok: true, hits } : { ok: true, hits, next: page.next };
  }

  /** The conversations a query looks in, and its filters; `in:` a room the account is not in is refused. */
  private async scope(
    plan: SearchPlan,
    memberships: ReadonlyArray<Pick<MembershipView, "conversation">>,
  ): Promise<SearchScope | Extract<SearchOutcome, { ok: false }>> {
    const { filters } = plan;
    let conversationIds = memberships.map((view) => view.conversation.id);
    if (filters.in !== undefined) {
      const key = nameKey(filters.in);
      const room = memberships.find(
        (view) => view.conversation.kind === "room" && nameKey(view.conversation.name!) === key,
      );
      if (!room)
        return { ok: false, status: 403, error: "not_a_member", message: `You are not in a room "${filters.in}"` };
      conversationIds = [room.conversation.id];
    }
    const scope: SearchScope = { conversationIds };
    if (filters.from !== undefined) {
      const sender = await this.deps.store.accountByKey(nameKey(filters.from));
      // Nobody of that name: nothing from them.
      scope.senderId = sender?.id ?? -1;
    }
    if (filters.after !== undefined) scope.after = filters.after;
    if (filters.before !== undefined) scope.before = filters.before;
    return scope;
  }
}

/** Messages indexed per step; a step takes a few milliseconds of the event loop. */
const INDEX_BATCH = 100;
/**
 * While messages keep being stored, this many per step: a step of 100 held the loop ≈ 3 ms every
 * 25 ms under a saturating chat (the chat's p99 is a few ms); the backlog is caught up once it calms.
 */
const INDEX_BATCH_BUSY = 20;
/** Steps follow each other this closely while behind (the rest of the time is the chat's). */
const INDEX_BEHIND_MS = 25;
/** And this often once caught up. */
const INDEX_IDLE_MS = 250;
/** A backlog of more than this many ids is logged, with its progress. */
const BACKLOG_LOGGED = 5000;
/** Progress is logged this often while catching up (e.g. the first run after an upgrade). */
const PROGRESS_EVERY_MS = 10_000;

/** Brings the messages not indexed yet into the search index, step by step, until stopped. */
export class SearchIndexer {
  private timer: Timer | undefined;
  private stopped = false;
  private running: Promise<void> | undefined;
  private loggedAt = 0;
  private catchingUp = false;

  constructor(
    private readonly deps: {
      store: Store;
      log: Logger;
      /** Whether messages were stored since it was last asked (the chat is busy: smaller steps). */
      storing?: () => boolean;
    },
  ) {}

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  /** Indexes until caught up (tests). A position held by another indexer is waited for, not taken as done. */
  async drain(): Promise<void> {
    for (;;) {
      await this.running;
      const progress = await this.deps.store.indexMessages(INDEX_BATCH);
      if (progress.busy) await Bun.sleep(5);
      else if (progress.indexed === 0) return;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.step().finally(() => (this.running = undefined));
    }, ms);
  }

  private async step(): Promise<void> {
    const { store, log } = this.deps;
    let behind = false;
    try {
      const batch = this.deps.storing?.() ? INDEX_BATCH_BUSY : INDEX_BATCH;
      const progress = await store.indexMessages(batch);
      behind = progress.indexed === batch;
      const now = Date.now();
      if (behind && !this.catchingUp) {
        // A backlog worth telling about (after an upgrade): its progress goes to the log.
        const last = await store.lastMessageId();
        if (last - progress.upTo > BACKLOG_LOGGED) {
          this.catchingUp = true;
          this.loggedAt = now;
          log.info("search.indexing", { upTo: progress.upTo, last });
        }
      } else if (behind && now - this.loggedAt >= PROGRESS_EVERY_MS) {
        this.loggedAt = now;
        log.info("search.indexing", { upTo: progress.upTo, last: await store.lastMessageId() });
      } else if (!behind && this.catchingUp) {
        this.catchingUp = false;
        log.info("search.indexed", { upTo: progress.upTo });
      }
    } catch (error) {
      log.warn("search.index_failed", { error: String((error as Error)?.message ?? error) });
    }
    this.schedule(behind ? INDEX_BEHIND_MS : INDEX_IDLE_MS);
  }
}
