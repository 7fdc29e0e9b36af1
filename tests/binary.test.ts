/**
 * The single executable: built once by scripts/build.ts, copied alone into an
 * empty directory and run from another empty directory — no public/, no
 * node_modules, no source.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildExecutable } from "../scripts/build";
import { CloseCode } from "../src/protocol";
import { Client, signIn } from "./helpers";
import { runCommand as run, spawnServer, stopProcess, waitFor200, type ServerProcess } from "./process";

const PUBLIC_DIR = join(import.meta.dir, "..", "public");
/** Containers get 10 s between SIGTERM and SIGKILL; teahouse must be far quicker with sockets open. */
const STOP_BUDGET_MS = 3_000;
/** Content types the page's assets must be served with, by extension. */
const ASSET_TYPES: Record<string, RegExp> = { css: /^text\/css/, js: /javascript/, svg: /^image\/svg\+xml/ };
/** Messages sent in the burst the SIGTERM interrupts. */
const BURST = 1000;

let tmp: string;
let binary: string;
let runDir: string;
const servers: ServerProcess[] = [];
const clients: Client[] = [];

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "teahouse-binary-"));
  binary = join(tmp, "bin", "teahouse");
  mkdirSync(join(tmp, "bin"));
  const size = await buildExecutable(binary);
  console.log(`binary: ${(size / 1024 / 1024).toFixed(1)} MiB`);
  expect(readdirSync(join(tmp, "bin"))).toEqual(["teahouse"]);
  runDir = join(tmp, "run");
  mkdirSync(runDir);
}, 120_000);

afterAll(async () => {
  for (const client of clients.splice(0)) client.close();
  for (const server of servers.splice(0)) await stopProcess(server.proc, "SIGKILL");
  rmSync(tmp, { recursive: true, force: true });
});

/** Starts the binary in the empty run directory on a free port; resolves once it logged its URL. */
const start = async (env: Record<string, string> = {}): Promise<ServerProcess & { startMs: number }> => {
  const startedAt = performance.now();
  const server = await spawnServer([], { command: [binary], cwd: runDir, env: { DATA_DIR: "", ...env } });
  servers.push(server);
  await waitFor200(`${server.base}/healthz`);
  return { ...server, startMs: performance.now() - startedAt };
};

