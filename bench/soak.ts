/**
 * Soak: runs teahouse as a child process for a few minutes under steady chat
 * with connections churning (closing, reconnecting, resuming, joining and
 * leaving rooms), samples the server's RSS, and reports whether it trends up.
 * Not part of the test suite.
 *
 *   bun bench/soak.ts [--minutes 3] [--users 100] [--rate 50] [--churn 5] [--sample-seconds 10] [--history false]
 *
 * --rate: chat messages per second over all users; --churn: sockets closed and
 * reopened per second; --history false runs the server without stored history, so that
 * RSS shows connection and message handling alone (with history the database legitimately
 * grows, and SQLite's cache with it). Exit code 1 if RSS grows by more than --max-growth-mib
 * per minute over the second half of the run (default 2), or messages were lost.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { spawnServer } from "../tests/process";

const { values } = parseArgs({
  options: {
    minutes: { type: "string", default: "3" },
    users: { type: "string", default: "100" },
    rate: { type: "string", default: "50" },
    churn: { type: "string", default: "5" },
    "sample-seconds": { type: "string", default: "10" },
    "max-growth-mib": { type: "string", default: "2" },
    history: { type: "string", default: "true" },
  },
});
const MINUTES = Math.min(60, Number(values.minutes));
const USERS = Number(values.users);
const RATE_PER_S = Number(values.rate);
const CHURN_PER_S = Number(values.churn);
const SAMPLE_MS = Number(values["sample-seconds"]) * 1000;
const MAX_GROWTH_MIB_PER_MIN = Number(values["max-growth-mib"]);
/** A message not seen by its sender this long after sending counts as lost. */
const DELIVERY_TIMEOUT_MS = 10_000;
const TICK_MS = 100;

