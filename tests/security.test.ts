/**
 * Limits and the attack surface, from outside: socket limits at the upgrade,
 * sign-in and frame rate limits, CSRF, security headers and log hygiene.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { CHAT_SOCKET_PATH, CloseCode, ErrorCode } from "../src/protocol";
import { createLogger } from "../src/log";
import { KeyedRateLimiter, TokenBucket } from "../src/security/rate";
import { limitKey } from "../src/security/client-ip";
import { ConnectionGate } from "../src/security/gate";
import { FloodControl } from "../src/security/flood";
import { Client, signIn, startApp, type Running } from "./helpers";

const apps: Running[] = [];
const clients: Client[] = [];
const start = (overrides: Parameters<typeof startApp>[0] = {}, log?: Parameters<typeof startApp>[1]) => {
  const running = startApp(overrides, log);
  apps.push(running);
  return running;
};
const connect = async (running: Running, cookie: string, headers: Record<string, string> = {}) => {
  const client = await Client.connect(running.wsUrl, cookie, headers);
  clients.push(client);
  return client;
};
afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  for (const running of apps.splice(0)) await running.stop();
});

/** A hand-made upgrade request, to read the status and headers of a refusal. */
const upgrade = (running: Running, headers: Record<string, string>) =>
  fetch(`${running.base}${CHAT_SOCKET_PATH}`, {
    headers: {
      connection: "Upgrade",
      upgrade: "websocket",
      "sec-websocket-version": "13",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      ...headers,
    },
  });

describe("token buckets", () => {
  test("burst, then the refill rate, and a retry hint that is exact", () => {
    const bucket = new TokenBucket({ perSecond: 10, burst: 20 }, 0);
    for (let i = 0; i < 20; i++) expect(bucket.take(0)).toBe(0);
    expect(bucket.take(0)).toBe(100); // one token every 100 ms
    expect(bucket.take(50)).toBe(50);
    expect(bucket.take(100)).toBe(0);
    expect(bucket.isFull(100)).toBe(false);
    expect(bucket.isFull(100 + 2000)).toBe(true);
    expect(bucket.take(10_000_000, 21)).toBe(Number.POSITIVE_INFINITY); // never, not negative
  });

  test("a keyed limiter forgets full buckets and never holds more than its maximum of keys", () => {
    let now = 0;
    const limiter = new KeyedRateLimiter<string>({ perSecond: 1, burst: 2 }, 100, () => now);
    expect(limiter.take("a")).toBe(0);
    expect(limiter.take("a")).toBe(0);
    expect(limiter.take("a")).toBeGreaterThan(0);
    expect(limiter.take("b")).toBe(0); // keys are independent
    for (let i = 0; i < 1000; i++) limiter.take(`flood-${i}`);
    expect(limiter.size).toBeLessThanOrEqual(100);
    now += 120_000;
    limiter.take("c");
    expect(limiter.size).toBe(1); // every other bucket was full again
  });

  test("flood control: per connection, per user across tabs, strikes; per-user state ends with the last socket", () => {
    let now = 0;
    const flood = new FloodControl(
      {
        perConnection: { perSecond: 1, burst: 3 },
        perUser: { perSecond: 1, burst: 4 },
        strikes: { perSecond: 1, burst: 2 },
      },
      () => now,
    );
    const tab1 = flood.guard(7);
    const tab2 = flood.guard(7);
    for (let i = 0; i < 3; i++) expect(tab1.check().ok).toBe(true);
    expect(tab1.check()).toEqual({ ok: false, retryMs: 1000, abusive: false });
    expect(tab2.check().ok).toBe(true); // the user's 4th
    expect(tab2.check()).toMatchObject({ ok: false, abusive: false }); // per-user bucket empty
    expect(tab1.check()).toMatchObject({ ok: false, abusive: false }); // strike 2 of 2
    expect(tab1.check()).toMatchObject({ ok: false, abusive: true });
    now += 1000;
    expect(tab2.check().ok).toBe(true);
    tab1.release();
    tab1.release(); // idempotent
    expect(flood.trackedUsers).toBe(1);
    tab2.release();
    expect(flood.trackedUsers).toBe(0);
  });
});

