/**
 * A crowd, `bun run bench:crowd` (issue #13): S idle signed-in sockets in the
 * lobby and C users chatting there, on several instances sharing one
 * PostgreSQL + Redis, the way a deployment past one process's open files
 * holds them. Measured: the time to sign everyone in and open their sockets,
 * the RSS of every instance (sum and per socket) and of PostgreSQL and Redis,
 * chat latency send → receipt (p50, p99, max), deliveries missing, and
 * `/healthz` latency on each instance while the chat runs.
 *
 * Processes: PostgreSQL 15 (fsync on) and Redis (no persistence) from
 * tests/postgres.ts and tests/redis.ts; N teahouse instances, each on its own
 * port with the abuse limits lifted (harness.ts), one shared secret; load
 * processes, each a worker of this file (`--worker`), driven over
 * stdin/stdout lines: one holds the C chatters, the others the idle sockets,
 * at most `--per-client` each (one process may hold 20,000 open files here).
 * User i signs in at instance i mod N and opens its socket there; every
 * socket is a lobby member, so every message is one delivery per socket
 * (deliveries/s = messages/s × (S + C)). With `--room NAME` the chatters (only
 * they) join that room once their sockets are open and chat there: the idle
 * sockets stay in the lobby and get no chat, every message is C deliveries
 * (the other chatters' and the sender's own echo), and there is no idle-socket
 * latency sample.
 *
 * Chat: chatter k sends one message every `--interval` ms, the chatters
 * staggered evenly, on a fixed schedule (stamped with the scheduled time: a
 * stalled server cannot hide its queueing). Latency is measured at the other
 * chatters (one process, one clock, nothing else to read) and at a sample of
 * idle sockets (every `--sample`-th; the process clocks agree to well under a
 * millisecond). Every other idle socket only walks frame headers and counts
 * chat frames by a few bytes, so the load processes stay cheap.
 *
 * Pinning as bench/cluster.ts: teahouse, PostgreSQL and Redis on CPU 0, the
 * load processes and this runner on CPU 1.
 *
 *   bun run bench:crowd                                  50,000 idle + 20 chatting (each once per 20 s), 3 instances, 60 s
 *   bun run bench:crowd --smoke                          a few seconds, a few hundred sockets
 *   bun run bench:crowd --sockets 3000 --instances 3 --chatters 20 --duration 20 --interval 2000
 *   bun run bench:crowd --unpinned                       every process on every CPU (the scheduler places them)
 *   bun run bench:crowd --room talk                      the chatters talk in room "talk", the idle crowd stays in the lobby
 *
 * Other flags: --per-client N (sockets per load process, 16,000), --concurrency N (sign-ins and opens in
 * flight per load process, 32), --sample N (every N-th idle socket measures latency, 100), --out FILE
 * (bench/results/crowd-run.json; a smoke run writes only when given one).
 */
import type { Subprocess } from "bun";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { dirname, join } from "node:path";
import {
  CLOCK_TICKS_PER_S,
  Conn,
  Histogram,
  chatAt,
  chatFrame,
  errorText,
  processCpuUs,
  processRssKiB,
  processTreeCpuUs,
  readStamp,
  signIn,
  stamp,
  transport,
} from "./client";
import {
  BUN,
  CPU_COUNT,
  HAS_TASKSET,
  PINNING,
  ROOT,
  fmt,
  lifted,
  pin,
  pinSelfAsClient,
  pool,
  startServer,
  teahouse,
  type Running,
} from "./harness";
import { DEFAULT_ROOM, checkRoomName } from "../src/domain/names";
import { TestPostgres } from "../tests/postgres";
import { TestRedis } from "../tests/redis";

const SECRET = "bench-crowd-shared-secret-0123456789";
/** Files a process holds besides its sockets (the runtime, PostgreSQL connections, logs). */
const FD_MARGIN = 600;
/** Connections kept below the ephemeral range per server port (sign-in connections, TIME_WAIT). */
const PORT_MARGIN = 1000;
const nowUs = (): number => Math.round((performance.timeOrigin + performance.now()) * 1000);
const round = (value: number, digits: number): number => Math.round(value * 10 ** digits) / 10 ** digits;

/** `{"type":"join","room":…}` as a masked (zero key) client text frame; the payload fits a short frame (checked). */
const joinFrame = (room: string): Uint8Array => {
  const payload = new TextEncoder().encode(JSON.stringify({ type: "join", room }));
  if (payload.length >= 126) throw new Error(`--room ${room}: the name is too long for a join frame here`);
  const frame = new Uint8Array(6 + payload.length);
  frame[0] = 0x81;
  frame[1] = 0x80 | payload.length;
  frame.set(payload, 6);
  return frame;
};

// ------------------------------------------------------------------ the worker (one load process)

interface WorkerSpec {
  /** Instance URLs; user i uses urls[i mod n]. */
  urls: string[];
  /** This worker's users are global indices first … first + count - 1. */
  first: number;
  count: number;
  /** Chatters are global indices 0 … chatters - 1 (the chat worker holds exactly these). */
  chatters: number;
  namePrefix: string;
  /** Sign-ins and socket opens in flight at once. */
  concurrency: number;
  /** Every sample-th idle socket measures latency. */
  sample: number;
  pad: number;
  /** The room the chatters join and chat in (absent: they chat in the lobby, with everyone). */
  room?: string;
}

