/**
 * Join storm, `bun run bench:storm`: N signed-in users open their socket
 * within a few seconds, all into the lobby. Measured per run: frames and
 * bytes delivered per join (to everyone, the joiner's own room state
 * included), the time until every socket has its room state, the server's
 * RSS after, and `/healthz` latency during the storm (p99).
 *
 * Each N runs twice on a fresh server: with the defaults (per-person
 * presence up to 100 online, batched above, counts only above 1,000) and
 * with per-person presence at every size (`--presence-full-room-size` set
 * past N: the previous behaviour), so the rows compare the two in one run.
 * The server is pinned to CPU 0, this client to CPU 1; sockets are Bun's
 * WebSocket client, on loopback only.
 *
 *   bun run bench:storm                         N = 1,000, 3,000, 10,000 (≈ 3 min)
 *   bun run bench:storm --sizes 500 --smoke     a few seconds
 */
import { loadavg, cpus } from "node:os";
import { PINNING, fmt, lifted, pinSelfAsClient, pool, startServer, teahouse, type Running } from "./harness";
import { processRssKiB } from "./client";

interface StormResult {
  setup: string;
  users: number;
  frames_per_join: number;
  bytes_per_join: number;
  /** From the first socket opening until every socket had its lobby history. */
  settle_s: number;
  server_rss_mib: number | null;
  healthz_p99_ms: number;
  healthz_max_ms: number;
  /** Upgrades refused with 503 `busy` and tried again. */
  busy_retries: number;
}

const argv = process.argv.slice(2);
const flag = (name: string) => {
  const at = argv.indexOf(name);
  return at >= 0 ? argv[at + 1] : undefined;
};
const smoke = argv.includes("--smoke");
const sizes = (flag("--sizes") ?? (smoke ? "300" : "1000,3000,10000")).split(",").map(Number);

const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
};

const storm = async (setup: string, users: number, extra: string[]): Promise<StormResult> => {
  const server: Running = await startServer(teahouse(`${setup} ${users}`, extra));
  const base = `http://127.0.0.1:${server.port}`;
  const sockets: WebSocket[] = [];
  try {
    const cookies = await pool(users, async (i) => {
      const response = await fetch(`${base}/wsin`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name: `s${i}` }),
      });
      await response.arrayBuffer();
      return response.headers.getSetCookie()[0]!.split(";")[0]!;
    });
    let frames = 0;
    let bytes = 0;
    let settled = 0;
    let lastFrameAt = performance.now();
    // /healthz during the storm.
    const latencies: number[] = [];
    let probing = true;
    const prober = (async () => {
      while (probing) {
        const started = performance.now();
        await (await fetch(`${base}/healthz`)).arrayBuffer();
        latencies.push(performance.now() - started);
        await Bun.sleep(20);
      }
    })();
    const startedAt = performance.now();
    let allSettledAt = 0;
    /** Upgrades refused (503 `busy`: the server spreads the storm over event-loop turns) and tried again. */
    let retries = 0;
    const open = async (i: number): Promise<void> => {
      const ws = new WebSocket(`${base.replace("http", "ws")}/ws/chat`, {
        headers: { cookie: cookies[i]! },
      } as unknown as string[]);
      let hasState = false;
      const opened = await new Promise<boolean>((resolve) => {
        ws.addEventListener("message", (event) => {
          const text = String(event.data);
          frames++;
          bytes += text.length;
          lastFrameAt = performance.now();
          if (!hasState && text.includes('"type":"history"')) {
            hasState = true;
            if (++settled === users) allSettledAt = performance.now();
          }
        });
        ws.addEventListener("open", () => resolve(true), { once: true });
        ws.addEventListener("close", () => resolve(false), { once: true });
      });
      if (opened) return void sockets.push(ws);
      // Refused before it opened: as the page does, again after a moment (at most 50 times).
      if (++retries > users * 50) throw new Error("opens keep being refused");
      await Bun.sleep(250 + Math.random() * 250);
      return open(i);
    };
    await pool(users, open);
    // Every socket has its state, and the presence batches (one a second) have gone out.
    while (settled < users || performance.now() - lastFrameAt < 1500) await Bun.sleep(50);
    probing = false;
    await prober;
    return {
      setup,
      users,
      frames_per_join: Math.round((frames / users) * 10) / 10,
      bytes_per_join: Math.round(bytes / users),
      settle_s: Math.round((allSettledAt - startedAt) / 10) / 100,
      server_rss_mib: (() => {
        const kib = processRssKiB(server.pid);
        return kib === null ? null : Math.round(kib / 1024);
      })(),
      healthz_p99_ms: Math.round(quantile(latencies, 0.99) * 10) / 10,
      healthz_max_ms: Math.round(Math.max(...latencies) * 10) / 10,
      busy_retries: retries,
    };
  } finally {
    for (const ws of sockets) ws.close();
    await server.stop();
  }
};

pinSelfAsClient();
const results: StormResult[] = [];
for (const users of sizes) {
  results.push(await storm("presence as configured (defaults)", users, []));
  results.push(
    await storm("per-person presence at any size (before)", users, ["--presence-full-room-size", String(users * 2)]),
  );
  console.error(JSON.stringify(results.slice(-2)));
}
const lines = [
  `## Join storm — ${new Date().toISOString()}`,
  "",
  `Machine: ${cpus().length} CPUs (${cpus()[0]?.model ?? "unknown"}), Bun ${Bun.version}; pinned: ${PINNING}; ` +
    `limits lifted: ${lifted().join(" ")}; load average at end ${loadavg()
      .map((l) => l.toFixed(2))
      .join(", ")}.`,
  "",
  "| users | presence | frames per join | bytes per join | all have their room state after | server RSS MiB | /healthz p99 ms | /healthz max ms | opens retried (503 busy) |",
  "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ...results.map(
    (r) =>
      `| ${fmt(r.users)} | ${r.setup} | ${r.frames_per_join} | ${fmt(r.bytes_per_join)} | ${r.settle_s} s | ${r.server_rss_mib ?? "–"} | ${r.healthz_p99_ms} | ${r.healthz_max_ms} | ${fmt(r.busy_retries)} |`,
  ),
];
console.log(lines.join("\n"));
console.log(JSON.stringify({ smoke, results }));
