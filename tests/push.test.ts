/**
 * Web Push end to end, on both stores: browsers subscribe over HTTP, and what the server pushes
 * reaches a push service of the test's own (HTTPS on 127.0.0.1), where it is decrypted with the
 * browser's keys and its VAPID signature checked. Who is pushed to (levels, visibility, the sender
 * never), collapsing and the limits, forgetting subscriptions (410, sign-out, DELETE), refusals, and
 * the SSRF guard. (A real browser vendor's push service is not reachable from these machines.)
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Config } from "../src/config";
import { createLogger } from "../src/log";
import type { PushPayload } from "../src/protocol";
import { endpointProblem, guardedLookup, isPrivateAddress } from "../src/push/endpoint";
import { generateVapidKeys, WebPushSender } from "../src/push/web-push";
import { MAX_SUBSCRIPTIONS_PER_ACCOUNT, PushService, type Noticed } from "../src/services/push";
import type { OutgoingPush } from "../src/ports/push";
import type { PushTarget, Store } from "../src/ports/store";
import { KeyedRateLimiter, localRate } from "../src/security/rate";
import { signIn, testConfig, trackApps, within, type Client, type Running, type SignedIn } from "./helpers";
import { storeFlavours } from "./postgres";
import { TestBrowser, TestPushService, vapidClaims } from "./push-service";

const service = new TestPushService();
afterAll(() => service.dispose());
const flavours = storeFlavours();

const apps = trackApps();
/** An app that pushes to the test's push service (its CA trusted; its loopback address allowed). */
const startWith = (overrides: Partial<Config>): Promise<Running> =>
  apps.start({ pushAllowPrivateEndpoints: true, ...overrides }, { pushCa: service.ca });

const connect = async (running: Running, who: SignedIn): Promise<Client> => {
  const socket = await apps.connect(running, who.cookie);
  await socket.next("history", (f) => f.room === "lobby");
  return socket;
};

