/**
 * Where teahouse's memory per idle signed-in connection goes. The app runs in
 * this process (so the garbage collector can be forced before each reading,
 * which an external RSS probe cannot do), the load client in idle mode in
 * another. Prints RSS and JS heap per connection (from before the sign-ins to
 * every socket open), split into the sign-ins alone and the sockets alone, and
 * the JS objects each connection adds, by type.
 *
 * `--server raw` measures a bare `Bun.serve` instead (the same sign-in, each
 * socket subscribed to `--topics` topics as teahouse's are to its user topic,
 * "all" and the lobby): what Bun and uWebSockets cost by themselves.
 *
 * Usage: bun bench/memory.ts [--clients 4000] [--history true|false] [--server teahouse|raw] [--topics 3]
 */
import { heapStats } from "bun:jsc";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createApp } from "../src/app";
import { defaultConfig } from "../src/config";

const arg = (flag: string, fallback: string): string => {
  const i = process.argv.indexOf(flag);
  return i >= 0 ? process.argv[i + 1]! : fallback;
};
const CLIENTS = Number(arg("--clients", "4000"));
const HISTORY = arg("--history", "true") === "true";
const SERVER = arg("--server", "teahouse");
const TOPICS = Number(arg("--topics", "3"));
const ROOT = resolve(import.meta.dir, "..");
/** Between the last sign-in and the first socket: long enough for a settled reading. */
const HOLD_MS = 4000;

interface Measured {
  port: number;
  signedIn: () => number;
  connected: () => number;
  stop: () => Promise<void>;
}

const startTeahouse = (dir: string): Measured => {
  const teahouse = createApp({
    ...defaultConfig(),
    port: 0,
    host: "127.0.0.1",
    dataDir: dir,
    logLevel: "warn",
    history: HISTORY,
    // One address opens every socket: lift the per-address limits (as bench/run.ts does).
    maxSocketsPerIp: 1_000_000,
    maxUsersOnline: 10_000_000,
    signInPerMinute: 1_000_000,
    socketOpensPerIpPerMinute: 10_000_000,
    socketOpensPerMinute: 1_000_000,
  });
  let signedIn = 0;
  const counted = teahouse.metrics.httpResponse;
  teahouse.metrics.httpResponse = (status) => {
    if (status === 200) signedIn++;
    counted(status);
  };
  const server = teahouse.listen();
  return {
    port: server.port!,
    signedIn: () => signedIn,
    connected: () => teahouse.hub.connectionCount,
    stop: () => teahouse.stop(),
  };
};

/** Bun alone: a cookie per sign-in, sockets subscribed to TOPICS topics (the first one the user's own). */
const startRaw = (): Measured => {
  const sessions = new Map<string, number>();
  let signedIn = 0;
  let connected = 0;
  const server = Bun.serve<{ id: number }>({
    port: 0,
    hostname: "127.0.0.1",
    fetch(request, server) {
      const { pathname } = new URL(request.url);
      if (pathname === "/wsin") {
        const sid = crypto.randomUUID();
        sessions.set(sid, ++signedIn);
        return Response.json({ code: 0 }, { headers: { "set-cookie": `session=${sid}; Path=/; HttpOnly` } });
      }
      const id = sessions.get(request.headers.get("cookie")?.slice("session=".length) ?? "");
      if (id !== undefined && server.upgrade(request, { data: { id } })) return undefined;
      return new Response("no", { status: 401 });
    },
    websocket: {
      perMessageDeflate: false,
      idleTimeout: 120,
      sendPings: true,
      open(ws) {
        connected++;
        if (TOPICS > 0) ws.subscribe(`u:${ws.data.id}`);
        if (TOPICS > 1) ws.subscribe("all");
        for (let i = 2; i < TOPICS; i++) ws.subscribe(`c:${i - 1}`);
        ws.send(JSON.stringify({ type: "list", data: [] }));
      },
      message() {},
      close() {
        connected--;
      },
    },
  });
  return {
    port: server.port!,
    signedIn: () => signedIn,
    connected: () => connected,
    stop: async () => server.stop(true),
  };
};

const dir = mkdtempSync(join(tmpdir(), "teahouse-memory-"));
const measured = SERVER === "raw" ? startRaw() : startTeahouse(dir);

