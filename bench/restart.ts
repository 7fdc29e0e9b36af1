/**
 * Restart storm, `bun run bench:restart`: N signed-in users with history in
 * several rooms are connected; the server is restarted (SIGTERM, then the
 * same binary on the same DATA_DIR and port). Every client reconnects by
 * itself with backoff and jitter (as the page does) and resumes from the
 * last message it had. Measured: the time from the restart until every
 * client has recovered every conversation (`recovered: true`), whether any
 * message acknowledged before the restart is missing, and `/healthz`
 * latency during the reconnect storm. Server on CPU 0, this client on CPU 1.
 *
 *   bun run bench:restart                  10,000 users (≈ 1 min)
 *   bun run bench:restart --users 300 --smoke
 *   BENCH_SERVER=path/to/server.ts …      run another entry point (an instrumented one) instead of src/index.ts
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { processCpuUs } from "./client";
import { BUN, ROOT, freePort, pin, pinSelfAsClient, pool, teahouse, waitReady } from "./harness";

const argv = process.argv.slice(2);
const smoke = argv.includes("--smoke");
const at = argv.indexOf("--users");
const USERS = at >= 0 ? Number(argv[at + 1]) : smoke ? 300 : 10_000;
/** Rooms besides the lobby; user i is in room i mod ROOMS. */
const ROOMS = 5;
/** Messages written to each room before the restart. */
const MESSAGES_PER_ROOM = smoke ? 20 : 200;
/** Reconnect backoff: first delay, cap (each attempt doubles it, with full jitter). */
const BACKOFF_MS = 250;
const BACKOFF_MAX_MS = 5_000;

/** Probes GET /healthz every 20 ms until SIGINT, then prints the latencies (ms) as JSON. */
const PROBER = `
const base = process.argv.at(-1);
const latencies = [];
let stop = false;
process.on("SIGINT", () => { stop = true; });
while (!stop) {
  const t = performance.now();
  try { await (await fetch(base + "/healthz")).arrayBuffer(); latencies.push(performance.now() - t); } catch {}
  await Bun.sleep(20);
}
console.log(JSON.stringify(latencies));
`;

const dir = mkdtempSync(join(tmpdir(), "teahouse-restart-"));
const port = freePort();
const base = `http://127.0.0.1:${port}`;
const start = async () => {
  // The benchmark runner's teahouse command, on this run's port and DATA_DIR (or an instrumented entry point).
  const command = teahouse("restart", ["--room-creations-per-hour", "1000", "--max-rooms-per-user", "20"]).command(
    port,
    dir,
  );
  if (process.env.BENCH_SERVER) command[1] = process.env.BENCH_SERVER;
  const child = Bun.spawn(pin("server", command), { cwd: ROOT, stdout: "ignore", stderr: "inherit" });
  let exited = false;
  void child.exited.then(() => (exited = true));
  await waitReady(port, () => exited);
  return child;
};

pinSelfAsClient();
let server = await start();