const subscribe = (running: Running, who: SignedIn | undefined, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${running.base}/push/subscribe`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(who ? { cookie: who.cookie } : {}), ...headers },
    body: JSON.stringify(body),
  });

const unsubscribe = (running: Running, who: SignedIn, endpoint: string) =>
  fetch(`${running.base}/push/subscribe`, {
    method: "DELETE",
    headers: { "content-type": "application/json", cookie: who.cookie },
    body: JSON.stringify({ endpoint }),
  });

const publicKey = async (running: Running): Promise<string> =>
  ((await (await fetch(`${running.base}/push/key`)).json()) as { data: string }).data;

/** Sends a frame that stores a message and waits for its ack; then every push it causes has been tried. */
const say = async (running: Running, socket: Client, frame: Record<string, unknown>): Promise<number> => {
  const cid = `c${Math.random().toString(36).slice(2)}`;
  socket.send({ ...frame, cid });
  const ack = await socket.next("ack", (f) => f.data.cid === cid);
  await running.teahouse.push!.settled();
  return ack.data.id;
};

describe.each(flavours)("%s", (_name, configure) => {
  const start = async (overrides: Partial<Config> = {}) => startWith({ ...(await configure()), ...overrides });

  test("a mention while away is pushed, encrypted for that browser and signed with the server's key; a page in front gets none", async () => {
    const running = await start();
    const alice = await signIn(running.base, "alice");
    const bob = await signIn(running.base, "bob");
    const browser = new TestBrowser(service, "bob");
    expect((await subscribe(running, bob, browser.subscription)).status).toBe(201);
    const a = await connect(running, alice);
    const b = await connect(running, bob);
    // bob's page is in front of him: nothing is pushed.
    await say(running, a, { type: "chat", data: "@bob lunch?" });
    expect(service.at(browser.path)).toHaveLength(0);
    // He switches tabs: the next mention is pushed.
    b.send({ type: "visibility", visible: false });
    await Bun.sleep(50);
    const id = await say(running, a, { type: "chat", data: "@bob are you there? 茶馆见" });
    const [push] = service.at(browser.path);
    expect(push).toBeDefined();
    const payload = browser.read(push!) as PushPayload;
    expect(payload).toEqual({
      id,
      room: "lobby",
      from: "alice",
      text: "@bob are you there? 茶馆见",
      count: 1,
      mention: true,
    });
    expect(push!.headers["content-encoding"]).toBe("aes128gcm");
    expect(push!.headers.topic).toMatch(/^c\d+$/);
    expect(Number(push!.headers.ttl)).toBeGreaterThan(0);
    expect(push!.body.length).toBeLessThan(4096);
    const claims = vapidClaims(push!, await publicKey(running));
    expect(claims.aud).toBe(service.origin);
    expect(claims.sub).toBe(testConfig().pushSubject);
    expect(claims.exp * 1000).toBeGreaterThan(Date.now());
    // Back in front: nothing more.
    b.send({ type: "visibility", visible: true });
    await Bun.sleep(50);
    await say(running, a, { type: "private", to: bob.user.id, data: "psst" });
    expect(service.at(browser.path)).toHaveLength(1);
  });

  test("levels decide: a plain room message only at 'all', a direct message by default, nothing at 'none', never one's own", async () => {
    const running = await start();
    const alice = await signIn(running.base, "alice");
    const bob = await signIn(running.base, "bob");
    const bobs = new TestBrowser(service, "bob");
    const alices = new TestBrowser(service, "alice");
    await subscribe(running, bob, bobs.subscription);
    await subscribe(running, alice, alices.subscription);
    const a = await connect(running, alice);
    // bob has no page open at all.
    await say(running, a, { type: "chat", data: "plain words in the lobby" });
    expect(service.at(bobs.path)).toHaveLength(0);
    const direct = await say(running, a, { type: "private", to: bob.user.id, data: "just for you" });
    expect(service.at(bobs.path).map((push) => bobs.read(push))).toEqual([
      { id: direct, with: alice.user.id, from: "alice", text: "just for you", count: 1, mention: false },
    ]);
    // bob asks for everything in the lobby (from another device: the level is the account's).
    const b = await connect(running, bob);
    b.send({ type: "notify", room: "lobby", level: "all" });
    await b.next("notify");
    b.close();
    await within(2000, () => !running.teahouse.hub.registry.isOnline(bob.user.id));
    const plain = await say(running, a, { type: "chat", data: "x".repeat(150) });
    const last = bobs.read(service.at(bobs.path).at(-1)!) as PushPayload;
    expect(last.id).toBe(plain);
    expect([...last.text]).toHaveLength(100);
    // Silenced: nothing, not even a mention (in a room never pushed before: no limit in the way).
    const a2 = a;
    a2.send({ type: "join", room: "quiet" });
    await a2.next("history", (f) => f.room === "quiet");
    const b2 = await connect(running, bob);
    b2.send({ type: "join", room: "quiet" });
    await b2.next("history", (f) => f.room === "quiet");
    b2.send({ type: "notify", room: "quiet", level: "none" });
    await b2.next("notify");
    b2.close();
    await within(2000, () => !running.teahouse.hub.registry.isOnline(bob.user.id));
    const before = service.at(bobs.path).length;
    await say(running, a, { type: "chat", room: "quiet", data: "@bob still there?" });
    expect(service.at(bobs.path)).toHaveLength(before);
    // alice's own messages never reach alice's browser, hidden page or not.
    a.send({ type: "visibility", visible: false });
    await Bun.sleep(50);
    await say(running, a, { type: "chat", room: "quiet", data: "talking to myself" });
    expect(service.at(alices.path)).toHaveLength(0);
  });

  test("a burst is one push that counts it; more waits for the limit; a 410 forgets the subscription", async () => {
    const running = await start();
    const alice = await signIn(running.base, "alice");
    const bob = await signIn(running.base, "bob");
    const browser = new TestBrowser(service, "bob");
    await subscribe(running, bob, browser.subscription);
    const a = await connect(running, alice);
    for (let i = 0; i < 10; i++) a.send({ type: "private", to: bob.user.id, data: `burst ${i}`, cid: `b${i}` });
    await within(5000, () => a.frames.filter((f) => f.type === "ack").length >= 10);
    await running.teahouse.push!.settled();
    const pushes = service.at(browser.path).map((push) => browser.read(push) as PushPayload);
    expect(pushes).toHaveLength(1);
    expect(pushes[0]).toMatchObject({ text: "burst 9", count: 10 });
    // Within the conversation's interval: held back, not sent (it goes once the limit allows).
    await say(running, a, { type: "private", to: bob.user.id, data: "one more" });
    expect(service.at(browser.path)).toHaveLength(1);
    // The push service says the subscription is gone: it is forgotten.
    service.answers.set(browser.path, 410);
    await say(running, a, { type: "chat", data: "@bob in the lobby" });
    expect(service.at(browser.path)).toHaveLength(2);
    expect(await running.teahouse.store.pushTargets([1])).toEqual([]);
  });

  test("subscribing: refusals with reasons; a repeat replaces; DELETE and sign-out remove it; the key is the store's", async () => {
    const extra = await configure();
    const dataDir = extra.databaseUrl ? ":memory:" : mkdtempSync(join(tmpdir(), "teahouse-push-"));
    try {
      const running = await startWith({ ...extra, dataDir });
      const bob = await signIn(running.base, "bob");
      const browser = new TestBrowser(service, "bob");
      const good = browser.subscription;
      const refusal = async (response: Response) => ({
        status: response.status,
        ...((await response.json()) as object),
      });
      expect(await refusal(await subscribe(running, undefined, good))).toMatchObject({ status: 401 });
      expect(await refusal(await subscribe(running, bob, good, { origin: "https://evil.example" }))).toMatchObject({
        status: 403,
        error: "forbidden_origin",
      });
      for (const body of [
        {},
        { endpoint: good.endpoint },
        { ...good, endpoint: good.endpoint.replace("https:", "http:") },
        { ...good, endpoint: "not a url" },
        { ...good, endpoint: `${good.endpoint}/${"x".repeat(2100)}` },
        { ...good, keys: { ...good.keys, p256dh: Buffer.alloc(65, 4).subarray(1).toString("base64url") } },
        // 65 bytes starting 0x04, but not a point of the curve.
        { ...good, keys: { ...good.keys, p256dh: Buffer.alloc(65, 4).toString("base64url") } },
        { ...good, keys: { ...good.keys, auth: "short" } },
        { ...good, keys: { ...good.keys, auth: "not base64!" } },
      ]) {
        const answer = await refusal(await subscribe(running, bob, body));
        expect(answer).toMatchObject({ status: 400, error: "invalid_subscription" });
        expect(typeof (answer as { data?: unknown }).data).toBe("string");
      }
      expect((await subscribe(running, bob, good)).status).toBe(201);
      // The same endpoint again (keys rotated): one subscription, the new keys.
      const again = new TestBrowser(service, "bob-again");
      expect((await subscribe(running, bob, { ...again.subscription, endpoint: good.endpoint })).status).toBe(201);
      const conversations = [1];
      expect((await running.teahouse.store.pushTargets(conversations)).map((t) => t.p256dh)).toEqual([
        again.subscription.keys.p256dh,
      ]);
      // Another account cannot take (or break) bob's browser's endpoint.
      const carol = await signIn(running.base, "carol");
      expect(
        await refusal(await subscribe(running, carol, { ...again.subscription, endpoint: good.endpoint })),
      ).toMatchObject({
        status: 409,
        error: "subscription_taken",
      });
      expect((await unsubscribe(running, carol, good.endpoint)).status).toBe(404);
      expect((await unsubscribe(running, bob, good.endpoint)).status).toBe(200);
      expect((await unsubscribe(running, bob, good.endpoint)).status).toBe(404);
      expect(await running.teahouse.store.pushTargets(conversations)).toEqual([]);
      // An account keeps its 10 newest browsers.
      const { store } = running.teahouse;
      const session = await store.createSession(bob.user.id, Date.now());
      const many = Array.from(
        { length: MAX_SUBSCRIPTIONS_PER_ACCOUNT + 1 },
        (_, i) => new TestBrowser(service, `m${i}`),
      );
      for (const [i, one] of many.entries()) {
        const { endpoint, keys } = one.subscription;
        await store.savePushSubscription(
          session.sid,
          bob.user.id,
          { endpoint, ...keys },
          i,
          MAX_SUBSCRIPTIONS_PER_ACCOUNT,
        );
      }
      const kept = (await store.pushTargets(conversations)).map((t) => t.endpoint).sort();
      expect(kept).toEqual(
        many
          .slice(1)
          .map((one) => one.endpoint)
          .sort(),
      );
      await store.endSession(session.sid);
      // Signing out ends the session and its subscription with it.
      await subscribe(running, bob, good);
      expect(await running.teahouse.store.pushTargets(conversations)).toHaveLength(1);
      await fetch(`${running.base}/wsout`, { method: "POST", headers: { cookie: bob.cookie } });
      expect(await running.teahouse.store.pushTargets(conversations)).toEqual([]);
      // The VAPID key is generated once and kept in the store: the same after a restart, and for
      // another instance on the same database.
      const key = await publicKey(running);
      expect(Buffer.from(key, "base64url")).toHaveLength(65);
      // The service worker, at the root, allowed to load nothing.
      const worker = await fetch(`${running.base}/sw.js`);
      expect(worker.status).toBe(200);
      expect(worker.headers.get("content-type")).toContain("javascript");
      expect(worker.headers.get("content-security-policy")).toBe("default-src 'none'; img-src 'self'");
      expect(await worker.text()).toContain("showNotification");
      if (extra.databaseUrl) {
        const other = await startWith({ databaseUrl: extra.databaseUrl });
        expect(await publicKey(other)).toBe(key);
      } else {
        await running.stop();
        apps.forget(running);
        const restarted = await startWith({ dataDir });
        expect(await publicKey(restarted)).toBe(key);
      }
    } finally {
      if (dataDir !== ":memory:") rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe("the endpoint guard (SSRF)", () => {
  test("only public https endpoints, unless PUSH_ALLOW_PRIVATE_ENDPOINTS; never plain http", () => {
    for (const ip of [
      "127.0.0.1",
      "10.1.2.3",
      "172.31.255.255",
      "192.168.0.1",
      "169.254.169.254",
      "100.64.0.1",
      "0.0.0.0",
      "224.0.0.1",
      "255.255.255.255",
      "::1",
      "::",
      "fe80::1",
      "fd00::1",
      "fc12:3456::1",
      "ff02::1",
      "::ffff:127.0.0.1",
      "::ffff:7f00:1",
      "64:ff9b::a00:1",
      "2002:7f00:1::",
      "::7f00:1",
      "::127.0.0.1",
      "192.0.2.1",
      "198.51.100.7",
      "203.0.113.9",
      "2001::1",
      "2001:db8::1",
      "100::1",
      "::ffff:0:7f00:1",
    ])
      expect({ ip, private: isPrivateAddress(ip) }).toEqual({ ip, private: true });
    for (const ip of ["8.8.8.8", "142.250.74.46", "172.32.0.1", "2a00:1450:4001:80b::200a", "::ffff:8.8.8.8"])
      expect({ ip, private: isPrivateAddress(ip) }).toEqual({ ip, private: false });
    const refused = [
      "http://fcm.googleapis.com/fcm/send/x",
      "https://127.0.0.1/x",
      "https://[::1]/x",
      "https://169.254.169.254/latest/meta-data",
      "https://localhost/x",
      "https://push.localhost/x",
      "https://printer.local/x",
      "https://user:pass@fcm.googleapis.com/x",
      "ftp://fcm.googleapis.com/x",
      "https://[::127.0.0.1]/x",
      "https://0x7f.1/x",
      "https://2130706433/x",
      "https://0177.0.0.1/x",
    ];
    for (const endpoint of refused)
      expect({ endpoint, ok: endpointProblem(endpoint, false) }).not.toEqual({ endpoint, ok: undefined });
    expect(endpointProblem("https://fcm.googleapis.com/fcm/send/abc", false)).toBeUndefined();
    expect(endpointProblem("https://updates.push.services.mozilla.com/wpush/v2/abc", false)).toBeUndefined();
    expect(endpointProblem("https://127.0.0.1:8443/x", true)).toBeUndefined();
    expect(endpointProblem("http://127.0.0.1:8443/x", true)).toBe("endpoint must be an https: URL");
  });

  test("a name that resolves to a private address is refused when sending, not only when subscribing", async () => {
    const lookup = guardedLookup(false);
    const outcome = await new Promise<string>((resolve) =>
      lookup("localhost", { all: true }, (error) => resolve(error ? String(error.code) : "connected")),
    );
    expect(outcome).toBe("EPUSHPRIVATE");
    const allowed = await new Promise<string>((resolve) =>
      guardedLookup(true)("localhost", { all: true }, (error, addresses) =>
        resolve(error ? String(error.code) : (addresses as Array<{ address: string }>)[0]!.address),
      ),
    );
    expect(["127.0.0.1", "::1"]).toContain(allowed);
  });

  test("sending, the guard holds too: a loopback address or name is refused and nothing reaches it; bad keys are given up", async () => {
    const keys = generateVapidKeys();
    const sender = (allowPrivate: boolean) =>
      new WebPushSender({
        vapid: async () => keys,
        subject: "mailto:a@b.example",
        allowPrivate,
        log: createLogger("silent"),
        ca: service.ca,
      });
    const browser = new TestBrowser(service, "guarded");
    const push = (endpoint: string) => ({
      subscription: { endpoint, p256dh: browser.subscription.keys.p256dh, auth: browser.subscription.keys.auth },
      payload: "{}",
      topic: "c1",
      ttlSeconds: 60,
    });
    const port = new URL(service.origin).port;
    expect(await sender(false).send(push(browser.endpoint))).toBe("gone");
    expect(await sender(false).send(push(`https://localhost:${port}${browser.path}`))).toBe("gone");
    expect(service.at(browser.path)).toHaveLength(0);
    expect(await sender(true).send(push(browser.endpoint))).toBe("sent");
    expect(service.at(browser.path)).toHaveLength(1);
    const broken = {
      ...push(browser.endpoint),
      subscription: { ...push(browser.endpoint).subscription, p256dh: Buffer.alloc(65, 4).toString("base64url") },
    };
    expect(await sender(true).send(broken)).toBe("gone");
    expect(service.at(browser.path)).toHaveLength(1);
  });

  test("an app without the allowance refuses a loopback endpoint at subscription", async () => {
    const running = await startWith({ pushAllowPrivateEndpoints: false });
    const bob = await signIn(running.base, "bob");
    const response = await subscribe(running, bob, new TestBrowser(service, "bob").subscription);
    expect(response.status).toBe(400);
    expect(((await response.json()) as { data: string }).data).toBe("endpoint is on a private network");
  });
});