const dataDir = mkdtempSync(join(tmpdir(), "teahouse-soak-"));
const server = await spawnServer(
  [
    "--data-dir",
    dataDir,
    "--signin-per-minute",
    String(USERS * 2),
    "--max-sockets-per-ip",
    String(USERS * 2),
    "--history",
    values.history ?? "true",
  ],
  // Info: spawnServer waits for the "listening" line.
  { env: { LOG_LEVEL: "info" } },
);
const rssMiB = (): number => {
  const status = readFileSync(`/proc/${server.proc.pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
};

interface SoakUser {
  name: string;
  cookie: string;
  ws: WebSocket | undefined;
  /** Highest chat id seen, for resuming. */
  since: number;
  /** Half of the users also chat in the room "soak". */
  wantsSoak: boolean;
  /** Whether this socket has its `list` for "soak" (until then it only chats in the lobby). */
  inSoak: boolean;
  /** Messages sent and not yet echoed back: cid → sent at. */
  pending: Map<string, number>;
}

const signIn = async (name: string): Promise<string> => {
  const response = await fetch(`${server.base}/wsin`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name }),
  });
  if (!response.ok) throw new Error(`sign-in ${name}: ${response.status} ${await response.text()}`);
  return response.headers.getSetCookie()[0]!.split(";")[0]!;
};

let delivered = 0;
let lost = 0;
let reconnects = 0;
const errors = new Map<string, number>();
const latencies: number[] = [];

const connect = (user: SoakUser, resume: boolean): Promise<void> =>
  new Promise((resolve) => {
    const resuming = resume && user.since > 0;
    const url = resuming ? `${server.wsUrl}?since=${user.since}${user.wantsSoak ? "&rooms=soak" : ""}` : server.wsUrl;
    const ws = new WebSocket(url, { headers: { cookie: user.cookie } } as unknown as string[]);
    user.ws = ws;
    user.inSoak = false;
    ws.addEventListener(
      "open",
      () => {
        if (user.wantsSoak && !resuming) ws.send(JSON.stringify({ type: "join", room: "soak" }));
        resolve();
      },
      { once: true },
    );
    ws.addEventListener("close", () => resolve(), { once: true });
    ws.addEventListener("message", (event) => {
      const frame = JSON.parse(String(event.data)) as {
        type: string;
        id: number;
        cid?: string;
        room?: string;
        user?: { name: string };
        data: unknown;
      };
      if (frame.type === "list" && frame.room === "soak") user.inSoak = true;
      if (frame.type === "error") {
        const code = (frame.data as { code: string }).code;
        errors.set(code, (errors.get(code) ?? 0) + 1);
      }
      if (frame.type === "chat") user.since = Math.max(user.since, frame.id);
      if (frame.type === "chat" && frame.cid && frame.user?.name === user.name) {
        const sentAt = user.pending.get(frame.cid);
        if (sentAt !== undefined) {
          user.pending.delete(frame.cid);
          delivered++;
          latencies.push(Date.now() - sentAt);
        }
      }
    });
  });

const users: SoakUser[] = [];
for (let i = 0; i < USERS; i++)
  users.push({
    name: `soak${i}`,
    cookie: await signIn(`soak${i}`),
    ws: undefined,
    since: 0,
    wantsSoak: i % 2 === 0,
    inSoak: false,
    pending: new Map(),
  });
await Promise.all(users.map((user) => connect(user, false)));

const started = Date.now();
const samples: Array<{ minute: number; rss: number }> = [];
const sample = () => {
  const minute = (Date.now() - started) / 60_000;
  const rss = rssMiB();
  samples.push({ minute, rss });
  console.log(
    `t=${minute.toFixed(1).padStart(5)} min  RSS ${rss.toFixed(1).padStart(7)} MiB  delivered ${delivered}  ` +
      `lost ${lost}  reconnects ${reconnects}  errors ${JSON.stringify(Object.fromEntries(errors))}`,
  );
};
sample();
let sent = 0;
let chatBudget = 0;
let churnBudget = 0;
const end = started + MINUTES * 60_000;
let nextSample = started + SAMPLE_MS;
while (Date.now() < end) {
  const tickStart = Date.now();
  // Steady chat: RATE_PER_S spread over ticks, from random users.
  for (chatBudget += (RATE_PER_S * TICK_MS) / 1000; chatBudget >= 1; chatBudget--) {
    const user = users[Math.floor(Math.random() * users.length)]!;
    if (user.ws?.readyState !== WebSocket.OPEN) continue;
    const cid = `s${sent++}`;
    user.pending.set(cid, Date.now());
    const room = user.inSoak && Math.random() < 0.5 ? "soak" : "lobby";
    user.ws.send(JSON.stringify({ type: "chat", room, data: `soak message ${cid}`, cid }));
  }
  // Churn: close a few sockets and reconnect them (resuming half of the time).
  for (churnBudget += (CHURN_PER_S * TICK_MS) / 1000; churnBudget >= 1; churnBudget--) {
    const user = users[Math.floor(Math.random() * users.length)]!;
    user.ws?.close();
    // Echoes in flight are not seen by a closed socket: those messages are not checked.
    user.pending.clear();
    reconnects++;
    void connect(user, Math.random() < 0.5);
  }
  // A message not echoed to its sender's (still open) socket in time is lost.
  const now = Date.now();
  for (const user of users)
    for (const [cid, at] of user.pending)
      if (now - at > DELIVERY_TIMEOUT_MS) {
        user.pending.delete(cid);
        lost++;
      }
  if (now >= nextSample) {
    sample();
    nextSample += SAMPLE_MS;
  }
  await Bun.sleep(Math.max(0, TICK_MS - (Date.now() - tickStart)));
}
sample();

// Least-squares slope of RSS over the second half (the first half includes warm-up).
const tail = samples.filter((s) => s.minute >= MINUTES / 2);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const mx = mean(tail.map((s) => s.minute));
const my = mean(tail.map((s) => s.rss));
const slope =
  tail.reduce((acc, s) => acc + (s.minute - mx) * (s.rss - my), 0) /
  Math.max(
    1e-9,
    tail.reduce((acc, s) => acc + (s.minute - mx) ** 2, 0),
  );
latencies.sort((a, b) => a - b);
console.log(
  `\nsoak: ${MINUTES} min, history ${values.history}, ${USERS} users, ${RATE_PER_S} msg/s, ${CHURN_PER_S} reconnects/s; sent ${sent}, ` +
    `delivered ${delivered}, lost ${lost}; echo latency p50 ${latencies[Math.floor(latencies.length / 2)] ?? "-"} ms, ` +
    `p99 ${latencies[Math.floor(latencies.length * 0.99)] ?? "-"} ms`,
);
console.log(
  `RSS ${samples[0]!.rss.toFixed(1)} → ${samples.at(-1)!.rss.toFixed(1)} MiB (peak ${Math.max(...samples.map((s) => s.rss)).toFixed(1)}); ` +
    `trend over the second half ${slope >= 0 ? "+" : ""}${slope.toFixed(2)} MiB/min ` +
    `(${slope <= MAX_GROWTH_MIB_PER_MIN ? "no growth trend" : "GROWING"})`,
);
for (const user of users) user.ws?.close();
server.proc.kill("SIGTERM");
await server.proc.exited;
rmSync(dataDir, { recursive: true, force: true });
process.exit(slope <= MAX_GROWTH_MIB_PER_MIN && lost === 0 ? 0 : 1);