describe("client addresses", () => {
  test("limits count IPv4 per address and IPv6 per /64", () => {
    expect(limitKey("192.0.2.1")).toBe("192.0.2.1");
    expect(limitKey("::ffff:192.0.2.1")).toBe("192.0.2.1");
    expect(limitKey("2001:db8:1:2:aaaa::1")).toBe(limitKey("2001:0db8:0001:0002:bbbb:cccc:dddd:eeee"));
    expect(limitKey("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(limitKey("2001:db8:1:2::1")).not.toBe(limitKey("2001:db8:1:3::1"));
    expect(limitKey("::1")).toBe("0:0:0:0::/64");
  });
});

describe("socket limits at the upgrade", () => {
  test("too many sockets for one user: 429 with Retry-After before the upgrade; a closed one frees its place", async () => {
    const running = start({ maxSocketsPerUser: 2 });
    const alice = await signIn(running.base, "alice");
    await connect(running, alice.cookie);
    const second = await connect(running, alice.cookie);
    const refused = await upgrade(running, { cookie: alice.cookie });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(((await refused.json()) as { error: string }).error).toBe("too_many_sockets");
    second.close();
    await second.waitClose();
    await Bun.sleep(50);
    await connect(running, alice.cookie);
  });

  test("too many sockets from one address: counted per address, X-Forwarded-For believed only from a trusted proxy", async () => {
    const proxied = start({ maxSocketsPerIp: 2, trustProxy: ["127.0.0.1"] });
    const users = await Promise.all(["a", "b", "c"].map((name) => signIn(proxied.base, name)));
    await connect(proxied, users[0]!.cookie, { "x-forwarded-for": "198.51.100.1" });
    await connect(proxied, users[1]!.cookie, { "x-forwarded-for": "198.51.100.1" });
    expect((await upgrade(proxied, { cookie: users[2]!.cookie, "x-forwarded-for": "198.51.100.1" })).status).toBe(429);
    await connect(proxied, users[2]!.cookie, { "x-forwarded-for": "198.51.100.2" });

    // Exposed directly, a client cannot dodge the limit by claiming another address.
    const direct = start({ maxSocketsPerIp: 2 });
    const others = await Promise.all(["a", "b", "c"].map((name) => signIn(direct.base, name)));
    await connect(direct, others[0]!.cookie, { "x-forwarded-for": "198.51.100.1" });
    await connect(direct, others[1]!.cookie, { "x-forwarded-for": "198.51.100.2" });
    expect((await upgrade(direct, { cookie: others[2]!.cookie, "x-forwarded-for": "198.51.100.3" })).status).toBe(429);
  });

  test('server full: a new user gets 503 "server_full"; users already online may open more tabs', async () => {
    const running = start({ maxUsersOnline: 2 });
    const [alice, bob, carol] = await Promise.all(["alice", "bob", "carol"].map((name) => signIn(running.base, name)));
    await connect(running, alice!.cookie);
    const b = await connect(running, bob!.cookie);
    const refused = await upgrade(running, { cookie: carol!.cookie });
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBeTruthy();
    expect(((await refused.json()) as { error: string }).error).toBe("server_full");
    expect(running.teahouse.guards.gate.refused.serverFull).toBe(1); // counted once, though beforeHandle runs twice
    await connect(running, alice!.cookie); // a second tab of someone online
    b.close();
    await b.waitClose();
    await Bun.sleep(50);
    await connect(running, carol!.cookie);
    expect(running.teahouse.guards.gate.usersOnline).toBe(2);
  });

  test("the race between check and open: admit checks again and the loser is told 1013", () => {
    const gate = new ConnectionGate({ maxSocketsPerUser: 1, maxSocketsPerIp: 10, maxUsersOnline: 10 });
    expect(gate.check(1, "ip")).toBeUndefined();
    expect(gate.check(1, "ip")).toBeUndefined(); // both upgrades pass the check…
    expect(gate.admit(1, "ip")).toBeUndefined();
    expect(gate.admit(1, "ip")).toMatchObject({ closeCode: CloseCode.TryAgainLater }); // …one is let in
    gate.release(1, "ip");
    expect(gate.usersOnline).toBe(0);
    expect(gate.addresses).toBe(0);
  });
});

describe("rate limits", () => {
  test("sign-in attempts per address: 429 with Retry-After, then allowed again; other addresses unaffected", async () => {
    const running = start({ signInPerMinute: 3, trustProxy: ["127.0.0.1"] });
    const attempt = (xff: string, name: string) =>
      fetch(`${running.base}/wsin`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-forwarded-for": xff },
        body: JSON.stringify({ name }),
      });
    expect((await attempt("203.0.113.5", "x".repeat(40))).status).toBe(400); // failures count too
    expect((await attempt("203.0.113.5", "a1")).status).toBe(200);
    expect((await attempt("203.0.113.5", "a2")).status).toBe(200);
    const limited = await attempt("203.0.113.5", "a3");
    expect(limited.status).toBe(429);
    expect(await limited.json()).toMatchObject({ code: 429, error: "rate_limited" });
    const retryAfter = Number(limited.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(20); // one attempt every 20 s
    expect((await attempt("203.0.113.6", "b1")).status).toBe(200);
  });

  test("frames over the rate get rate_limited with retryMs; ignoring it closes the socket with 4008", async () => {
    const running = start({ ratePerSecond: 1, rateBurst: 5, abuseStrikes: 3 });
    const alice = await signIn(running.base, "alice");
    const bob = await signIn(running.base, "bob");
    const a = await connect(running, alice.cookie);
    const b = await connect(running, bob.cookie);
    for (let i = 0; i < 5; i++) a.send(`m${i}`);
    a.send("one too many");
    const limited = await a.next("error");
    expect(limited.data.code).toBe(ErrorCode.RateLimited);
    expect(limited.data.retryMs).toBeGreaterThan(0);
    expect(limited.data.retryMs).toBeLessThanOrEqual(1000);
    // The five allowed ones went through; the refused one did not.
    const seen: string[] = [];
    for (let i = 0; i < 5; i++) seen.push((await b.next("chat")).data);
    expect(seen).toEqual(["m0", "m1", "m2", "m3", "m4"]);
    for (let i = 0; i < 10; i++) a.send("flood");
    expect((await a.waitClose()).code).toBe(CloseCode.PolicyViolation);
    expect((await b.drain(100)).filter((f) => f.type === "chat")).toEqual([]);
    expect(b.closed).toBeUndefined();
    await Bun.sleep(50);
    expect(running.teahouse.guards.flood.stats.abusiveClosed).toBe(1);
    expect(running.teahouse.metrics.render()).toMatch(/^teahouse_connections_closed_total\{code="4008"\} 1$/m);
  });

  test("a message refused for rate comes back to its sender with its cid; acks of stored ones go out before 4008", async () => {
    const running = start({ ratePerSecond: 1, rateBurst: 3, abuseStrikes: 2 });
    const alice = await signIn(running.base, "alice");
    const a = await connect(running, alice.cookie);
    await a.next("history", (f) => f.room === undefined);
    for (let i = 0; i < 3; i++) a.send({ type: "chat", data: `ok ${i}`, cid: `ok-${i}` });
    a.send({ type: "chat", data: "too fast", cid: "late-1" });
    a.send({ type: "private", to: alice.user.id, data: "also too fast", cid: "late-2" });
    a.send({ type: "chat", data: "and this", cid: "late-3" });
    const frames: Array<{ type: string; data: unknown }> = [];
    const closed = await a.waitClose();
    frames.push(...(a.frames as Array<{ type: string; data: unknown }>));
    expect(closed.code).toBe(CloseCode.PolicyViolation);
    const acks = frames.filter((f) => f.type === "ack").map((f) => (f.data as { cid: string }).cid);
    expect(acks).toEqual(["ok-0", "ok-1", "ok-2"]);
    const refused = frames
      .filter((f) => f.type === "error")
      .map((f) => f.data as { code: string; cid?: string; retryMs?: number });
    expect(refused.map((e) => [e.code, e.cid])).toEqual([
      [ErrorCode.RateLimited, "late-1"],
      [ErrorCode.RateLimited, "late-2"],
    ]);
    expect(refused.every((e) => (e.retryMs ?? 0) > 0)).toBe(true);
  });
});

describe("request bodies", () => {
  test("a huge body is refused (413) before it is read into memory or parsed", async () => {
    const running = start();
    const response = await fetch(`${running.base}/wsin`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "x".repeat(8 * 1024 * 1024) }),
    }).catch((error: Error) => error);
    // Bun answers 413, or cuts the connection while the client is still sending: either way nothing was parsed.
    if (response instanceof Response) expect(response.status).toBe(413);
    expect((await fetch(`${running.base}/wsme`)).status).toBe(401); // still serving
  });
});