const rssKiB = (): number => Math.round(process.memoryUsage.rss() / 1024);
/** RssAnon, RssFile and RssShmem (KiB): anonymous memory, mapped files (SQLite's), shared memory (its WAL index). */
const rssParts = async (): Promise<number[]> => {
  const status = await Bun.file("/proc/self/status").text();
  return ["RssAnon", "RssFile", "RssShmem"].map((field) =>
    Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0),
  );
};
const settle = async (): Promise<{
  rss: number;
  parts: number[];
  heap: number;
  capacity: number;
  extra: number;
  objects: Record<string, number>;
}> => {
  for (let i = 0; i < 3; i++) {
    Bun.gc(true);
    await Bun.sleep(200);
  }
  const stats = heapStats();
  return {
    rss: rssKiB(),
    parts: await rssParts(),
    heap: stats.heapSize,
    capacity: stats.heapCapacity,
    extra: stats.extraMemorySize,
    objects: { ...stats.objectTypeCounts },
  };
};
const waitFor = async (done: () => boolean): Promise<void> => {
  const started = performance.now();
  while (!done()) {
    if (performance.now() - started > 300_000) throw new Error("clients did not connect");
    await Bun.sleep(50);
  }
};

const before = await settle();
const client = Bun.spawn(
  [
    process.execPath,
    "bench/client.ts",
    "--url",
    `http://127.0.0.1:${measured.port}`,
    "--mode",
    "idle",
    "--clients",
    String(CLIENTS),
    "--concurrency",
    "256",
    "--hold-ms",
    String(HOLD_MS),
    "--idle-ms",
    "60000",
  ],
  { cwd: ROOT, stdout: "ignore", stderr: "inherit" },
);
await waitFor(() => measured.signedIn() >= CLIENTS);
const signedIn = await settle();
if (measured.connected() > 0) throw new Error(`sockets opened before the signed-in reading; raise HOLD_MS`);
await waitFor(() => measured.connected() >= CLIENTS);
await Bun.sleep(2000); // the join/list burst
const after = await settle();
// Memory the allocator kept from the upgrade burst may go back to the system later.
await Bun.sleep(5000);
const later = await settle();
client.kill();
await client.exited;

const perConnection = (a: number, b: number) => Math.round((b - a) / CLIENTS);
console.log(
  JSON.stringify({
    server: SERVER,
    ...(SERVER === "raw" ? { topics: TOPICS } : { history: HISTORY }),
    clients: CLIENTS,
    rss_per_connection_b: perConnection(before.rss * 1024, after.rss * 1024),
    heap_per_connection_b: perConnection(before.heap, after.heap),
    rss_sign_in_b: perConnection(before.rss * 1024, signedIn.rss * 1024),
    rss_socket_b: perConnection(signedIn.rss * 1024, after.rss * 1024),
    heap_socket_b: perConnection(signedIn.heap, after.heap),
    /** The JS heap's blocks, used or not (what the heap holds of the RSS), and memory JS objects hold outside it. */
    heap_capacity_socket_b: perConnection(signedIn.capacity, after.capacity),
    heap_extra_socket_b: perConnection(signedIn.extra, after.extra),
    /** Of rss_socket_b: anonymous, file-backed and shared memory. */
    rss_socket_parts_b: after.parts.map((kib, i) => perConnection(signedIn.parts[i]! * 1024, kib * 1024)),
    rss_per_connection_later_b: perConnection(before.rss * 1024, later.rss * 1024),
    rss_before_kib: before.rss,
    rss_after_kib: after.rss,
  }),
);
const grown = Object.entries(after.objects)
  .map(([type, count]) => [type, (count - (signedIn.objects[type] ?? 0)) / CLIENTS] as const)
  .filter(([, perConn]) => Math.abs(perConn) >= 0.5)
  .sort((a, b) => b[1] - a[1]);
console.log("JS objects the sockets added per connection (≥ 0.5):");
for (const [type, perConn] of grown) console.log(`  ${perConn.toFixed(2).padStart(6)}  ${type}`);

await measured.stop();
rmSync(dir, { recursive: true, force: true });
process.exit(0);