describe("collapsing and limits (the push service's rules, with a fast clock)", () => {
  const conversation = { id: 7, kind: "direct" as const, name: null, pair: [1, 2] as [number, number], createdAt: 0 };
  const message = (id: number, body = `m${id}`): Noticed => ({
    id,
    conversation,
    senderId: 1,
    senderName: "alice",
    body,
    mentions: [],
  });
  const setup = (intervalMs: number, accountRate = { perSecond: 1000, burst: 1000 }) => {
    const sent: Array<{ at: number; payload: PushPayload }> = [];
    let visible = false;
    const targets: PushTarget[] = [8, 7, 9].map((conversationId) => ({
      conversationId,
      accountId: 2,
      level: "all",
      endpoint: "https://push.example/2",
      p256dh: "k",
      auth: "a",
    }));
    /** Messages as the store has them now (absent: as noticed). */
    const stored = new Map<number, { body: string; deletedAt: number | null }>();
    const store = {
      pushTargets: async (ids: readonly number[]) => targets.filter((t) => ids.includes(t.conversationId)),
      dropPushEndpoint: async () => {},
      message: async (id: number) => stored.get(id) ?? { body: `m${id}`, deletedAt: null },
    } as unknown as Store;
    const push = new PushService({
      store,
      log: createLogger("silent"),
      sender: {
        send: async (outgoing: OutgoingPush) => {
          sent.push({ at: Date.now(), payload: JSON.parse(outgoing.payload) as PushPayload });
          return "sent";
        },
      },
      visible: () => visible,
      perConversation: localRate(new KeyedRateLimiter<string>({ perSecond: 1000 / intervalMs, burst: 1 })),
      perAccount: localRate(new KeyedRateLimiter<number>(accountRate)),
    });
    return { push, sent, stored, setVisible: (on: boolean) => (visible = on) };
  };

  test("messages spread over time: one push per interval at most, and every message counted in one", async () => {
    const { push, sent } = setup(200);
    const startedAt = Date.now();
    for (let i = 1; i <= 20; i++) {
      push.noticed(message(i));
      await push.settled();
      await Bun.sleep(50);
    }
    await Bun.sleep(300);
    await push.settled();
    const elapsed = Date.now() - startedAt;
    expect(sent.length).toBeLessThanOrEqual(Math.ceil(elapsed / 200) + 1);
    expect(sent.length).toBeGreaterThanOrEqual(3);
    expect(sent.reduce((sum, push) => sum + push.payload.count, 0)).toBe(20);
    expect(sent.at(-1)!.payload.id).toBe(20);
    for (let i = 1; i < sent.length; i++) expect(sent[i]!.at - sent[i - 1]!.at).toBeGreaterThanOrEqual(150);
    await push.stop();
  });

  test("what a limit held back is not pushed if its reader looked meanwhile (and hid the page again)", async () => {
    const { push, sent, setVisible } = setup(300);
    push.noticed(message(1));
    await push.settled();
    push.noticed(message(2));
    await push.settled();
    expect(sent).toHaveLength(1);
    // A page comes to the front (the hub tells the service), then goes to the back again.
    setVisible(true);
    push.looked(2);
    setVisible(false);
    await Bun.sleep(400);
    await push.settled();
    expect(sent).toHaveLength(1);
    // Without a look, the held push goes once the limit allows.
    push.noticed(message(3));
    await push.settled();
    await Bun.sleep(400);
    await push.settled();
    expect(sent.map((s) => s.payload.id)).toEqual([1, 3]);
    await push.stop();
  });

  test("held back, a message deleted meanwhile is not pushed; one edited meanwhile is pushed as it is now", async () => {
    const { push, sent, stored } = setup(250);
    push.noticed(message(1));
    await push.settled();
    push.noticed(message(2, "secret plans"));
    await push.settled();
    stored.set(2, { body: "", deletedAt: Date.now() });
    await Bun.sleep(350);
    await push.settled();
    expect(sent.map((s) => s.payload.id)).toEqual([1]);
    push.noticed(message(3, "draft"));
    await push.settled();
    stored.set(3, { body: "final words", deletedAt: null });
    await Bun.sleep(350);
    await push.settled();
    expect(sent.map((s) => s.payload.text)).toEqual(["m1", "final words"]);
    await push.stop();
  });

  test("the account's limit holds pushes across its conversations; what it held goes when it refills", async () => {
    const { push, sent } = setup(10_000, { perSecond: 1000 / 300, burst: 2 });
    for (const [id, conversationId] of [
      [1, 7],
      [2, 8],
      [3, 9],
    ] as const)
      push.noticed({ ...message(id), conversation: { ...conversation, id: conversationId } });
    await push.settled();
    expect(sent).toHaveLength(2);
    // The third conversation's own limit let it through already: the account's refill alone sends it.
    await Bun.sleep(450);
    await push.settled();
    expect(sent.map((s) => s.payload.id).sort()).toEqual([1, 2, 3]);
    await push.stop();
  });
});