type Command =
  | { type: "signin" }
  | { type: "open" }
  | { type: "join"; maxMs: number }
  | { type: "settle"; quietMs: number; maxMs: number }
  | { type: "chat"; startUs: number; intervalMs: number; durationMs: number }
  | { type: "drain"; sent: number; quietMs: number; maxMs: number }
  | { type: "end" };

/** What a worker reports at the end of the run. */
interface WorkerResult {
  sockets: number;
  sent: number;
  received: number;
  expected: number;
  missing: number;
  errors: number;
  first_error?: string;
  closed: number;
  /** Latency samples, µs: the histogram's buckets (merged by the runner). */
  counts: number[];
  max_us: number;
  samples: number;
}

const runWorker = async (spec: WorkerSpec): Promise<void> => {
  const say = (message: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(message)}\n`);
  const isChatter = (index: number) => index < spec.chatters;
  const padding = "x".repeat(spec.pad);
  const histogram = new Histogram();
  let received = 0;
  let errors = 0;
  let firstError = "";
  let measuring = false;
  let at = 0;
  let lastDataAt = performance.now();
  const countError = (bytes: Uint8Array, start: number, end: number) => {
    const error = errorText(bytes, start, end);
    if (error === null) return;
    errors++;
    if (!firstError) firstError = error.slice(0, 300);
  };
  /** Chatters joining spec.room: each waits for the room's `history` (or fails on an error frame). */
  const joining = new Map<Conn, (error?: Error) => void>();
  const roomKey = spec.room === undefined ? "" : `"room":${JSON.stringify(spec.room)}`;
  const joinReply = (conn: Conn, bytes: Uint8Array, start: number, end: number) => {
    const done = joining.get(conn);
    if (!done) return;
    const text = Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString("utf8");
    if (text.includes('"type":"error"')) done(new Error(`joining ${spec.room}: ${text.slice(0, 300)}`));
    else if (text.includes('"type":"history"') && text.includes(roomKey)) done();
  };
  const { write, connect, endAll, closed } = transport(
    (conn, bytes, start, end) => {
      // Most sockets: a chat frame is counted by a few bytes, nothing is parsed.
      if (conn.countOnly) {
        if (chatAt(bytes, start, end) >= 0) received++;
        else countError(bytes, start, end);
        return;
      }
      if (!readStamp(bytes, start, end)) {
        if (joining.size > 0) joinReply(conn, bytes, start, end);
        return countError(bytes, start, end);
      }
      received++;
      // Chatters: the other chatters' messages; sampled idle sockets: every message.
      if (measuring && stamp.sender !== conn.index) histogram.record(at - stamp.sentAt);
    },
    () => {
      at = nowUs();
      lastDataAt = performance.now();
    },
  );
  const urls = spec.urls.map((url) => new URL(url));
  const cookies: string[] = new Array(spec.count);
  const conns: Conn[] = [];
  let sent = 0;

  const quiet = async (quietMs: number, maxMs: number, done: () => boolean = () => false): Promise<boolean> => {
    const deadline = performance.now() + maxMs;
    while (!done() && performance.now() - lastDataAt < quietMs) {
      if (performance.now() > deadline) return false;
      await Bun.sleep(Math.min(50, quietMs / 4));
    }
    return true;
  };

  const handle = async (command: Command): Promise<void> => {
    if (command.type === "signin") {
      const started = performance.now();
      await pool(
        spec.count,
        async (i) => {
          const index = spec.first + i;
          cookies[i] = await signIn(urls[index % urls.length]!.origin, `${spec.namePrefix}${index}`);
        },
        spec.concurrency,
      );
      say({ type: "signed", s: (performance.now() - started) / 1000 });
    } else if (command.type === "open") {
      const started = performance.now();
      for (let i = 0; i < spec.count; i++) {
        const index = spec.first + i;
        const conn = new Conn(index, Number(urls[index % urls.length]!.port), cookies[i]!);
        conn.countOnly = !isChatter(index) && index % spec.sample !== 0;
        conns.push(conn);
      }
      await pool(spec.count, (i) => connect(conns[i]!), spec.concurrency);
      say({ type: "opened", s: (performance.now() - started) / 1000 });
    } else if (command.type === "join") {
      const started = performance.now();
      const room = spec.room!;
      const frame = joinFrame(room);
      const chatters = conns.filter((c) => isChatter(c.index));
      await Promise.all(
        chatters.map(
          (conn) =>
            new Promise<void>((resolve, reject) => {
              const timer = setTimeout(
                () => done(new Error(`no history for room ${room} within ${command.maxMs} ms`)),
                command.maxMs,
              );
              const done = (error?: Error) => {
                clearTimeout(timer);
                joining.delete(conn);
                if (error) reject(error);
                else resolve();
              };
              joining.set(conn, done);
              write(conn, frame);
            }),
        ),
      );
      say({ type: "joined", s: (performance.now() - started) / 1000 });
    } else if (command.type === "settle") {
      const settled = await quiet(command.quietMs, command.maxMs);
      say({ type: "settled", settled, received, errors, first_error: firstError || undefined });
      received = 0;
    } else if (command.type === "chat") {
      measuring = true;
      const chatters = conns.filter((c) => isChatter(c.index));
      if (chatters.length > 0) {
        const endUs = command.startUs + command.durationMs * 1000;
        const stepUs = (command.intervalMs * 1000) / chatters.length;
        let issued = 0;
        // Message n goes from chatter n mod C at start + n × step: each chatter once per interval.
        await new Promise<void>((resolve) => {
          const timer = setInterval(() => {
            const now = nowUs();
            for (;;) {
              const dueUs = Math.round(command.startUs + issued * stepUs);
              if (dueUs >= endUs) {
                clearInterval(timer);
                return resolve();
              }
              if (dueUs > now) return;
              write(
                chatters[issued % chatters.length]!,
                chatFrame(chatters[issued % chatters.length]!.index, dueUs, padding, spec.room),
              );
              issued++;
              sent++;
            }
          }, 1);
        });
      } else await Bun.sleep(Math.max(0, command.startUs / 1000 + command.durationMs - Date.now()));
      say({ type: "chatted", sent });
    } else if (command.type === "drain") {
      // Every socket here gets every message in the lobby; in spec.room, only the chatters do.
      const members =
        spec.room === undefined
          ? spec.count
          : Math.max(0, Math.min(spec.first + spec.count, spec.chatters) - spec.first);
      const expected = command.sent * members;
      let seen = received;
      let progressAt = performance.now();
      const bound = performance.now() + command.maxMs;
      while (received < expected && performance.now() < bound) {
        await Bun.sleep(20);
        if (received !== seen) [seen, progressAt] = [received, performance.now()];
        else if (performance.now() - progressAt > command.quietMs) break;
      }
      measuring = false;
      const result: WorkerResult = {
        sockets: spec.count,
        sent,
        received,
        expected,
        missing: expected - received,
        errors,
        ...(firstError ? { first_error: firstError } : {}),
        closed: closed(),
        counts: Array.from(histogram.counts),
        max_us: histogram.max,
        samples: histogram.count,
      };
      say({ type: "result", result });
    } else if (command.type === "end") {
      endAll(conns);
      await Bun.sleep(200);
      process.exit(0);
    }
  };

  say({ type: "ready" });
  for await (const line of console) {
    if (!line.trim()) continue;
    try {
      await handle(JSON.parse(line) as Command);
    } catch (error) {
      say({ type: "failed", error: String((error as Error).stack ?? error) });
      process.exit(1);
    }
  }
  // stdin closed: the runner is gone.
  endAll(conns);
  process.exit(0);
};

// ------------------------------------------------------------------ the runner

interface Args {
  smoke: boolean;
  sockets: number;
  instances: number;
  chatters: number;
  durationS: number;
  intervalMs: number;
  perClient: number;
  concurrency: number;
  sample: number;
  /** Every process on every CPU (the scheduler spreads them) instead of servers on CPU 0, load on the rest. */
  unpinned: boolean;
  out: string;
  /** The chatters' room (undefined: the lobby, with every idle socket). */
  room: string | undefined;
}

const parseArgs = (argv: readonly string[]): Args => {
  const args: Args = {
    smoke: false,
    sockets: 50_000,
    instances: 3,
    chatters: 20,
    durationS: 60,
    intervalMs: 20_000,
    perClient: 16_000,
    concurrency: 32,
    sample: 100,
    unpinned: false,
    out: join(ROOT, "bench/results/crowd-run.json"),
    room: undefined,
  };
  const numeric: Record<string, keyof Args> = {
    "--sockets": "sockets",
    "--instances": "instances",
    "--chatters": "chatters",
    "--duration": "durationS",
    "--interval": "intervalMs",
    "--per-client": "perClient",
    "--concurrency": "concurrency",
    "--sample": "sample",
  };
  let outGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    if (flag === "--smoke") args.smoke = true;
    else if (flag === "--unpinned") args.unpinned = true;
    else if (flag === "--out") [args.out, outGiven] = [argv[++i] ?? "", true];
    else if (flag === "--room") {
      const check = checkRoomName(argv[++i] ?? "");
      if (!check.ok) throw new Error(`--room: ${check.message}`);
      if (check.name === DEFAULT_ROOM)
        throw new Error(`--room ${DEFAULT_ROOM}: the chatters talk in the lobby without --room`);
      args.room = check.name;
      joinFrame(args.room);
    } else if (numeric[flag]) {
      const value = Number(argv[++i]);
      if (!Number.isFinite(value) || value < 0) throw new Error(`${flag} needs a number`);
      (args as unknown as Record<string, number>)[numeric[flag]] = value;
    } else throw new Error(`unknown option ${flag} (see the comment at the top of bench/crowd.ts)`);
  }
  if (args.smoke) {
    const given = new Set(argv);
    if (!given.has("--sockets")) args.sockets = 300;
    if (!given.has("--chatters")) args.chatters = 4;
    if (!given.has("--duration")) args.durationS = 3;
    if (!given.has("--interval")) args.intervalMs = 400;
    if (!given.has("--per-client")) args.perClient = 120;
    if (!given.has("--sample")) args.sample = 10;
    // A smoke run leaves the recorded result alone unless told where to write.
    if (!outGiven) args.out = "";
  }
  if (args.instances < 1 || args.chatters < 2 || args.sockets < 1 || args.perClient < 1)
    throw new Error("need at least 1 instance, 2 chatters, 1 socket, 1 socket per load process");
  return args;
};

const hardFileLimit = (): number => Number(Bun.spawnSync(["sh", "-c", "ulimit -Hn"]).stdout.toString().trim()) || 1024;
const ephemeralPorts = (): number => {
  const [low, high] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
  return high! - low! + 1;
};

/** A process and its children (PostgreSQL's backends), each read; summed (PSS: shared memory counted once). */
const treeSum = (pid: number, read: (pid: number) => number | null): number | null => {
  if (!pid) return null;
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
    let total = read(pid) ?? 0;
    for (const child of children) total += read(Number(child)) ?? 0;
    return total;
  } catch {
    return null;
  }
};
const pssKiB = (pid: number): number | null => {
  try {
    const match = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
};

/** The whole machine's busy and iowait CPU time from /proc/stat, µs (every CPU). */
const machineCpuUs = (): { busy: number; iowait: number } => {
  const [, user, nice, system, , iowait, irq, softirq, steal] = readFileSync("/proc/stat", "utf8")
    .split("\n")[0]!
    .trim()
    .split(/\s+/)
    .map(Number);
  const tick = 1e6 / CLOCK_TICKS_PER_S;
  return { busy: (user! + nice! + system! + irq! + softirq! + steal!) * tick, iowait: iowait! * tick };
};

/** A load process: JSON lines out, commands in. */
class Worker {
  private buffered: Record<string, unknown>[] = [];
  private waiting: ((message: Record<string, unknown>) => void) | null = null;
  private stderr = "";
  readonly proc: Subprocess<"pipe", "pipe", "pipe">;
  exited = false;
  constructor(
    readonly name: string,
    spec: WorkerSpec,
  ) {
    const proc = Bun.spawn(pin("client", [BUN, "bench/crowd.ts", "--worker", JSON.stringify(spec)]), {
      cwd: ROOT,
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
    });
    this.proc = proc;
    void proc.exited.then(() => {
      this.exited = true;
      this.deliver({ type: "exited", code: proc.exitCode });
    });
    void (async () => {
      let rest = "";
      const decoder = new TextDecoder();
      for await (const chunk of proc.stdout) {
        rest += decoder.decode(chunk, { stream: true });
        let newline: number;
        while ((newline = rest.indexOf("\n")) >= 0) {
          const line = rest.slice(0, newline);
          rest = rest.slice(newline + 1);
          if (line.startsWith("{")) this.deliver(JSON.parse(line) as Record<string, unknown>);
        }
      }
    })();
    void (async () => {
      for await (const chunk of proc.stderr) this.stderr = (this.stderr + new TextDecoder().decode(chunk)).slice(-4000);
    })();
  }
  get pid(): number {
    return this.proc.pid;
  }
  private deliver(message: Record<string, unknown>): void {
    if (this.waiting) {
      const waiting = this.waiting;
      this.waiting = null;
      waiting(message);
    } else this.buffered.push(message);
  }
  send(command: Command): void {
    this.proc.stdin.write(`${JSON.stringify(command)}\n`);
    this.proc.stdin.flush();
  }
  /** The next message, which must be of `type`. */
  async next<T = Record<string, unknown>>(type: string): Promise<T> {
    const message =
      this.buffered.shift() ?? (await new Promise<Record<string, unknown>>((resolve) => (this.waiting = resolve)));
    if (message.type !== type)
      throw new Error(
        `${this.name}: expected ${type}, got ${JSON.stringify(message).slice(0, 2000)}\n${this.stderr.slice(-2000)}`,
      );
    return message as T;
  }
  async ask<T = Record<string, unknown>>(command: Command, reply: string): Promise<T> {
    this.send(command);
    return this.next<T>(reply);
  }
  kill(): void {
    if (!this.exited) this.proc.kill("SIGKILL");
  }
}

/** `/healthz` on one instance every `everyMs` until stopped: latencies in ms. */
const probe = (port: number, everyMs: number) => {
  const latencies: number[] = [];
  let failures = 0;
  let running = true;
  const done = (async () => {
    while (running) {
      const started = performance.now();
      try {
        const response = await fetch(`http://127.0.0.1:${port}/healthz`);
        await response.arrayBuffer();
        if (response.status !== 200) failures++;
      } catch {
        failures++;
      }
      latencies.push(performance.now() - started);
      await Bun.sleep(everyMs);
    }
  })();
  return {
    async stop() {
      running = false;
      await done;
      const sorted = [...latencies].sort((a, b) => a - b);
      const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
      return {
        probes: sorted.length,
        failures,
        p50_ms: round(at(0.5), 2),
        p99_ms: round(at(0.99), 2),
        max_ms: round(sorted.at(-1) ?? 0, 2),
      };
    },
  };
};

