import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SessionStore } from "../src/auth/sessions";
import { openDatabase } from "../src/store/db";
import { nameKey } from "../src/auth/names";
import { cookieFrom, refusedUpgrade, signIn, startApp, type Running } from "./helpers";

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
    for (const name of ["alice", "ALICE", "аlice" /* Cyrillic а */, "ａｌｉｃｅ"]) {
      const response = await post(base, "/wsin", { name });
      expect(response.status).toBe(409);
      expect((await json(response)).error).toBe("name_taken");
    }
  });

  test("asking for a taken name keeps the current session; a free one replaces it", async () => {
    const { base } = start();
    await signIn(base, "bob");
    const alice = await signIn(base, "alice");
    const taken = await post(base, "/wsin", { name: "bob" }, { cookie: alice.cookie });
    expect(taken.status).toBe(409);
    expect((await json(await fetch(`${base}/wsme`, { headers: { cookie: alice.cookie } }))).user.name).toBe("alice");
    const renamed = await post(base, "/wsin", { name: "alicia" }, { cookie: alice.cookie });
    expect(renamed.status).toBe(200);
    expect((await fetch(`${base}/wsme`, { headers: { cookie: alice.cookie } })).status).toBe(401);
    // Signing in again under one's own name works too.
    const again = await post(base, "/wsin", { name: "alicia" }, { cookie: cookieFrom(renamed) });
    expect(again.status).toBe(200);
  });

  test("signing out frees the name", async () => {
    const { base } = start();
    const alice = await signIn(base, "alice");
    await fetch(`${base}/wsout`, { method: "POST", headers: { cookie: alice.cookie } });
    const again = await signIn(base, "alice");
    expect(again.user.id).not.toBe(alice.user.id);
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

  test("an idle session expires and frees its name; one with an open socket does not", () => {
    let now = 1_000_000;
    const store = new SessionStore(openDatabase(":memory:"), 60_000, () => now);
    const a = store.createNow("alice", nameKey("alice"));
    const b = store.createNow("bob", nameKey("bob"));
    if (!a.ok || !b.ok) throw new Error("create failed");
    b.session.sockets = 1;
    now += 61_000;
    expect(store.get(a.session.sid)).toBeUndefined();
    expect(store.isNameFree(nameKey("alice"))).toBe(true);
    expect(store.get(b.session.sid)).toBe(b.session);
    expect(store.createNow("bob", nameKey("bob")).ok).toBe(false);
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