describe("rooms per user", () => {
  test("a user is in at most MAX_ROOMS_PER_USER rooms over all their tabs; a resume cannot get around it", async () => {
    const running = start({ maxRoomsPerUser: 3 });
    const alice = await signIn(running.base, "alice");
    const tab1 = await connect(running, alice.cookie);
    const tab2 = await connect(running, alice.cookie);
    for (const room of ["a", "b"]) {
      tab1.send({ type: "join", room });
      await tab1.next("list", (f) => f.room === room);
    }
    tab1.send({ type: "join", room: "c" });
    expect((await tab1.next("error")).data.code).toBe(ErrorCode.TooManyRooms);
    tab2.send({ type: "join", room: "c" }); // the other tab counts the same rooms
    expect((await tab2.next("error")).data.code).toBe(ErrorCode.TooManyRooms);
    tab2.send({ type: "join", room: "a" }); // a room the user is already in is fine
    await tab2.next("list", (f) => f.room === "a");
    tab1.send({ type: "leave", room: "b" });
    await Bun.sleep(50);
    tab1.send({ type: "join", room: "c" });
    await tab1.next("list", (f) => f.room === "c");

    // A resume re-enters the account's own rooms only: it never joins, let alone creates, one.
    const carol = await signIn(running.base, "carol");
    const maker = await connect(running, carol.cookie);
    for (const room of ["r1", "r2", "r3"]) {
      maker.send({ type: "join", room });
      await maker.next("list", (f) => f.room === room);
      maker.send({ type: "leave", room });
    }
    const bob = await signIn(running.base, "bob");
    const url = `${running.wsUrl}?since=1&rooms=nope,r1,r2,r3,r4,r5`;
    const again = await Client.connect(url, bob.cookie);
    clients.push(again);
    const rooms = (await again.drain(300)).filter((f) => f.type === "list").map((f) => f.room);
    expect(rooms).toEqual(["lobby"]);
    maker.send({ type: "rooms" });
    const listed = (await maker.next("rooms")).data.map((r) => r.name);
    expect(listed).not.toContain("nope");
    expect(listed).not.toContain("r4");
  });
});