const runCrowd = async (args: Args): Promise<void> => {
  const began = performance.now();
  const total = args.sockets + args.chatters;
  const perInstance = Math.ceil(total / args.instances);
  const fileLimit = hardFileLimit();
  const ports = ephemeralPorts();
  const idleWorkers = Math.ceil(args.sockets / args.perClient);
  // What one process and one server port can hold here, checked before anything starts.
  if (perInstance + FD_MARGIN > fileLimit)
    throw new Error(
      `${fmt(perInstance)} sockets per instance do not fit the open-files limit (${fileLimit}): use more --instances`,
    );
  if (Math.ceil(args.sockets / idleWorkers) + FD_MARGIN > fileLimit)
    throw new Error(`--per-client ${args.perClient} does not fit the open-files limit (${fileLimit})`);
  if (perInstance + PORT_MARGIN > ports)
    throw new Error(
      `${fmt(perInstance)} connections from 127.0.0.1 to one port exceed the ${fmt(ports)} ephemeral ports: use more --instances`,
    );

  const durationMs = args.durationS * 1000;
  /** Deliveries of one message: every socket in the lobby; in --room, the chatters (the sender's own echo included). */
  const perMessage = args.room === undefined ? total : args.chatters;
  const settings = {
    sockets_idle: args.sockets,
    chatters: args.chatters,
    sockets_total: total,
    instances: args.instances,
    sockets_per_instance: perInstance,
    load_processes: idleWorkers + 1,
    sockets_per_load_process: Math.ceil(args.sockets / idleWorkers),
    interval_ms_per_chatter: args.intervalMs,
    messages_per_s: round((args.chatters * 1000) / args.intervalMs, 2),
    deliveries_per_s: Math.round(((args.chatters * 1000) / args.intervalMs) * perMessage),
    duration_s: args.durationS,
    latency_sample_every: args.sample,
    signin_concurrency_per_process: args.concurrency,
  };
  const machine = {
    cpus: CPU_COUNT,
    cpu_model: cpus()[0]?.model ?? "unknown",
    memory_gib: round(Number(/MemTotal:\s+(\d+)/.exec(readFileSync("/proc/meminfo", "utf8"))?.[1] ?? 0) / 2 ** 20, 1),
    bun: Bun.version,
    postgres: "PostgreSQL (Debian), fsync on, synchronous_commit on",
    redis: Bun.spawnSync(["redis-server", "--version"]).stdout.toString().trim().split(" sha=")[0],
    pinned:
      PINNING === "no" || args.unpinned
        ? "no (every process on every CPU)"
        : "teahouse, PostgreSQL and Redis on CPU 0; load processes and runner on CPU 1",
    open_files_hard_limit: fileLimit,
    ephemeral_ports: ports,
    teahouse_limits_lifted: lifted().join(" "),
    load_average_at_start: loadavg().map((l) => round(l, 2)),
  };
  console.error(`crowd: ${JSON.stringify({ settings, machine })}`);
  // Budget: sign-in and open at ≥ 250 users/s, plus the chat, drain and starts; whatever happens, stop then.
  const deadlineMs = 120_000 + (total / 60) * 1000 + durationMs * 2;

  /** --unpinned: a process (every thread) back on every CPU. */
  const unpin = (pid: number | undefined) => {
    if (pid && args.unpinned && HAS_TASKSET)
      Bun.spawnSync(["taskset", "-a", "-p", "-c", `0-${CPU_COUNT - 1}`, String(pid)]);
  };
  pinSelfAsClient();
  unpin(process.pid);
  const pg = new TestPostgres({ durable: true });
  const redis = new TestRedis();
  const servers: Running[] = [];
  const workers: Worker[] = [];
  let stopping: Promise<void> | undefined;
  const stopAll = () =>
    (stopping ??= (async () => {
      for (const worker of workers) worker.kill();
      await Promise.all(servers.map((s) => s.stop()));
      await Promise.all([pg.dispose(), redis.dispose()]);
    })());
  const deadline = setTimeout(() => {
    console.error(`bench:crowd: over the run deadline (${Math.round(deadlineMs / 1000)} s), stopping`);
    void stopAll().finally(() => process.exit(1));
  }, deadlineMs);
  const onSignal = () => void stopAll().finally(() => process.exit(130));
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  const phase = (name: string, since: number) =>
    console.error(`crowd: ${name} in ${fmt((performance.now() - since) / 1000, 1)} s`);
  try {
    await Promise.all([pg.start(), redis.start({ persist: false })]);
    const pinServer = (pid: number | undefined) => {
      if (pid && HAS_TASKSET && PINNING !== "no" && !args.unpinned)
        Bun.spawnSync(["taskset", "-a", "-p", "-c", "0", String(pid)]);
    };
    pinServer(pg.pid);
    pinServer(redis.pid);
    const flags = ["--secret", SECRET, "--database-url", await pg.database(), "--redis-url", redis.url];
    for (let i = 0; i < args.instances; i++) servers.push(await startServer(teahouse(`teahouse #${i + 1}`, flags)));
    for (const server of servers) unpin(server.pid);
    // Instances hear each other within a heartbeat.
    await Bun.sleep(500);
    const urls = servers.map((s) => `http://127.0.0.1:${s.port}`);
    const namePrefix = `c${Math.random().toString(36).slice(2, 6)}-`;
    const base = {
      urls,
      chatters: args.chatters,
      namePrefix,
      concurrency: args.concurrency,
      sample: args.sample,
      pad: 32,
      ...(args.room === undefined ? {} : { room: args.room }),
    };
    workers.push(new Worker("chatters", { ...base, first: 0, count: args.chatters }));
    const perWorker = Math.ceil(args.sockets / idleWorkers);
    for (let w = 0; w < idleWorkers; w++) {
      const first = args.chatters + w * perWorker;
      const count = Math.min(perWorker, total - first);
      workers.push(new Worker(`idle #${w + 1}`, { ...base, first, count }));
    }
    await Promise.all(workers.map((w) => w.next("ready")));
    for (const worker of workers) unpin(worker.pid);

    const rss = () => servers.map((s) => processRssKiB(s.pid) ?? 0);
    const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
    const rssStart = rss();

    let at = performance.now();
    await Promise.all(workers.map((w) => w.ask({ type: "signin" }, "signed")));
    const signinS = (performance.now() - at) / 1000;
    phase(`${fmt(total)} signed in`, at);
    const rssSignedIn = rss();

    at = performance.now();
    await Promise.all(workers.map((w) => w.ask({ type: "open" }, "opened")));
    const openS = (performance.now() - at) / 1000;
    phase(`${fmt(total)} sockets open`, at);
    if (args.room !== undefined) {
      at = performance.now();
      await workers[0]!.ask({ type: "join", maxMs: 120_000 }, "joined");
      phase(`${args.chatters} chatters in room ${args.room}`, at);
    }
    at = performance.now();
    const settled = await Promise.all(
      workers.map((w) =>
        w.ask<{ settled: boolean; errors: number; first_error?: string }>(
          { type: "settle", quietMs: 2500, maxMs: 120_000 },
          "settled",
        ),
      ),
    );
    const settleS = (performance.now() - at) / 1000;
    phase("settled", at);
    const connectErrors = settled.reduce((n, s) => n + s.errors, 0);
    if (connectErrors > 0)
      throw new Error(
        `${connectErrors} error frames while connecting: ${settled.find((s) => s.first_error)?.first_error}`,
      );
    const rssSettled = rss();

    // ---- the chat
    const pids = servers.map((s) => s.pid);
    const cpuNow = () => ({
      at: performance.now(),
      teahouse: pids.map((pid) => processCpuUs(pid) ?? 0),
      pg: processTreeCpuUs(pg.pid) ?? 0,
      redis: processCpuUs(redis.pid ?? 0) ?? 0,
      load: sum(workers.map((w) => processCpuUs(w.pid) ?? 0)),
      self: processCpuUs(process.pid) ?? 0,
      machine: machineCpuUs(),
    });
    const probes = servers.map((s) => probe(s.port, 100));
    let rssPeak = rssSettled;
    const sampler = setInterval(() => {
      const now = rss();
      rssPeak = rssPeak.map((v, i) => Math.max(v, now[i]!));
    }, 1000);
    // The schedule starts a little after the command, on every worker alike; the window is measured from it.
    const startUs = nowUs() + 300_000;
    const chatting = Promise.all(
      workers.map((w) =>
        w.ask<{ sent: number }>({ type: "chat", startUs, intervalMs: args.intervalMs, durationMs }, "chatted"),
      ),
    );
    await Bun.sleep(Math.max(0, (startUs - nowUs()) / 1000));
    const cpuBefore = cpuNow();
    const chatted = await chatting;
    const cpuAfter = cpuNow();
    const health = await Promise.all(probes.map((p) => p.stop()));
    clearInterval(sampler);
    const rssEnd = rss();
    const sent = chatted[0]!.sent;
    phase(`chat: ${fmt(sent)} messages`, cpuBefore.at);
    const pgRss = treeSum(pg.pid, processRssKiB);
    const pgPss = treeSum(pg.pid, pssKiB);
    const redisRss = processRssKiB(redis.pid ?? 0);

    at = performance.now();
    const results = await Promise.all(
      workers.map((w) =>
        w.ask<{ result: WorkerResult }>({ type: "drain", sent, quietMs: 5000, maxMs: 60_000 }, "result"),
      ),
    ).then((replies) => replies.map((r) => r.result));
    phase("drained", at);

    const merge = (from: WorkerResult[]) => {
      const histogram = new Histogram();
      for (const r of from) {
        r.counts.forEach((c, i) => (histogram.counts[i]! += c));
        histogram.count += r.samples;
        histogram.max = Math.max(histogram.max, r.max_us);
      }
      return {
        samples: histogram.count,
        p50_ms: round(histogram.quantile(0.5) / 1000, 2),
        p99_ms: round(histogram.quantile(0.99) / 1000, 2),
        max_ms: round(histogram.max / 1000, 2),
      };
    };
    const seconds = (cpuAfter.at - cpuBefore.at) / 1000;
    const cpuShare = (before: number, after: number) => round((after - before) / (seconds * 1e6), 3);
    const mib = (kib: number | null) => (kib === null ? null : round(kib / 1024, 1));
    const expected = sum(results.map((r) => r.expected));
    const received = sum(results.map((r) => r.received));
    const report = {
      settings,
      /** Where the chatters talk, and how many sockets get each message there. */
      room: { name: args.room ?? DEFAULT_ROOM, deliveries_per_message: perMessage },
      machine,
      signin_s: round(signinS, 2),
      signin_per_s: Math.round(total / signinS),
      open_s: round(openS, 2),
      open_per_s: Math.round(total / openS),
      settle_s: round(settleS, 2),
      chat: {
        window_s: round(seconds, 2),
        sent,
        messages_per_s: round(sent / seconds, 2),
        deliveries_expected: expected,
        deliveries_received: received,
        deliveries_missing: expected - received,
        deliveries_per_s: Math.round(received / seconds),
        errors: sum(results.map((r) => r.errors)),
        first_error: results.find((r) => r.first_error)?.first_error,
        sockets_closed: sum(results.map((r) => r.closed)),
        latency_chatters: merge(results.slice(0, 1)),
        // In --room the idle sockets get no chat: nothing to sample.
        latency_idle_sample: args.room === undefined ? merge(results.slice(1)) : null,
      },
      instances: servers.map((s, i) => ({
        port: s.port,
        rss_start_mib: mib(rssStart[i]!),
        rss_signed_in_mib: mib(rssSignedIn[i]!),
        rss_settled_mib: mib(rssSettled[i]!),
        rss_peak_mib: mib(rssPeak[i]!),
        rss_end_mib: mib(rssEnd[i]!),
        cpu: cpuShare(cpuBefore.teahouse[i]!, cpuAfter.teahouse[i]!),
        healthz: health[i]!,
      })),
      teahouse_rss_settled_mib: mib(sum(rssSettled)),
      teahouse_rss_end_mib: mib(sum(rssEnd)),
      /** All instances' RSS at the end of the chat over every socket, and its growth from start over every socket. */
      rss_per_socket_kib: round(sum(rssEnd) / total, 2),
      rss_growth_per_socket_kib: round((sum(rssEnd) - sum(rssStart)) / total, 2),
      socket_only_per_socket_kib: round((sum(rssSettled) - sum(rssSignedIn)) / total, 2),
      teahouse_cpu: cpuShare(sum(cpuBefore.teahouse), sum(cpuAfter.teahouse)),
      teahouse_cpu_us_per_delivery:
        received > 0 ? round((sum(cpuAfter.teahouse) - sum(cpuBefore.teahouse)) / received, 3) : null,
      postgres_rss_mib: mib(pgRss),
      postgres_pss_mib: mib(pgPss),
      postgres_cpu: cpuShare(cpuBefore.pg, cpuAfter.pg),
      redis_rss_mib: mib(redisRss),
      redis_cpu: cpuShare(cpuBefore.redis, cpuAfter.redis),
      load_processes_cpu: cpuShare(cpuBefore.load, cpuAfter.load),
      /** Every CPU's busy time in the chat window, and what processes other than this run's took of it. */
      machine_cpu: cpuShare(cpuBefore.machine.busy, cpuAfter.machine.busy),
      other_work_cpu: cpuShare(
        cpuBefore.machine.busy + sum(cpuAfter.teahouse) + cpuAfter.pg + cpuAfter.redis + cpuAfter.load + cpuAfter.self,
        cpuAfter.machine.busy +
          sum(cpuBefore.teahouse) +
          cpuBefore.pg +
          cpuBefore.redis +
          cpuBefore.load +
          cpuBefore.self,
      ),
      machine_iowait: cpuShare(cpuBefore.machine.iowait, cpuAfter.machine.iowait),
      load_average_at_end: loadavg().map((l) => round(l, 2)),
      total_s: 0,
      smoke: args.smoke,
    };
    for (const w of workers) w.send({ type: "end" });
    await Promise.all(workers.map((w) => Promise.race([w.proc.exited, Bun.sleep(3000)])));
    report.total_s = round((performance.now() - began) / 1000, 1);
    console.log(markdown(report));
    if (args.out) {
      mkdirSync(dirname(args.out), { recursive: true });
      writeFileSync(args.out, `${JSON.stringify(report, null, 2)}\n`);
    }
    console.log(JSON.stringify(report));
    if (report.chat.deliveries_missing !== 0 || report.chat.errors !== 0 || report.chat.sockets_closed !== 0)
      process.exitCode = 1;
  } finally {
    clearTimeout(deadline);
    await stopAll();
  }
};

