import { afterEach, describe, expect, test } from "bun:test";
import { createApp } from "../src/app";
import type { SqliteStore } from "../src/store/sqlite";
import { createLogger } from "../src/log";
import { createRegistry } from "../src/ops/registry";
import { resolveClient } from "../src/http/client";
import { CHAT_SOCKET_PATH, CloseCode, ErrorCode } from "../src/protocol";
import { Client, signIn, testConfig } from "./helpers";

/** Starts an app whose log lines (JSON) are collected. */
const startLogged = (overrides: Parameters<typeof testConfig>[0] = {}) => {
  const lines: string[] = [];
  const config = testConfig({ logLevel: "debug", ...overrides });
  const teahouse = createApp(config, { log: createLogger("debug", (line) => lines.push(line), true) });
  const server = teahouse.listen();
  const base = `http://127.0.0.1:${server.port}`;
  return { teahouse, base, wsUrl: `ws://127.0.0.1:${server.port}${CHAT_SOCKET_PATH}`, lines };
};

const running: Array<{ stop(): Promise<void> }> = [];
const clients: Client[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  for (const app of running.splice(0)) await app.stop();
});

/** The value of one sample line (`name{labels} value`) of a Prometheus exposition. */
const sample = (text: string, series: string): number | undefined => {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

const parsedLines = (lines: string[]) => lines.map((line) => JSON.parse(line) as Record<string, unknown>);

describe("health, readiness and metrics", () => {
  test("/readyz reports not ready while every write fails, and ready again once writes go through", async () => {
    const app = startLogged();
    running.push({ stop: () => app.teahouse.stop() });
    const alice = await signIn(app.base, "alice");
    const a = await Client.connect(app.wsUrl, alice.cookie);
    clients.push(a);
    await a.next("history", (f) => f.room === undefined);
    expect((await fetch(`${app.base}/readyz`)).status).toBe(200);
    // Reads still work, every write fails (a read-only or full disk behaves so).
    (app.teahouse.store as SqliteStore).db.exec("PRAGMA query_only = 1");
    a.send({ type: "chat", data: "not stored", cid: "n1" });
    expect((await a.next("error")).data).toMatchObject({ code: ErrorCode.NotStored, cid: "n1" });
    const down = await fetch(`${app.base}/readyz`);
    expect(down.status).toBe(503);
    expect(await down.json()).toEqual({ status: "store_unavailable" });
    (app.teahouse.store as SqliteStore).db.exec("PRAGMA query_only = 0");
    expect((await fetch(`${app.base}/readyz`)).status).toBe(200);
    a.send({ type: "chat", data: "stored", cid: "n1" });
    expect((await a.next("ack")).data.cid).toBe("n1");
  });

  test("/healthz and /readyz answer 200; /readyz turns 503 once stopping", async () => {
    const app = startLogged();
    const healthz = await fetch(`${app.base}/healthz`);
    expect(healthz.status).toBe(200);
    expect(await healthz.json()).toEqual({ status: "ok" });
    expect(healthz.headers.get("cache-control")).toBe("no-store");
    const readyz = await fetch(`${app.base}/readyz`);
    expect(readyz.status).toBe(200);
    expect(await readyz.json()).toEqual({ status: "ready" });

    await app.teahouse.stop();
    const after = await app.teahouse.app.handle(new Request("http://localhost/readyz"));
    expect(after.status).toBe(503);
    expect(await after.json()).toEqual({ status: "shutting_down" });
  });

  test("/metrics counts connections, users, frames, deliveries and refusals after some traffic", async () => {
    const app = startLogged();
    running.push(app.teahouse);
    const alice = await signIn(app.base, "alice");
    const bob = await signIn(app.base, "bob");
    const a1 = await Client.connect(app.wsUrl, alice.cookie);
    const a2 = await Client.connect(app.wsUrl, alice.cookie);
    const b = await Client.connect(app.wsUrl, bob.cookie);
    clients.push(a1, a2, b);
    await b.next("list");
    a1.send({ type: "chat", data: "hello" });
    for (const client of [a1, a2, b]) await client.next("chat");
    b.send({ type: "nope" });
    expect((await b.next("error")).data.code).toBe(ErrorCode.UnknownType);

    const response = await fetch(`${app.base}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toStartWith("text/plain; version=0.0.4");
    const text = await response.text();
    expect(sample(text, "teahouse_connections")).toBe(3);
    expect(sample(text, "teahouse_users_online")).toBe(2);
    expect(sample(text, "teahouse_connections_opened_total")).toBe(3);
    expect(sample(text, "teahouse_frames_received_total")).toBe(2);
    expect(sample(text, `teahouse_frames_refused_total{reason="${ErrorCode.UnknownType}"}`)).toBe(1);
    // The chat went to 3 sockets in one publish.
    expect(sample(text, "teahouse_deliveries_total")).toBeGreaterThanOrEqual(3);
    expect(sample(text, "teahouse_frames_sent_total")).toBeGreaterThanOrEqual(1);
    for (const name of [
      "teahouse_messages_stored_total",
      "teahouse_slow_consumer_closes_total",
      "teahouse_store_write_seconds_count",
      "process_resident_memory_bytes",
    ])
      expect(sample(text, name)).toBeNumber();
    expect(text).toContain("# TYPE teahouse_store_write_seconds histogram");
    expect(sample(text, 'teahouse_http_responses_total{status="200"}')).toBeGreaterThanOrEqual(2);

    a2.ws.close(1000, "bye");
    await a2.waitClose();
    await Bun.sleep(50);
    const later = await (await fetch(`${app.base}/metrics`)).text();
    expect(sample(later, "teahouse_connections")).toBe(2);
    expect(sample(later, 'teahouse_connections_closed_total{code="1000"}')).toBe(1);
  });
});

describe("logs", () => {
  test("one line per request and per connection, with user, IP and close code — never bodies or cookies", async () => {
    const app = startLogged();
    running.push(app.teahouse);
    const alice = await signIn(app.base, "alice");
    const client = await Client.connect(app.wsUrl, alice.cookie);
    client.send({ type: "chat", data: "a secret message" });
    await client.next("chat");
    client.ws.close(1000, "bye");
    await client.waitClose();
    await Bun.sleep(50);

    const all = app.lines.join("\n");
    expect(all).not.toContain("a secret message");
    expect(all).not.toContain(alice.cookie.split("=")[1]!);
    const logged = parsedLines(app.lines);
    expect(logged.find((l) => l.event === "http" && l.path === "/wsin")).toMatchObject({
      method: "POST",
      status: 200,
      ip: "127.0.0.1",
      proto: "http",
    });
    expect(logged.find((l) => l.event === "ws.open")).toMatchObject({ user: alice.user.id, ip: "127.0.0.1" });
    expect(logged.find((l) => l.event === "http" && l.path === CHAT_SOCKET_PATH)).toMatchObject({ status: 101 });
    expect(logged.find((l) => l.event === "ws.close")).toMatchObject({ user: alice.user.id, code: 1000 });
  });

  test("X-Forwarded-For and -Proto count only from a trusted proxy", async () => {
    const headers = { "x-forwarded-for": "198.51.100.7, 203.0.113.9", "x-forwarded-proto": "https" };
    const untrusting = startLogged();
    const trusting = startLogged({ trustProxy: ["127.0.0.1"] });
    running.push(untrusting.teahouse, trusting.teahouse);
    for (const app of [untrusting, trusting]) await fetch(`${app.base}/healthz`, { headers });
    await Bun.sleep(50); // the line is written after the response
    const line = (lines: string[]) => parsedLines(lines).find((l) => l.path === "/healthz");
    expect(line(untrusting.lines)).toMatchObject({ ip: "127.0.0.1", proto: "http" });
    expect(line(trusting.lines)).toMatchObject({ ip: "203.0.113.9", proto: "https" });
  });

  test("resolveClient walks X-Forwarded-For from the right past trusted proxies", () => {
    const trusted = new Set(["10.0.0.1", "10.0.0.2"]);
    const headers = (xff: string) => new Headers({ "x-forwarded-for": xff });
    expect(resolveClient(headers("1.2.3.4, 10.0.0.2"), "10.0.0.1", trusted).ip).toBe("1.2.3.4");
    expect(resolveClient(headers("6.6.6.6, 1.2.3.4"), "10.0.0.1", trusted).ip).toBe("1.2.3.4");
    expect(resolveClient(headers("1.2.3.4"), "::ffff:10.0.0.1", trusted).ip).toBe("1.2.3.4");
    expect(resolveClient(headers("1.2.3.4"), "9.9.9.9", trusted).ip).toBe("9.9.9.9");
    expect(resolveClient(new Headers({ "x-forwarded-proto": "gopher" }), "10.0.0.1", trusted).proto).toBe("http");
  });
});

describe("metrics registry", () => {
  test("renders counters, labels (escaped), gauges and cumulative histograms", () => {
    const registry = createRegistry();
    registry.counter("a_total", "A.").inc(2);
    registry.labeledCounter("b_total", "B.", "reason").inc('say "hi"\n');
    registry.gauge("c", "C.", () => 7);
    const h = registry.histogram("d_seconds", "D.", [0.1, 1]);
    for (const value of [0.05, 0.5, 5]) h.observe(value);
    expect(registry.render()).toBe(
      [
        "# HELP a_total A.",
        "# TYPE a_total counter",
        "a_total 2",
        "# HELP b_total B.",
        "# TYPE b_total counter",
        'b_total{reason="say \\"hi\\"\\n"} 1',
        "# HELP c C.",
        "# TYPE c gauge",
        "c 7",
        "# HELP d_seconds D.",
        "# TYPE d_seconds histogram",
        'd_seconds_bucket{le="0.1"} 1',
        'd_seconds_bucket{le="1"} 2',
        'd_seconds_bucket{le="+Inf"} 3',
        "d_seconds_sum 5.55",
        "d_seconds_count 3",
        "",
      ].join("\n"),
    );
    expect(() => registry.counter("a_total", "again")).toThrow();
  });
});

describe("graceful stop", () => {
  test("open sockets get 1001 going away; stop() resolves quickly", async () => {
    const app = startLogged();
    const alice = await signIn(app.base, "alice");
    const sockets = [await Client.connect(app.wsUrl, alice.cookie), await Client.connect(app.wsUrl, alice.cookie)];
    const startedAt = performance.now();
    await app.teahouse.stop();
    expect(performance.now() - startedAt).toBeLessThan(2_000);
    for (const socket of sockets) expect((await socket.waitClose()).code).toBe(CloseCode.GoingAway);
  });
});
