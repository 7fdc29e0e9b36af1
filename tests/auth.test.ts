import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CloseCode } from "../src/protocol";
import { Client, cookieFrom, refusedUpgrade, signIn, startApp, type Running } from "./helpers";

const apps: Running[] = [];
const start = (overrides: Parameters<typeof startApp>[0] = {}) => {
  const running = startApp(overrides);
  apps.push(running);
  return running;
};
afterEach(async () => {
  for (const running of apps.splice(0)) await running.stop();
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- test bodies are asserted field by field
const json = (response: Response): Promise<any> => response.json();

const post = (base: string, path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${base}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });

describe("POST /wsin", () => {
  test("signs in with JSON and sets a signed, HttpOnly, SameSite=Lax cookie", async () => {
    const { base } = start();
    const response = await post(base, "/wsin", { name: "  alice  " });
    expect(response.status).toBe(200);
    const body = await json(response);
    expect(body).toMatchObject({ code: 0, user: { type: "guest", name: "alice" } });
    expect(typeof body.data).toBe("string");
    const header = response.headers.getSetCookie()[0]!;
    expect(header).toMatch(/^session=[^;]+\.[^;]+;/); // value.signature
    expect(header).toContain("HttpOnly");
    expect(header).toContain("SameSite=Lax");
    expect(header).toContain("Path=/");
    expect(header).not.toContain("Secure");
  });

  test("signs in with a form body; Secure when configured", async () => {
    const { base } = start({ cookieSecure: true });
    const response = await fetch(`${base}/wsin`, { method: "POST", body: new URLSearchParams({ name: "bob" }) });
    expect(response.status).toBe(200);
    expect((await json(response)).user.name).toBe("bob");
    expect(response.headers.getSetCookie()[0]).toContain("Secure");
  });

  test("no name takes the offered guest name; guest names rotate 路人甲, 路人乙, …", async () => {
    const { base } = start();
    const first = await signIn(base);
    const second = await signIn(base);
    expect(first.user.name).toBe("路人甲");
    expect(second.user.name).toBe("路人乙");
    expect(first.user.id).not.toBe(second.user.id);
  });

  test("bad names get 400 with a reason", async () => {
    const { base } = start();
    for (const name of ["x".repeat(33), "a\u0000b", "evil\u202Eeman", 42]) {
      const response = await post(base, "/wsin", { name });
      expect(response.status).toBe(400);
      const body = await json(response);
      expect(body.code).not.toBe(0);
      expect(typeof body.data).toBe("string");
    }
    expect((await post(base, "/wsin", { name: "y".repeat(32) })).status).toBe(200);
  });

  test("a name held by a live session (or a look-alike of it) is refused with 409", async () => {
    const { base } = start();
    await signIn(base, "alice");
    for (const name of ["alice", "ALICE", "аlice" /* Cyrillic а */, "ａｌｉｃｅ", "aIice", "ɑlice", "alıce"]) {
      const response = await post(base, "/wsin", { name });
      expect(response.status).toBe(409);
      expect((await json(response)).error).toBe("name_taken");
    }
  });

  test("asking for a taken name keeps the current name; a free one renames the same account", async () => {
    const { base } = start();
    await signIn(base, "bob");
    const alice = await signIn(base, "alice");
    const taken = await post(base, "/wsin", { name: "bob" }, { cookie: alice.cookie });
    expect(taken.status).toBe(409);
    expect((await json(await fetch(`${base}/wsme`, { headers: { cookie: alice.cookie } }))).user.name).toBe("alice");
    const renamed = await post(base, "/wsin", { name: "alicia" }, { cookie: alice.cookie });
    expect(renamed.status).toBe(200);
    const me = await json(await fetch(`${base}/wsme`, { headers: { cookie: alice.cookie } }));
    expect(me.user).toEqual({ ...alice.user, name: "alicia" });
    // alice's old name is free at once: her account let go of it.
    expect((await post(base, "/wsin", { name: "alice" })).status).toBe(200);
  });

  test("signing out: this browser gets its account back; another waits out the grace, then gets a new account", async () => {
    const { base } = start();
    const alice = await signIn(base, "alice");
    await fetch(`${base}/wsout`, { method: "POST", headers: { cookie: alice.cookie } });
    // Another browser, within GUEST_NAME_GRACE_SECONDS: the name is still held.
    expect((await post(base, "/wsin", { name: "alice" })).status).toBe(409);
    const back = await signIn(base, "alice", { device: alice.device });
    expect(back.user.id).toBe(alice.user.id);
  });

  test("after the grace a released guest name goes to a new account; the old one must pick another name", async () => {
    const running = start({ guestNameGraceMs: 0 });
    const { base } = running;
    const alice = await signIn(base, "alice");
    const other = await signIn(base, "alice"); // another browser: alice is away (grace 0)
    expect(other.user.id).not.toBe(alice.user.id);
    const socket = await Client.connect(running.wsUrl, other.cookie); // the new alice is here
    await socket.next("history", (f) => f.room === undefined);
    // The first browser comes back: its session lives, but its name is someone else's now.
    const lost = await fetch(`${base}/wsme`, { headers: { cookie: alice.cookie } });
    expect(lost.status).toBe(401);
    expect((await json(lost)).error).toBe("name_lost");
    const renamed = await post(base, "/wsin", { name: "alice2" }, { cookie: alice.cookie });
    expect((await json(renamed)).user).toEqual({ ...alice.user, name: "alice2" });
    socket.close();
  });

  test("a cross-site sign-in is refused (CSRF)", async () => {
    const { base } = start();
    expect((await post(base, "/wsin", { name: "x" }, { origin: "https://evil.example" })).status).toBe(403);
    expect((await post(base, "/wsin", { name: "x" }, { "sec-fetch-site": "cross-site" })).status).toBe(403);
    expect((await post(base, "/wsin", { name: "x" }, { origin: base })).status).toBe(200);
  });
});

describe("identity cookie", () => {
  test("GET /wsme knows the user; a tampered cookie gets 401 and is cleared", async () => {
    const { base } = start();
    const alice = await signIn(base, "alice");
    const me = await fetch(`${base}/wsme`, { headers: { cookie: alice.cookie } });
    expect((await json(me)).user).toEqual(alice.user);

    const tampered = alice.cookie.replace(/.$/, (c) => (c === "A" ? "B" : "A"));
    const refused = await fetch(`${base}/wsme`, { headers: { cookie: tampered } });
    expect(refused.status).toBe(401);
    expect((await json(refused)).code).toBe(401);
    expect(refused.headers.getSetCookie().join()).toMatch(/session=;.*Max-Age=0/);
    expect((await fetch(`${base}/wsme`)).status).toBe(401);
  });

  test("cookies signed as the previous release signed them (WebCrypto HMAC) stay valid, with any configured secret", async () => {
    const { base } = start({ secrets: ["the-new-secret-0123456789", "the-old-secret-0123456789"] });
    const alice = await signIn(base, "alice");
    const sid = decodeURIComponent(alice.cookie.split("=")[1]!).split(".")[0]!;
    // Elysia's signCookie: HMAC-SHA256 through WebCrypto, base64 with its padding removed.
    const webCryptoSigned = async (secret: string) => {
      const key = await crypto.subtle.importKey(
        "raw",
        new TextEncoder().encode(secret),
        { name: "HMAC", hash: "SHA-256" },
        false,
        ["sign"],
      );
      const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(sid));
      return `session=${encodeURIComponent(`${sid}.${Buffer.from(mac).toString("base64").replace(/=+$/, "")}`)}`;
    };
    expect(alice.cookie).toBe(await webCryptoSigned("the-new-secret-0123456789"));
    const me = await fetch(`${base}/wsme`, { headers: { cookie: await webCryptoSigned("the-old-secret-0123456789") } });
    expect((await json(me)).user).toEqual(alice.user);
    // Reading a cookie does not send it back.
    expect(me.headers.getSetCookie()).toEqual([]);
    expect(
      (await fetch(`${base}/wsme`, { headers: { cookie: await webCryptoSigned("another-secret-0123") } })).status,
    ).toBe(401);
  });

  test("a device cookie with a wrong signature counts as none: sign-in works and the browser gets a new one", async () => {
    const { base } = start();
    const forged = `device=${encodeURIComponent(`${crypto.randomUUID()}.forgedsignature`)}`;
    const response = await post(base, "/wsin", { name: "dora" }, { cookie: forged });
    expect(response.status).toBe(200);
    const device = cookieFrom(response, "device");
    expect(device).toBeDefined();
    expect(device).not.toBe(forged);
  });

  test("sessions and the generated secret survive a restart on the same data directory", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "teahouse-"));
    try {
      const first = start({ dataDir });
      const alice = await signIn(first.base, "alice");
      await first.stop();
      apps.pop();
      expect(statSync(join(dataDir, "secret")).mode & 0o777).toBe(0o600);
      const second = start({ dataDir });
      const me = await fetch(`${second.base}/wsme`, { headers: { cookie: alice.cookie } });
      expect((await json(me)).user).toEqual(alice.user);
      const bob = await signIn(second.base, "bob");
      expect(bob.user.id).toBeGreaterThan(alice.user.id);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test("secret rotation: a cookie signed with the previous secret still works", async () => {
    const old = "old-secret-0123456789abcdef";
    const dataDir = mkdtempSync(join(tmpdir(), "teahouse-"));
    try {
      const first = start({ dataDir, secrets: [old] });
      const alice = await signIn(first.base, "alice");
      await first.stop();
      apps.pop();
      const second = start({ dataDir, secrets: ["new-secret-0123456789abcdef", old] });
      expect((await fetch(`${second.base}/wsme`, { headers: { cookie: alice.cookie } })).status).toBe(200);
      await second.stop();
      apps.pop();
      const third = start({ dataDir, secrets: ["new-secret-0123456789abcdef"] });
      expect((await fetch(`${third.base}/wsme`, { headers: { cookie: alice.cookie } })).status).toBe(401);
      expect(await refusedUpgrade(third.base, { cookie: alice.cookie })).toBe(401);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test("an idle session expires; one with an open socket does not", async () => {
    const running = start({ sessionIdleMs: 150 });
    const alice = await signIn(running.base, "alice");
    const bob = await signIn(running.base, "bob");
    const b = await Client.connect(running.wsUrl, bob.cookie);
    await b.next("history", (f) => f.room === undefined);
    await Bun.sleep(250);
    expect((await fetch(`${running.base}/wsme`, { headers: { cookie: alice.cookie } })).status).toBe(401);
    expect((await fetch(`${running.base}/wsme`, { headers: { cookie: bob.cookie } })).status).toBe(200);
    b.close();
  });
});

describe("registered accounts", () => {
  const password = "correct horse battery";

  test("a guest registers its name in place (same id); the name is never released; sign in from anywhere", async () => {
    const { base } = start({ guestNameGraceMs: 0 });
    const alice = await signIn(base, "alice");
    const registered = await post(base, "/signup", { name: "alice", password }, { cookie: alice.cookie });
    expect(registered.status).toBe(200);
    expect((await json(registered)).user).toEqual({ ...alice.user, type: "member" });
    // Even with the grace over and no session, nobody takes a registered name without its password.
    await fetch(`${base}/wsout`, { method: "POST", headers: { cookie: alice.cookie } });
    const guest = await post(base, "/wsin", { name: "ALICE" });
    expect(guest.status).toBe(409);
    expect((await json(guest)).error).toBe("name_registered");
    const elsewhere = await signIn(base, "alice", { password });
    expect(elsewhere.user).toEqual({ ...alice.user, type: "member" });
  });

  test("two sign-ups racing for one free name: one gets it, the other a clear 409 (not a 500)", async () => {
    const { base } = start();
    const answers = await Promise.all(
      [1, 2, 3].map(() => post(base, "/signup", { name: "zoe", password }).then((r) => r.status)),
    );
    expect(answers.sort()).toEqual([200, 409, 409]);
  });

  test("sign-up of a new name; too short a password, a taken name: clear errors", async () => {
    const { base } = start();
    await signIn(base, "bob");
    expect((await json(await post(base, "/signup", { name: "carol", password: "short" }))).error).toBe(
      "invalid_password",
    );
    expect((await json(await post(base, "/signup", { name: "bob", password }))).error).toBe("name_taken");
    const carol = await signIn(base, "carol", { password, path: "/signup" });
    expect(carol.user).toMatchObject({ type: "member", name: "carol" });
  });

  test("a wrong password and an unknown name get the same 401; attempts per account are limited (429)", async () => {
    const { base } = start({ passwordAttemptsPerMinute: 3 });
    await signIn(base, "dora", { password, path: "/signup" });
    const wrong = await post(base, "/wsin", { name: "dora", password: "not the password" });
    const unknown = await post(base, "/wsin", { name: "nobody", password });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    const [w, u] = [await json(wrong), await json(unknown)];
    expect(w).toEqual(u);
    expect(w.error).toBe("bad_credentials");
    await post(base, "/wsin", { name: "dora", password: "again wrong" });
    await post(base, "/wsin", { name: "dora", password: "still wrong" });
    const limited = await post(base, "/wsin", { name: "dora", password });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
  });

  test("sign-out ends that session only (4002 to its sockets); everywhere ends them all", async () => {
    const running = start();
    const { base } = running;
    const phone = await signIn(base, "erin", { password, path: "/signup" });
    const laptop = await signIn(base, "erin", { password });
    const tablet = await signIn(base, "erin", { password });
    const sockets = await Promise.all([phone, laptop, tablet].map((s) => Client.connect(running.wsUrl, s.cookie)));
    await fetch(`${base}/wsout`, { method: "POST", headers: { cookie: phone.cookie } });
    expect((await sockets[0]!.waitClose()).code).toBe(CloseCode.SignedOut);
    expect((await fetch(`${base}/wsme`, { headers: { cookie: laptop.cookie } })).status).toBe(200);
    await fetch(`${base}/wsout?everywhere=1`, { method: "POST", headers: { cookie: laptop.cookie } });
    expect((await sockets[1]!.waitClose()).code).toBe(CloseCode.SignedOut);
    expect((await sockets[2]!.waitClose()).code).toBe(CloseCode.SignedOut);
    expect((await fetch(`${base}/wsme`, { headers: { cookie: tablet.cookie } })).status).toBe(401);
  });

  test("a sign-out the store cannot record fails with 503 and leaves session and sockets as they were", async () => {
    const running = start();
    const alice = await signIn(running.base, "alice");
    const socket = await Client.connect(running.wsUrl, alice.cookie);
    await socket.next("history", (f) => f.room === undefined);
    const endSession = running.teahouse.store.endSession.bind(running.teahouse.store);
    running.teahouse.store.endSession = () => Promise.reject(new Error("SQLITE_IOERR: disk I/O error"));
    const failed = await fetch(`${running.base}/wsout`, { method: "POST", headers: { cookie: alice.cookie } });
    expect(failed.status).toBe(503);
    expect(failed.headers.getSetCookie().join()).not.toContain("session=;");
    expect(socket.closed).toBeUndefined();
    running.teahouse.store.endSession = endSession;
    expect((await fetch(`${running.base}/wsme`, { headers: { cookie: alice.cookie } })).status).toBe(200);
    socket.close();
  });
});

describe("pages and errors", () => {
  test("GET / and GET /ws render the page with an offered guest name and security headers", async () => {
    const { base } = start();
    for (const path of ["/", "/ws"]) {
      const response = await fetch(`${base}${path}`);
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toContain("text/html");
      expect(response.headers.get("content-security-policy")).toContain("script-src 'self'");
      expect(response.headers.get("x-content-type-options")).toBe("nosniff");
      expect(await response.text()).toContain("路人");
    }
  });

  test("a signed-in user's name is escaped in the page", async () => {
    const { base } = start();
    const evil = await signIn(base, "<b>x</b>");
    const page = await (await fetch(`${base}/`, { headers: { cookie: evil.cookie } })).text();
    expect(page).not.toContain("<b>x</b>");
    expect(page).toContain(`id="me" class="me">&lt;b&gt;x&lt;/b&gt;</span>`);
  });

  test("unknown paths get a JSON 404; a malformed body a JSON 400; never a stack trace", async () => {
    const { base } = start();
    const missing = await fetch(`${base}/nope`);
    expect(missing.status).toBe(404);
    expect(await json(missing)).toMatchObject({ code: 404, error: "not_found" });
    const bad = await fetch(`${base}/wsin`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{oops",
    });
    expect(bad.status).toBe(400);
    const text = await bad.text();
    expect(JSON.parse(text).code).toBe(400);
    expect(text).not.toContain("at ");
  });

  test("static files are served under /static/", async () => {
    const { base } = start();
    const response = await fetch(`${base}/static/chat.js`);
    expect(response.status).toBe(200);
    expect((await fetch(`${base}/static/nope.js`)).status).toBe(404);
  });

  test("GET /wsout signs out and sends a browser back to the page", async () => {
    const { base } = start();
    const alice = await signIn(base, "alice");
    const response = await fetch(`${base}/wsout`, {
      headers: { cookie: alice.cookie, accept: "text/html" },
      redirect: "manual",
    });
    expect(response.status).toBe(303);
    expect(response.headers.get("location")).toBe("/");
    expect((await fetch(`${base}/wsme`, { headers: { cookie: alice.cookie } })).status).toBe(401);
    expect(cookieFrom(response)).toMatch(/^session=$/);
  });
});
