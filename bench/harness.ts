/**
 * What the benchmark runners share (`bench/run.ts`, `bench/cluster.ts`): the
 * lifted abuse limits, CPU pinning, free ports, readiness polling and the
 * median [min–max] formatting of the tables.
 */
import { closeSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { ClientOptions, ClientResult } from "./client";

export const ROOT = resolve(import.meta.dir, "..");
export const BUN = process.execPath;

/**
 * teahouse's abuse limits, lifted: the load client sends thousands of frames a
 * second per socket and opens 10,000 sockets from one address. The checks still
 * run (their cost is part of the figures); only the thresholds move. The slow-consumer
 * limit becomes raw Bun's default backpressure limit (16 MiB).
 */
export const LIFTED_LIMITS: [string, string][] = [
  ["--socket-opens-per-minute", "1000000"],
  ["--socket-opens-per-ip-per-minute", "10000000"],
  ["--rate-per-second", "100000"],
  ["--rate-burst", "100000"],
  ["--user-rate-per-second", "100000"],
  ["--user-rate-burst", "100000"],
  ["--abuse-strikes", "100000"],
  ["--max-sockets-per-ip", "1000000"],
  ["--max-users-online", "10000000"],
  ["--signin-per-minute", "1000000"],
  ["--slow-consumer-bytes", String(16 * 1024 * 1024)],
];

/** The LIFTED_LIMITS flags this checkout knows (an older one may lack some), as arguments. */
const liftedLimits = (): string[] => {
  const help = Bun.spawnSync([BUN, "src/index.ts", "--help"], { cwd: ROOT }).stdout.toString();
  return LIFTED_LIMITS.filter(([flag]) => new RegExp(`^\\s*${flag}\\s`, "m").test(help)).flat();
};

let liftedCache: string[] | undefined;
/** liftedLimits(), asked of `--help` once. */
export const lifted = (): string[] => (liftedCache ??= liftedLimits());

export interface ServerSpec {
  /** Short label used in tables. */
  name: string;
  /** The command, given a free port and a scratch directory. */
  command: (port: number, dir: string) => string[];
  /** What the load client does differently against this one (e.g. sends client ids). */
  client?: Partial<ClientOptions>;
}

/** teahouse from source, on `port` with its data in `dir`, quiet, limits lifted, plus `extra` flags. */
export const teahouse = (name: string, extra: string[] = []): ServerSpec => ({
  name,
  command: (port, dir) => [
    BUN,
    "src/index.ts",
    "--port",
    String(port),
    "--host",
    "127.0.0.1",
    "--data-dir",
    dir,
    "--log-level",
    "warn",
    ...lifted(),
    ...extra,
  ],
});

export const CPU_COUNT = availableParallelism();
export const HAS_TASKSET = Bun.spawnSync(["sh", "-c", "command -v taskset"]).exitCode === 0;
/** What `pin` does on this machine, for the reports. */
export const PINNING = HAS_TASKSET && CPU_COUNT >= 2 ? `server CPU 0, client CPU 1-${CPU_COUNT - 1}` : "no";

/** Server on CPU 0, client on the rest (nothing pinned on one CPU). */
export const pin = (role: "server" | "client", command: string[]): string[] => {
  // Raise the open-files limit to the hard limit first (10,000 sockets), then exec: the pid stays the server's.
  const raised = ["sh", "-c", 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"', "sh", ...command];
  if (!HAS_TASKSET || CPU_COUNT < 2) return raised;
  return ["taskset", "-c", role === "server" ? "0" : `1-${CPU_COUNT - 1}`, ...raised];
};

export const freePort = (): number => {
  const probe = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
  const port = probe.port!;
  probe.stop(true);
  return port;
};

/** Polls GET / until it answers 200; returns the ms it took, or throws. */
export const waitReady = async (port: number, exited: () => boolean, timeoutMs = 15_000): Promise<number> => {
  const start = performance.now();
  for (;;) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/`);
      await response.arrayBuffer();
      if (response.status === 200) return performance.now() - start;
    } catch {}
    if (exited()) throw new Error("server exited before answering");
    if (performance.now() - start > timeoutMs) throw new Error(`server on port ${port} not ready`);
    await Bun.sleep(2);
  }
};

// ------------------------------------------------------------------ processes

export interface Running {
  pid: number;
  port: number;
  stop(): Promise<void>;
  log(): Promise<string>;
}

/** Starts a server on a free port with its own scratch directory (removed on stop), pinned as a server; waits until it serves. */
export const startServer = async (spec: ServerSpec): Promise<Running> => {
  const dir = mkdtempSync(join(tmpdir(), "teahouse-bench-"));
  const port = freePort();
  const logPath = join(dir, "server.log");
  const logFd = openSync(logPath, "w");
  const child = Bun.spawn(pin("server", spec.command(port, join(dir, "data"))), {
    cwd: ROOT,
    stdout: logFd,
    stderr: logFd,
    env: { ...process.env, NODE_ENV: "production" },
  });
  closeSync(logFd);
  let exited = false;
  void child.exited.then(() => (exited = true));
  const log = () => Bun.file(logPath).text();
  try {
    await waitReady(port, () => exited);
  } catch (error) {
    child.kill("SIGKILL");
    throw new Error(`${spec.name}: ${(error as Error).message}\n${await log()}`);
  }
  return {
    pid: child.pid,
    port,
    log,
    async stop() {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
      await child.exited;
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
    },
  };
};

/** Runs `bench/client.ts` pinned as the client; its JSON line. */
export const spawnClient = async (
  options: Partial<ClientOptions> & Pick<ClientOptions, "url" | "pid">,
): Promise<ClientResult> => {
  const args = Object.entries(options).flatMap(([key, value]) => [
    `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`,
    String(value),
  ]);
  const child = Bun.spawn(pin("client", [BUN, "bench/client.ts", ...args]), {
    cwd: ROOT,
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  const line = out.trim().split("\n").pop() ?? "";
  if (code !== 0 || !line.startsWith("{")) throw new Error(`client failed (${code}):\n${out}${err}`);
  return JSON.parse(line) as ClientResult;
};

// ------------------------------------------------------------------ statistics and table cells

export const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
export const fmt = (value: number | null | undefined, digits = 0): string =>
  value === null || value === undefined || Number.isNaN(value)
    ? "—"
    : value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
/** "median [min–max]" of one figure over the runs. */
export const spread = (values: number[], digits = 0): string =>
  values.length === 0
    ? "—"
    : values.length === 1
      ? fmt(values[0], digits)
      : `${fmt(median(values), digits)} [${fmt(Math.min(...values), digits)}–${fmt(Math.max(...values), digits)}]`;
export const ratio = (value: number, reference: number | undefined): string =>
  reference === undefined || reference === 0 || !Number.isFinite(value) ? "—" : `${(value / reference).toFixed(2)}×`;

/** The load scenarios both runners measure (bench/run.ts adds the idle one). */
export interface LoadScenario {
  id: string;
  title: string;
  client: Partial<ClientOptions>;
}

export const LOAD_SCENARIOS: readonly LoadScenario[] = [
  {
    id: "closed32",
    title: "closed loop, 32 clients × 4 in flight",
    client: { mode: "closed", clients: 32, window: 4, warmupMs: 1000, durationMs: 4000 },
  },
  {
    id: "closed32x8",
    title: "closed loop, 32 clients × 8 in flight",
    client: { mode: "closed", clients: 32, window: 8, warmupMs: 1000, durationMs: 4000 },
  },
  {
    id: "closed256",
    title: "closed loop, 256 clients × 4 in flight",
    client: { mode: "closed", clients: 256, window: 4, warmupMs: 1000, durationMs: 4000 },
  },
  {
    id: "open256",
    title: "open loop, 256 clients, 100 msg/s in total",
    client: { mode: "open", clients: 256, rate: 100, warmupMs: 1000, durationMs: 5000 },
  },
];

/** The options both runners take: `--smoke`, `--repeats N`, `--only a,b`, `--out file`. */
export interface BenchArgs {
  smoke: boolean;
  repeats: number;
  only: string[];
  out: string;
}

/** Parses the common options, plus runner-specific flags without a value (`extra`). */
export const parseBenchArgs = <A extends BenchArgs>(
  argv: readonly string[],
  args: A,
  extra: Record<string, (args: A) => void> = {},
): A => {
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    if (flag === "--smoke") args.smoke = true;
    else if (flag === "--repeats") args.repeats = Number(argv[++i]);
    else if (flag === "--only") args.only = (argv[++i] ?? "").split(",");
    else if (flag === "--out") args.out = argv[++i] ?? "";
    else if (extra[flag]) extra[flag](args);
    else throw new Error(`unknown option ${flag}`);
  }
  return args;
};

/** Runs `work` for 0..count-1 with at most `concurrency` in flight; the results in order. */
export const pool = async <T>(count: number, work: (i: number) => Promise<T>, concurrency = 200): Promise<T[]> => {
  const out: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        const i = next++;
        out[i] = await work(i);
      }
    }),
  );
  return out;
};

/** Moves this process (a load client run in-process) to the client CPUs, as `pin` does for children. */
export const pinSelfAsClient = (): void => {
  if (HAS_TASKSET && CPU_COUNT >= 2)
    Bun.spawnSync(["taskset", "-a", "-p", "-c", `1-${CPU_COUNT - 1}`, String(process.pid)]);
};