/** One user's client: reconnects with backoff, resumes from the highest message id it saw. */
class User {
  since = 0;
  epoch = "";
  ws: WebSocket | undefined;
  attempt = 0;
  /** Conversations that came back `recovered: true` since the last (re)connect. */
  recovered = new Set<string>();
  reconnects = 0;
  seen = new Set<number>();
  constructor(
    readonly cookie: string,
    readonly room: string,
  ) {}
  connect(): Promise<void> {
    const query = this.since > 0 ? `?since=${this.since}&epoch=${this.epoch}` : "";
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws/chat${query}`, {
      headers: { cookie: this.cookie },
    } as unknown as string[]);
    this.ws = ws;
    this.recovered = new Set();
    return new Promise<void>((resolve) => {
      ws.addEventListener("open", () => {
        this.attempt = 0;
        resolve();
      });
      ws.addEventListener("message", (event) => {
        const frame = JSON.parse(String(event.data)) as {
          type: string;
          id: number;
          room?: string;
          data: unknown;
          recovered?: boolean;
          position?: { epoch: string };
        };
        if (frame.type === "conversations") this.epoch = frame.position!.epoch;
        if (frame.type === "chat") {
          this.since = Math.max(this.since, frame.id);
          this.seen.add(frame.id);
        }
        if (frame.type === "history") {
          for (const m of frame.data as { id: number }[]) {
            this.since = Math.max(this.since, m.id);
            this.seen.add(m.id);
          }
          if (frame.recovered) this.recovered.add(frame.room ?? "direct");
        }
      });
      ws.addEventListener("close", () => {
        resolve();
        const delay = Math.random() * Math.min(BACKOFF_MAX_MS, BACKOFF_MS * 2 ** this.attempt++);
        setTimeout(() => {
          this.reconnects++;
          void this.connect();
        }, delay);
      });
    });
  }
  get back(): boolean {
    return this.recovered.has("lobby") && this.recovered.has(this.room) && this.recovered.has("direct");
  }
}

// Seed: users, their rooms (user i in room i mod ROOMS), and history in every room.
const users = await pool(USERS, async (i) => {
  const response = await fetch(`${base}/wsin`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: `u${i}` }),
  });
  await response.arrayBuffer();
  return new User(response.headers.getSetCookie()[0]!.split(";")[0]!, `r${i % ROOMS}`);
});
await pool(USERS, async (i) => {
  const user = users[i]!;
  await user.connect();
  // Refused (503 busy: the server spreads opens over event-loop turns)? It reconnects by itself.
  while (user.ws!.readyState !== WebSocket.OPEN) await Bun.sleep(50);
  user.ws!.send(JSON.stringify({ type: "join", room: user.room }));
});
await Bun.sleep(2000);
// A writer per room: its messages, acknowledged, are what nobody may lose.
const acked = new Set<number>();
for (let r = 0; r < ROOMS; r++) {
  const writer = users[r]!;
  await new Promise<void>((resolve) => {
    let left = MESSAGES_PER_ROOM;
    const onAck = (event: MessageEvent) => {
      const frame = JSON.parse(String(event.data)) as { type: string; data: { id: number } };
      if (frame.type !== "ack") return;
      acked.add(frame.data.id);
      if (--left === 0) {
        writer.ws!.removeEventListener("message", onAck);
        resolve();
      }
    };
    writer.ws!.addEventListener("message", onAck);
    for (let i = 0; i < MESSAGES_PER_ROOM; i++)
      writer.ws!.send(JSON.stringify({ type: "chat", room: writer.room, data: `m${i}`, cid: `${r}-${i}` }));
  });
}
await Bun.sleep(1500);

// The restart.
for (const user of users) user.reconnects = 0;
server.kill("SIGTERM");
await server.exited;
const restartedAt = performance.now();
server = await start();
const upAfter = performance.now() - restartedAt;
// /healthz probed from a process of its own: this one is busy with 10,000 reconnecting sockets.
const prober = Bun.spawn(pin("client", [BUN, "-e", PROBER, base]), { stdout: "pipe", stderr: "inherit" });
const deadline = performance.now() + 120_000;
while (users.some((user) => !user.back) && performance.now() < deadline) await Bun.sleep(50);
const allBackAfter = performance.now() - restartedAt;
// The new server's CPU until every client was back (its start included): the work per reconnect.
const recoveryCpu = Math.round((processCpuUs(server.pid) ?? 0) / 10_000) / 100;
prober.kill("SIGINT");
const latencies = JSON.parse((await new Response(prober.stdout).text()).trim() || "[]") as number[];
const back = users.filter((user) => user.back).length;
const reconnects = users.reduce((sum, user) => sum + user.reconnects, 0);
// Nothing acknowledged lost: each writer's room messages are in every member's view.
let missing = 0;
for (let r = 0; r < ROOMS; r++) {
  const members = users.filter((user) => user.room === `r${r}`);
  const writer = users[r]!;
  const theirs = [...writer.seen].filter((id) => acked.has(id));
  for (const member of members) for (const id of theirs) if (!member.seen.has(id)) missing++;
}
latencies.sort((a, b) => a - b);
const p99 = latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))] ?? 0;
const result = {
  smoke,
  users: USERS,
  rooms: ROOMS,
  messages_per_room: MESSAGES_PER_ROOM,
  server_up_after_s: Math.round(upAfter / 10) / 100,
  all_recovered_after_s: Math.round(allBackAfter / 10) / 100,
  recovered: back,
  missing_acknowledged: missing,
  reconnect_attempts: reconnects,
  server_cpu_s: recoveryCpu,
  server_cpu_ms_per_user: Math.round((recoveryCpu * 1e5) / USERS) / 100,
  healthz_p99_ms: Math.round(p99 * 10) / 10,
  healthz_max_ms: Math.round((latencies.at(-1) ?? 0) * 10) / 10,
};
console.log(
  `| ${USERS} | ${result.server_up_after_s} s | ${result.all_recovered_after_s} s | ${back} / ${USERS} | ${missing} | ${result.server_cpu_ms_per_user} | ${result.healthz_p99_ms} | ${result.healthz_max_ms} |`,
);
console.log(JSON.stringify(result));
for (const user of users) user.ws?.close();
server.kill("SIGTERM");
await server.exited;
rmSync(dir, { recursive: true, force: true });
process.exit(back === USERS && missing === 0 ? 0 : 1);