type Report = {
  settings: Record<string, number>;
  room: { name: string; deliveries_per_message: number };
  machine: Record<string, unknown>;
  chat: { latency_chatters: Record<string, number>; latency_idle_sample: Record<string, number> | null } & Record<
    string,
    unknown
  >;
  instances: ({ healthz: Record<string, number> } & Record<string, unknown>)[];
} & Record<string, unknown>;

const markdown = (r: Report): string => {
  const s = r.settings;
  const c = r.chat;
  const room = r.room;
  const row = (label: string, value: unknown) =>
    `| ${label} | ${typeof value === "number" ? fmt(value, Number.isInteger(value) ? 0 : 2) : String(value)} |`;
  const health = r.instances.map((i) => `${i.healthz.p50_ms} / ${i.healthz.p99_ms} / ${i.healthz.max_ms}`).join("; ");
  const lobby = room.name === DEFAULT_ROOM;
  const idle = c.latency_idle_sample;
  return [
    `## Crowd: ${fmt(s.sockets_idle)} idle sockets + ${s.chatters} chatting${lobby ? "" : ` in room ${room.name}`}, ${s.instances} instances — ${new Date().toISOString()}`,
    "",
    `Machine: ${r.machine.cpus} CPUs (${r.machine.cpu_model}), ${r.machine.memory_gib} GiB, Bun ${r.machine.bun}, ${r.machine.postgres}, ${r.machine.redis}; ` +
      `pinned: ${r.machine.pinned}; ${s.load_processes} load processes (≤ ${fmt(s.sockets_per_load_process)} sockets each); ` +
      `each chatter one message every ${s.interval_ms_per_chatter} ms (${s.messages_per_s} messages/s, ${fmt(s.deliveries_per_s)} deliveries/s); ` +
      `load average at start ${(r.machine.load_average_at_start as number[]).join(", ")}, at end ${(r.load_average_at_end as number[]).join(", ")}.`,
    "",
    "| figure | value |",
    "| --- | --- |",
    row("sockets (idle + chatting) / per instance", `${fmt(s.sockets_total)} / ${fmt(s.sockets_per_instance)}`),
    row("sign-in, s (users/s)", `${r.signin_s} (${fmt(r.signin_per_s as number)})`),
    row("socket opens, s (sockets/s)", `${r.open_s} (${fmt(r.open_per_s as number)})`),
    row("settled after, s", r.settle_s),
    row(
      "chat room / deliveries per message",
      `${room.name} (${lobby ? "every socket" : "the chatters only; the idle sockets stay in the lobby"}) / ${fmt(room.deliveries_per_message)}`,
    ),
    row("chat window, s / messages sent", `${c.window_s} / ${fmt(c.sent as number)}`),
    row("deliveries/s", c.deliveries_per_s),
    row(
      "deliveries missing / error frames / sockets closed",
      `${c.deliveries_missing} / ${c.errors} / ${c.sockets_closed}`,
    ),
    row(
      "chat latency at the other chatters, ms: p50 / p99 / max",
      `${c.latency_chatters.p50_ms} / **${c.latency_chatters.p99_ms}** / ${c.latency_chatters.max_ms} (${fmt(c.latency_chatters.samples)} samples)`,
    ),
    row(
      `chat latency at idle sockets (1 in ${s.latency_sample_every}), ms: p50 / p99 / max`,
      idle
        ? `${idle.p50_ms} / ${idle.p99_ms} / ${idle.max_ms} (${fmt(idle.samples)} samples)`
        : `n/a (not in room ${room.name}: no chat reaches them)`,
    ),
    row("teahouse RSS, MiB: settled / end of chat (sum)", `${r.teahouse_rss_settled_mib} / ${r.teahouse_rss_end_mib}`),
    row("teahouse RSS per instance at the end, MiB", r.instances.map((i) => i.rss_end_mib).join(", ")),
    row(
      "teahouse RSS per socket, KiB: total / growth from start / socket only",
      `${r.rss_per_socket_kib} / ${r.rss_growth_per_socket_kib} / ${r.socket_only_per_socket_kib}`,
    ),
    row("teahouse CPU (cores, summed) / µs per delivery", `${r.teahouse_cpu} / ${r.teahouse_cpu_us_per_delivery}`),
    row("PostgreSQL RSS / PSS, MiB (postmaster + backends)", `${r.postgres_rss_mib} / ${r.postgres_pss_mib}`),
    row("Redis RSS, MiB", r.redis_rss_mib),
    row(
      "PostgreSQL / Redis / load processes CPU (cores)",
      `${r.postgres_cpu} / ${r.redis_cpu} / ${r.load_processes_cpu}`,
    ),
    row("/healthz during the chat, ms: p50 / p99 / max per instance", health),
    row(
      "machine CPU in the window (cores): all busy / other work than this run / iowait",
      `${r.machine_cpu} / ${r.other_work_cpu} / ${r.machine_iowait}`,
    ),
    row("total run, s", r.total_s),
  ].join("\n");
};

if (process.argv[2] === "--worker") await runWorker(JSON.parse(process.argv[3]!) as WorkerSpec);
else await runCrowd(parseArgs(process.argv.slice(2)));