describe("CSRF and cross-site socket hijacking", () => {
  const signInWith = (running: Running, headers: Record<string, string>) =>
    fetch(`${running.base}/wsin`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify({ name: `n${Math.random().toString(36).slice(2, 8)}` }),
    });

  test("sign-in: only the page's own origin, an allowlisted one, or a request that no other site sent", async () => {
    const running = start({ allowedOrigins: ["https://chat.example.com"] });
    const host = new URL(running.base).host;
    const refused: Record<string, string>[] = [
      { origin: "https://evil.example" },
      { origin: "null" },
      { origin: "https://chat.example.com.evil.example" },
      { origin: "https://chat.example.co" },
      { origin: `http://${host}.evil.example` },
      { origin: `http://127.0.0.1:${Number(new URL(running.base).port) + 1}` },
      { "sec-fetch-site": "cross-site" },
      { "sec-fetch-site": "same-site" }, // a sibling subdomain is another origin
    ];
    for (const headers of refused) {
      const response = await signInWith(running, headers);
      expect({ headers, status: response.status }).toEqual({ headers, status: 403 });
    }
    const allowed: Record<string, string>[] = [
      { origin: `http://${host}` },
      { origin: "https://chat.example.com" },
      { "sec-fetch-site": "same-origin" },
      { "sec-fetch-site": "none" }, // typed in the address bar
      {}, // not a browser
    ];
    for (const headers of allowed) {
      const response = await signInWith(running, headers);
      expect({ headers, status: response.status }).toEqual({ headers, status: 200 });
    }
  });

  test("sign-out from another site (a POST or a link) is refused and the session lives on", async () => {
    const running = start();
    const alice = await signIn(running.base, "alice");
    const a = await connect(running, alice.cookie);
    const post = await fetch(`${running.base}/wsout`, {
      method: "POST",
      headers: { cookie: alice.cookie, origin: "https://evil.example" },
    });
    expect(post.status).toBe(403);
    const link = await fetch(`${running.base}/wsout`, {
      headers: { cookie: alice.cookie, "sec-fetch-site": "cross-site", accept: "text/html" },
      redirect: "manual",
    });
    expect(link.status).toBe(403);
    expect((await fetch(`${running.base}/wsme`, { headers: { cookie: alice.cookie } })).status).toBe(200);
    expect(a.closed).toBeUndefined();
  });

  test("the socket upgrade checks Origin exactly, and a refused upgrade leaves no socket", async () => {
    const running = start();
    const alice = await signIn(running.base, "alice");
    const host = new URL(running.base).host;
    for (const origin of [`http://${host}.evil.example`, `http://evil.example/${host}`, "null", "https://evil.example"])
      expect((await upgrade(running, { cookie: alice.cookie, origin })).status).toBe(403);
    expect(running.teahouse.hub.connectionCount).toBe(0);
  });
});

