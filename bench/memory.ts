/**
 * Where teahouse's memory per idle signed-in connection goes. The app runs in
 * this process (so the garbage collector can be forced before each reading,
 * which an external RSS probe cannot do), the load client in idle mode in
 * another. Prints RSS and JS heap per connection, and the JS objects each
 * connection adds, by type.
 *
 * Usage: bun bench/memory.ts [--clients 4000] [--history true|false]
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
const ROOT = resolve(import.meta.dir, "..");

const dir = mkdtempSync(join(tmpdir(), "teahouse-memory-"));
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
const server = teahouse.listen();

const rssKiB = (): number => Math.round(process.memoryUsage.rss() / 1024);
const settle = async (): Promise<{ rss: number; heap: number; objects: Record<string, number> }> => {
  for (let i = 0; i < 3; i++) {
    Bun.gc(true);
    await Bun.sleep(200);
  }
  const stats = heapStats();
  return { rss: rssKiB(), heap: stats.heapSize, objects: { ...stats.objectTypeCounts } };
};

const before = await settle();
const client = Bun.spawn(
  [
    process.execPath,
    "bench/client.ts",
    "--url",
    `http://127.0.0.1:${server.port}`,
    "--mode",
    "idle",
    "--clients",
    String(CLIENTS),
    "--concurrency",
    "256",
    "--idle-ms",
    "60000",
  ],
  { cwd: ROOT, stdout: "ignore", stderr: "inherit" },
);
const started = performance.now();
while (teahouse.hub.connectionCount < CLIENTS) {
  if (performance.now() - started > 300_000) throw new Error("clients did not connect");
  await Bun.sleep(100);
}
await Bun.sleep(2000); // the join/list burst
const after = await settle();
client.kill();
await client.exited;

const perConnection = (a: number, b: number) => ((b - a) / CLIENTS).toFixed(0);
console.log(
  JSON.stringify({
    clients: CLIENTS,
    history: HISTORY,
    rss_per_connection_b: Number(perConnection(before.rss * 1024, after.rss * 1024)),
    heap_per_connection_b: Number(perConnection(before.heap, after.heap)),
    rss_before_kib: before.rss,
    rss_after_kib: after.rss,
  }),
);
const grown = Object.entries(after.objects)
  .map(([type, count]) => [type, (count - (before.objects[type] ?? 0)) / CLIENTS] as const)
  .filter(([, perConn]) => perConn >= 0.5)
  .sort((a, b) => b[1] - a[1]);
console.log("JS objects added per connection (≥ 0.5):");
for (const [type, perConn] of grown) console.log(`  ${perConn.toFixed(2).padStart(6)}  ${type}`);

await teahouse.stop();
rmSync(dir, { recursive: true, force: true });
process.exit(0);