describe("the compiled executable", () => {
  test("--help and --version print and exit 0; a bad flag or value is one line on stderr and exit 2", () => {
    const help = run([binary, "--help"], runDir);
    expect(help.code).toBe(0);
    for (const flag of ["--port", "--trust-proxy", "--ws-idle-timeout-seconds", "--version", "--healthcheck"])
      expect(help.stdout).toContain(flag);
    const version = run([binary, "--version"], runDir);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);

    const badFlag = run([binary, "--nope"], runDir);
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toBe("teahouse: unknown option --nope (see --help)\n");
    expect(badFlag.stdout).toBe("");
    const badValue = run([binary], runDir, { PORT: "eighty" });
    expect(badValue.code).toBe(2);
    expect(badValue.stderr.trim().split("\n")).toHaveLength(1);
    expect(badValue.stderr).toContain("PORT");
    // Nothing was created by the failed starts.
    expect(readdirSync(runDir)).toEqual([]);
  });

  test("from an empty directory it serves the page, the embedded assets and the chat socket", async () => {
    const server = await start();
    console.log(`start to first 200: ${Math.round(server.startMs)} ms`);
    expect(server.output()).toContain('"assets":"embedded"');

    const page = await fetch(`${server.base}/`);
    expect(page.status).toBe(200);
    const html = await page.text();
    const assets = [...html.matchAll(/(?:href|src)="\/static\/([^"]+)"/g)].map((match) => match[1]!);
    expect(assets.length).toBeGreaterThanOrEqual(2);
    for (const name of assets) {
      const asset = await fetch(`${server.base}/static/${name}`);
      expect(asset.status).toBe(200);
      const type = ASSET_TYPES[name.slice(name.lastIndexOf(".") + 1)] ?? /./;
      expect(asset.headers.get("content-type")).toMatch(type);
      const etag = asset.headers.get("etag");
      expect(etag).toBeTruthy();
      expect((await fetch(`${server.base}/static/${name}`, { headers: { "if-none-match": etag! } })).status).toBe(304);
    }
    const css = await fetch(`${server.base}/static/chat.css`);
    expect(await css.text()).toBe(await Bun.file(join(PUBLIC_DIR, "chat.css")).text());
    expect((await fetch(`${server.base}/static/nope.js`)).status).toBe(404);
    // The embedded root holds the server's own bundle: it must not be reachable.
    for (const path of ["/static/teahouse", "/static/..%2Fteahouse", "/teahouse"])
      expect((await fetch(`${server.base}${path}`)).status).toBe(404);

    const alice = await signIn(server.base, "alice");
    const bob = await signIn(server.base, "bob");
    const a = await Client.connect(server.wsUrl, alice.cookie);
    const b = await Client.connect(server.wsUrl, bob.cookie);
    clients.push(a, b);
    await a.next("join", (frame) => frame.user.name === "bob");
    a.send({ type: "chat", data: "hello from the binary", cid: "c1" });
    expect((await b.next("chat")).data).toBe("hello from the binary");
    expect((await a.next("chat")).cid).toBe("c1");
    // DATA_DIR defaults to ./data: created in the working directory.
    expect(readdirSync(join(runDir, "data"))).toContain("teahouse.sqlite");
  });

  test("SIGTERM during a burst: 1001 to every client, exit 0 quickly, every acknowledged message kept", async () => {
    // The burst is far over the default frame rate limits (which would close the sender with 4008).
    const unthrottled = { RATE_BURST: "100000", RATE_PER_SECOND: "100000", USER_RATE_BURST: "100000" };
    const env = { DATA_DIR: join(tmp, "data-sigterm"), ...unthrottled, USER_RATE_PER_SECOND: "100000" };
    const server = await start(env);
    const alice = await signIn(server.base, "alice");
    const bob = await signIn(server.base, "bob");
    const sockets = [
      await Client.connect(server.wsUrl, alice.cookie),
      await Client.connect(server.wsUrl, alice.cookie),
      await Client.connect(server.wsUrl, bob.cookie),
    ];
    clients.push(...sockets);
    const [sender] = sockets as [Client];
    await sender.next("history", (frame) => frame.room === "lobby");
    // A burst; SIGTERM as soon as the first message is acknowledged, while the rest is in flight.
    const acked = new Map<string, number>();
    sender.ws.addEventListener("message", (event) => {
      const frame = JSON.parse(String(event.data)) as { type: string; data: { cid: string; id: number } };
      if (frame.type === "ack") acked.set(frame.data.cid, frame.data.id);
    });
    for (let i = 0; i < BURST; i++) sender.send({ type: "chat", data: `burst ${i}`, cid: `b${i}` });
    await sender.next("ack");

    const startedAt = performance.now();
    const code = await stopProcess(server.proc, "SIGTERM");
    const stopMs = performance.now() - startedAt;
    console.log(`SIGTERM to exit with 3 sockets: ${Math.round(stopMs)} ms (${acked.size}/${BURST} acknowledged)`);
    expect(code).toBe(0);
    expect(stopMs).toBeLessThan(STOP_BUDGET_MS);
    for (const socket of sockets) expect((await socket.waitClose()).code).toBe(CloseCode.GoingAway);
    expect(server.output()).toContain('"event":"stopped"');
    expect(acked.size).toBeGreaterThanOrEqual(1);

    // Same data directory: the secret, the sessions and every acknowledged message survived.
    const again = await start(env);
    expect((await fetch(`${again.base}/wsme`, { headers: { cookie: alice.cookie } })).status).toBe(200);
    const reader = await Client.connect(again.wsUrl, alice.cookie);
    clients.push(reader);
    const stored = new Map<string | undefined, number>();
    const lobby = (frame: { room?: string }) => frame.room === "lobby";
    for (let page = await reader.next("history", lobby); ;) {
      for (const message of page.data) stored.set(message.cid, message.id);
      if (!page.more || page.data.length === 0) break;
      reader.send({ type: "history", before: page.data[0]!.id });
      page = await reader.next("history", lobby);
    }
    for (const [cid, id] of acked) expect(stored.get(cid)).toBe(id);
    expect(await stopProcess(again.proc, "SIGINT")).toBe(0);
  });

  test("--healthcheck exits 0 against a running server and 1 when nothing answers", async () => {
    const server = await start();
    expect(run([binary, "--healthcheck"], runDir, { PORT: String(server.port), HOST: "127.0.0.1" }).code).toBe(0);
    await stopProcess(server.proc, "SIGTERM");
    const down = run([binary, "--healthcheck", "--port", String(server.port)], runDir);
    expect(down.code).toBe(1);
    expect(down.stderr).toContain("/healthz");
  });
});
