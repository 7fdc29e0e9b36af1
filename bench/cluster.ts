/**
 * Several instances behind Redis, `bun run bench:cluster`: what Redis mode
 * costs, measured against one instance without Redis, in one run.
 *
 * Setups, each started fresh for every run and interleaved (A B C, B C A, …):
 * - one instance (in-process broker, SQLite history), the reference;
 * - one instance with Redis (the same process, every message through Redis);
 * - two instances with Redis, one shared secret, users split across both
 *   (user i on instance i mod 2; every user gets every broadcast).
 *
 * One redis-server (Debian's) is started for the whole run on a free loopback
 * port with a temporary directory and no persistence, and flushed after each
 * run. Pinning, on two CPUs: every teahouse process and redis-server on CPU 0,
 * the load client on CPU 1. Two instances on one core therefore measure what
 * the split costs, not scale-out: they share the core the single instance has
 * to itself. Server CPU is summed over every teahouse process; Redis CPU is
 * redis-server's own (/proc/<pid>/stat), per delivery and per message.
 *
 *   bun run bench:cluster                  ≈ 3 min on 2 CPUs; a markdown table and one JSON line
 *   bun run bench:cluster --smoke          a few seconds (tests/bench-cluster.test.ts); no timings asserted
 *   bun run bench:cluster --repeats 5 --only closed32,open256 --out cluster.json
 */
import { writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import type { ClientOptions, ClientResult } from "./client";
import {
  CPU_COUNT,
  LOAD_SCENARIOS,
  parseBenchArgs,
  type BenchArgs,
  PINNING,
  fmt,
  lifted,
  median,
  pin,
  ratio,
  spawnClient,
  spread,
  startServer,
  teahouse,
  type Running,
} from "./harness";
import { REDIS_SERVER, startRedis, type Redis } from "./redis-server";

/** One secret for every instance, so a cookie made on one verifies on the other (≥ 16 characters). */
const SECRET = "bench-cluster-shared-secret-0123456789";
/** The whole run, whatever happens: past this, everything started is killed and the run fails. */
const RUN_DEADLINE_MS = 10 * 60_000;

// ------------------------------------------------------------------ setups

interface Setup {
  name: string;
  instances: number;
  redis: boolean;
}
const ONE: Setup = { name: "one instance", instances: 1, redis: false };
const SETUPS: Setup[] = [
  ONE,
  { name: "one instance + Redis", instances: 1, redis: true },
  { name: "two instances + Redis", instances: 2, redis: true },
];

interface Scenario {
  id: string;
  title: string;
  client: Partial<ClientOptions>;
}

const fullScenarios: readonly Scenario[] = LOAD_SCENARIOS;

const smokeScenarios: Scenario[] = [
  {
    id: "closed8",
    title: "smoke: closed loop, 8 clients × 2",
    client: { mode: "closed", clients: 8, window: 2, warmupMs: 200, durationMs: 500, drainMs: 3000 },
  },
  {
    id: "open8",
    title: "smoke: open loop, 8 clients, 200 msg/s",
    client: { mode: "open", clients: 8, rate: 200, warmupMs: 100, durationMs: 500, drainMs: 3000 },
  },
];

// ------------------------------------------------------------------ runs

interface Run {
  scenario: string;
  setup: string;
  repeat: number;
  result: ClientResult;
}

/** Servers of the run in progress, stopped on the deadline. */
const running = new Set<Running>();

const runOnce = async (setup: Setup, scenario: Scenario, redis: Redis): Promise<ClientResult> => {
  const flags = ["--secret", SECRET, ...(setup.redis ? ["--redis-url", redis.url] : [])];
  const servers: Running[] = [];
  try {
    for (let i = 0; i < setup.instances; i++) {
      const server = await startServer(teahouse(`${setup.name} #${i + 1}`, flags));
      running.add(server);
      servers.push(server);
    }
    return await spawnClient({
      ...scenario.client,
      url: servers.map((s) => `http://127.0.0.1:${s.port}`).join(","),
      pid: servers.map((s) => s.pid).join(","),
      ...(setup.redis ? { redisPid: redis.pid } : {}),
    });
  } finally {
    for (const server of servers) {
      await server.stop();
      running.delete(server);
    }
    await redis.flush();
  }
};

// ------------------------------------------------------------------ table

const figures = (runs: Run[], pick: (r: ClientResult) => number | null | undefined): number[] =>
  runs.map((r) => pick(r.result)).filter((v): v is number => typeof v === "number" && Number.isFinite(v));

const table = (scenario: Scenario, runs: Run[]): string => {
  const of = (setup: Setup) => runs.filter((r) => r.scenario === scenario.id && r.setup === setup.name);
  const ref = of(ONE);
  const refRate = median(figures(ref, (r) => r.deliveries_per_s));
  const refCpu = median(figures(ref, (r) => r.server_cpu_us_per_delivery));
  const refP99 = median(figures(ref, (r) => r.p99_ms));
  const lines = [
    `### ${scenario.title}`,
    "",
    "| setup | deliveries/s | × one | server CPU µs/delivery | × one | Redis CPU µs/delivery | Redis CPU µs/message | p50 ms | p99 ms | p99 × one | max ms | server CPU | Redis CPU | client CPU | connect s | Redis CPU ms, connect | missing |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const setup of SETUPS) {
    const mine = of(setup);
    if (mine.length === 0) continue;
    const rate = figures(mine, (r) => r.deliveries_per_s);
    const cpu = figures(mine, (r) => r.server_cpu_us_per_delivery);
    const p99 = figures(mine, (r) => r.p99_ms);
    /** median [min–max] of one figure over this setup's runs. */
    const cell = (pick: (r: ClientResult) => number | null | undefined, digits: number) =>
      spread(figures(mine, pick), digits);
    const cells = [
      setup.name,
      spread(rate),
      ratio(median(rate), refRate),
      spread(cpu, 3),
      ratio(median(cpu), refCpu),
      cell((r) => r.redis_cpu_us_per_delivery, 3),
      // Every message is one script run and one PUBLISH whatever the room size: per message is Redis's natural unit.
      cell((r) => (r.redis_cpu_us_per_delivery ?? NaN) * r.clients, 1),
      cell((r) => r.p50_ms, 2),
      spread(p99, 2),
      ratio(median(p99), refP99),
      cell((r) => r.max_ms, 1),
      cell((r) => r.server_cpu, 2),
      cell((r) => r.redis_cpu, 2),
      cell((r) => r.client_cpu, 2),
      cell((r) => r.connect_s, 2),
      cell((r) => r.redis_connect_cpu_ms, 0),
      String(mine.reduce((sum, r) => sum + r.result.missing, 0)),
    ];
    lines.push(`| ${cells.join(" | ")} |`);
  }
  return lines.join("\n");
};

// ------------------------------------------------------------------ main

const parseArgs = (argv: string[]): BenchArgs => parseBenchArgs(argv, { smoke: false, repeats: 3, only: [], out: "" });

const main = async (): Promise<void> => {
  const args = parseArgs(process.argv.slice(2));
  const began = performance.now();
  let scenarios = args.smoke ? smokeScenarios : fullScenarios;
  if (args.only.length > 0) scenarios = scenarios.filter((s) => args.only.includes(s.id));
  const repeats = args.smoke ? 1 : args.repeats;
  const redis = await startRedis();
  const deadline = setTimeout(() => {
    console.error(`bench:cluster: over ${RUN_DEADLINE_MS / 1000} s, stopping`);
    void Promise.all([...running].map((s) => s.stop()))
      .then(() => redis.stop())
      .finally(() => process.exit(1));
  }, RUN_DEADLINE_MS);

  const machine = {
    cpus: CPU_COUNT,
    cpu_model: cpus()[0]?.model ?? "unknown",
    bun: Bun.version,
    redis: Bun.spawnSync([REDIS_SERVER, "--version"]).stdout.toString().trim(),
    pinned: PINNING === "no" ? "no" : `${PINNING.replace("server", "teahouse instances and redis-server")}`,
    teahouse_limits_lifted: lifted().join(" "),
    load_average_at_start: loadavg().map((l) => Number(l.toFixed(2))),
  };
  console.error(`machine: ${JSON.stringify(machine)}`);

  const runs: Run[] = [];
  try {
    for (let repeat = 0; repeat < repeats; repeat++) {
      for (const scenario of scenarios) {
        // Rotate the order every repeat: A B C, B C A, C A B.
        const order = SETUPS.map((_, i) => SETUPS[(i + repeat) % SETUPS.length]!);
        for (const setup of order) {
          const result = await runOnce(setup, scenario, redis);
          runs.push({ scenario: scenario.id, setup: setup.name, repeat, result });
          console.error(
            `${scenario.id} #${repeat + 1} ${setup.name}: ${fmt(result.deliveries_per_s)} deliveries/s, ` +
              `${fmt(result.server_cpu_us_per_delivery, 3)} µs server CPU/delivery, ` +
              `${fmt(result.redis_cpu_us_per_delivery, 3)} µs Redis CPU/delivery, p99 ${result.p99_ms} ms, ` +
              `missing ${result.missing}`,
          );
        }
      }
    }
  } finally {
    clearTimeout(deadline);
    await redis.stop();
  }

  const report = [
    `## teahouse, several instances behind Redis — ${new Date().toISOString()}`,
    "",
    `Machine: ${machine.cpus} CPUs (${machine.cpu_model}), Bun ${machine.bun}, ${machine.redis.split(" sha=")[0]}; ` +
      `pinned: ${machine.pinned}; ${repeats} interleaved repeat(s); medians with [min–max]; ratios are medians ` +
      "against one instance without Redis. Server CPU is summed over the teahouse processes (1 = one core); " +
      "two instances share CPU 0 with each other and with Redis, so they show the cost of the split, not scale-out.",
    "",
    ...scenarios.flatMap((s) => [table(s, runs), ""]),
    `Total time: ${fmt((performance.now() - began) / 1000, 0)} s. Load average (1, 5, 15 min) at start ` +
      `${machine.load_average_at_start.join(", ")}, at end ${loadavg()
        .map((l) => l.toFixed(2))
        .join(", ")}.`,
  ];
  console.log(report.join("\n"));
  const json = { machine, runs, smoke: args.smoke };
  if (args.out) writeFileSync(args.out, JSON.stringify(json, null, 2));
  console.log(JSON.stringify(json));
};

await main();