describe("pages", () => {
  test("security headers: CSP without inline script and with frame-ancestors, nosniff, referrer policy", async () => {
    const running = start();
    for (const path of ["/", "/ws"]) {
      const response = await fetch(`${running.base}${path}`);
      const csp = response.headers.get("content-security-policy") ?? "";
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toContain("default-src 'self'");
      expect(csp).not.toContain("unsafe-inline");
      expect(csp).not.toContain("unsafe-eval");
      expect(response.headers.get("x-content-type-options")).toBe("nosniff");
      expect(response.headers.get("referrer-policy")).toBe("same-origin");
      expect(response.headers.get("x-frame-options")).toBe("DENY");
    }
  });

  test("nothing a user sends is HTML: names and messages are escaped or sent as JSON text", async () => {
    const running = start();
    const evil = await signIn(running.base, `"><img src=x onerror=alert(1)>`);
    const page = await (await fetch(`${running.base}/`, { headers: { cookie: evil.cookie } })).text();
    expect(page).not.toContain("<img src=x");
    expect(page).not.toMatch(/<script(?![^>]*src="\/static\/)/); // only the external module script
  });
});

describe("logs", () => {
  test("never contain message bodies, cookies, session ids or secrets", async () => {
    const lines: string[] = [];
    const secret = "log-hygiene-secret-0123456789";
    const running = start(
      { secrets: [secret], logLevel: "debug", ratePerSecond: 1, rateBurst: 3, abuseStrikes: 1 },
      createLogger("debug", (line) => lines.push(line), true),
    );
    const body = "BODY-6b1f0c-do-not-log";
    const alice = await signIn(running.base, "alice");
    const bob = await signIn(running.base, "bob");
    const sid = decodeURIComponent(alice.cookie.split("=")[1]!).split(".")[0]!;
    const a = await connect(running, alice.cookie);
    const b = await connect(running, bob.cookie);
    a.send(body);
    a.send({ type: "private", to: bob.user.id, data: `${body}-private` });
    await b.next("chat");
    a.send(`{"type":"chat","data":${JSON.stringify(body)},"x":`); // malformed
    for (let i = 0; i < 5; i++) b.send(`${body}-${i}`); // flood: rate limited, then closed for abuse
    await b.waitClose();
    await fetch(`${running.base}/wsme`, { headers: { cookie: `${alice.cookie}x` } }); // tampered cookie
    await fetch(`${running.base}/wsout`, { method: "POST", headers: { cookie: alice.cookie } });
    await a.waitClose();
    await Bun.sleep(50);
    const log = lines.join("\n");
    expect(log).toContain("ws.open"); // the logger did see the traffic
    expect(log).toContain("ws.abuse_closed");
    for (const needle of [body, sid, alice.cookie, bob.cookie, secret, decodeURIComponent(alice.cookie.split("=")[1]!)])
      expect(log).not.toContain(needle);
  });
});
