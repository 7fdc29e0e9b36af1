/**
 * Several instances, `bun run bench:cluster`: what PostgreSQL and Redis cost
 * against one instance on SQLite, in one run.
 *
 * Setups, each started fresh for every run (a new empty database) and
 * interleaved (A B C D, B C D A, …):
 * - one instance on SQLite, the reference;
 * - one, two and three instances on PostgreSQL + Redis, one shared secret,
 *   users split across them (user i on instance i mod n; every user gets
 *   every broadcast, so every message crosses the bus).
 *
 * One PostgreSQL 15 (Debian's, `initdb` in a temporary folder, fsync on:
 * an acknowledged message is on disk) and one redis-server (no persistence)
 * serve the whole run. Pinning, on two CPUs: every teahouse process,
 * PostgreSQL and Redis on CPU 0, the load client on CPU 1. Several instances
 * on one core therefore show what the split costs, not scale-out: they share
 * the core the single instance has to itself. Server CPU is summed over the
 * teahouse processes; PostgreSQL's over its postmaster and backends; Redis's
 * is redis-server's own (/proc/<pid>/stat); per delivery and per message.
 *
 *   bun run bench:cluster                  ≈ 4 min on 2 CPUs; a markdown table and one JSON line
 *   bun run bench:cluster --smoke          a few seconds; no timings asserted
 *   bun run bench:cluster --repeats 5 --only closed32 --out cluster.json
 */
import { writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import type { ClientResult } from "./client";
import {
  CPU_COUNT,
  HAS_TASKSET,
  LOAD_SCENARIOS,
  type LoadScenario,
  parseBenchArgs,
  type BenchArgs,
  PINNING,
  fmt,
  lifted,
  median,
  ratio,
  spawnClient,
  spread,
  startServer,
  teahouse,
  type Running,
} from "./harness";
import { TestPostgres } from "../tests/postgres";
import { TestRedis } from "../tests/redis";

/** One secret for every instance, so a cookie made on one verifies on the others. */
const SECRET = "bench-cluster-shared-secret-0123456789";
/** The whole run, whatever happens: past this, everything started is stopped and the run fails. */
const RUN_DEADLINE_MS = 12 * 60_000;

interface Setup {
  name: string;
  instances: number;
  postgres: boolean;
}
const SQLITE: Setup = { name: "1 × SQLite", instances: 1, postgres: false };
const SETUPS: Setup[] = [
  SQLITE,
  { name: "1 × PostgreSQL + Redis", instances: 1, postgres: true },
  { name: "2 × PostgreSQL + Redis", instances: 2, postgres: true },
  { name: "3 × PostgreSQL + Redis", instances: 3, postgres: true },
];

const fullScenarios: readonly LoadScenario[] = LOAD_SCENARIOS.filter((s) => s.id === "closed32" || s.id === "open256");
const smokeScenarios: LoadScenario[] = [
  {
    id: "closed8",
    title: "smoke: closed loop, 8 clients × 2",
    client: { mode: "closed", clients: 8, window: 2, warmupMs: 200, durationMs: 500, drainMs: 3000 },
  },
];

interface Run {
  scenario: string;
  setup: string;
  repeat: number;
  result: ClientResult;
}

const running = new Set<Running>();

/** Puts a process (and its threads) on CPU 0 with the servers. */
const pinToServerCpu = (pid: number | undefined): void => {
  if (pid && HAS_TASKSET && PINNING !== "no") Bun.spawnSync(["taskset", "-a", "-p", "-c", "0", String(pid)]);
};

const runOnce = async (setup: Setup, scenario: LoadScenario, pg: TestPostgres, redis: TestRedis) => {
  const flags = ["--secret", SECRET];
  if (setup.postgres) flags.push("--database-url", await pg.database(), "--redis-url", redis.url);
  const servers: Running[] = [];
  try {
    for (let i = 0; i < setup.instances; i++) {
      const server = await startServer(teahouse(`${setup.name} #${i + 1}`, flags));
      running.add(server);
      servers.push(server);
    }
    // Instances hear each other within a heartbeat; give the bus that before loading.
    if (setup.instances > 1) await Bun.sleep(500);
    return await spawnClient({
      ...scenario.client,
      url: servers.map((s) => `http://127.0.0.1:${s.port}`).join(","),
      pid: servers.map((s) => s.pid).join(","),
      ...(setup.postgres ? { redisPid: redis.pid ?? 0, pgPid: pg.pid } : {}),
    });
  } finally {
    for (const server of servers) {
      await server.stop();
      running.delete(server);
    }
  }
};

const figures = (runs: Run[], pick: (r: ClientResult) => number | null | undefined): number[] =>
  runs.map((r) => pick(r.result)).filter((v): v is number => typeof v === "number" && Number.isFinite(v));

const table = (scenario: LoadScenario, runs: Run[]): string => {
  const of = (setup: Setup) => runs.filter((r) => r.scenario === scenario.id && r.setup === setup.name);
  const ref = of(SQLITE);
  const refRate = median(figures(ref, (r) => r.deliveries_per_s));
  const refCpu = median(figures(ref, (r) => r.server_cpu_us_per_delivery));
  const refP99 = median(figures(ref, (r) => r.p99_ms));
  const lines = [
    `### ${scenario.title}`,
    "",
    "| setup | deliveries/s | × SQLite | messages/s | p50 ms | p99 ms | p99 × SQLite | teahouse CPU µs/delivery | × SQLite | PostgreSQL CPU µs/message | Redis CPU µs/message | teahouse CPU | PostgreSQL CPU | Redis CPU | missing |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const setup of SETUPS) {
    const mine = of(setup);
    if (mine.length === 0) continue;
    const cell = (pick: (r: ClientResult) => number | null | undefined, digits: number) =>
      spread(figures(mine, pick), digits);
    const rate = figures(mine, (r) => r.deliveries_per_s);
    const cpu = figures(mine, (r) => r.server_cpu_us_per_delivery);
    const p99 = figures(mine, (r) => r.p99_ms);
    // Every user gets every message: per message = per delivery × users.
    const perMessage = (value: number | null | undefined, r: ClientResult) =>
      value === null || value === undefined ? null : value * r.clients;
    lines.push(
      `| ${[
        setup.name,
        spread(rate),
        ratio(median(rate), refRate),
        cell((r) => r.messages_per_s, 0),
        cell((r) => r.p50_ms, 2),
        spread(p99, 2),
        ratio(median(p99), refP99),
        spread(cpu, 3),
        ratio(median(cpu), refCpu),
        setup.postgres ? cell((r) => perMessage(r.pg_cpu_us_per_delivery, r), 1) : "–",
        setup.postgres ? cell((r) => perMessage(r.redis_cpu_us_per_delivery, r), 1) : "–",
        cell((r) => r.server_cpu, 2),
        setup.postgres ? cell((r) => r.pg_cpu, 2) : "–",
        setup.postgres ? cell((r) => r.redis_cpu, 2) : "–",
        String(mine.reduce((sum, r) => sum + r.result.missing, 0)),
      ].join(" | ")} |`,
    );
  }
  return lines.join("\n");
};

const main = async (): Promise<void> => {
  const args = parseBenchArgs(process.argv.slice(2), { smoke: false, repeats: 3, only: [], out: "" } as BenchArgs);
  const began = performance.now();
  let scenarios = args.smoke ? smokeScenarios : fullScenarios;
  if (args.only.length > 0) scenarios = scenarios.filter((s) => args.only.includes(s.id));
  const repeats = args.smoke ? 1 : args.repeats;
  const pg = new TestPostgres({ durable: true });
  const redis = new TestRedis();
  await Promise.all([pg.start(), redis.start({ persist: false })]);
  pinToServerCpu(pg.pid);
  pinToServerCpu(redis.pid);
  const stopAll = async () => {
    await Promise.all([...running].map((s) => s.stop()));
    await Promise.all([pg.dispose(), redis.dispose()]);
  };
  const deadline = setTimeout(() => {
    console.error(`bench:cluster: over ${RUN_DEADLINE_MS / 1000} s, stopping`);
    void stopAll().finally(() => process.exit(1));
  }, RUN_DEADLINE_MS);

  const machine = {
    cpus: CPU_COUNT,
    cpu_model: cpus()[0]?.model ?? "unknown",
    bun: Bun.version,
    postgres: "PostgreSQL (Debian), fsync on, synchronous_commit on",
    redis: Bun.spawnSync(["redis-server", "--version"]).stdout.toString().trim().split(" sha=")[0],
    pinned: PINNING === "no" ? "no" : PINNING.replace("server", "teahouse, PostgreSQL and Redis"),
    teahouse_limits_lifted: lifted().join(" "),
    load_average_at_start: loadavg().map((l) => Number(l.toFixed(2))),
  };
  console.error(`machine: ${JSON.stringify(machine)}`);

  const runs: Run[] = [];
  try {
    for (let repeat = 0; repeat < repeats; repeat++)
      for (const scenario of scenarios) {
        const order = SETUPS.map((_, i) => SETUPS[(i + repeat) % SETUPS.length]!);
        for (const setup of order) {
          const result = await runOnce(setup, scenario, pg, redis);
          runs.push({ scenario: scenario.id, setup: setup.name, repeat, result });
          console.error(
            `${scenario.id} #${repeat + 1} ${setup.name}: ${fmt(result.deliveries_per_s)} deliveries/s, p99 ${result.p99_ms} ms, ` +
              `PostgreSQL ${fmt(result.pg_cpu, 2)} CPU, Redis ${fmt(result.redis_cpu, 2)} CPU, missing ${result.missing}`,
          );
        }
      }
  } finally {
    clearTimeout(deadline);
    await stopAll();
  }

  const report = [
    `## teahouse, several instances on PostgreSQL + Redis — ${new Date().toISOString()}`,
    "",
    `Machine: ${machine.cpus} CPUs (${machine.cpu_model}), Bun ${machine.bun}, ${machine.postgres}, ${machine.redis}; ` +
      `pinned: ${machine.pinned}; ${repeats} interleaved repeat(s); medians with [min–max]; ratios are medians ` +
      "against one instance on SQLite. teahouse CPU is summed over its processes (1 = one core).",
    "",
    ...scenarios.flatMap((s) => [table(s, runs), ""]),
    `Total time: ${fmt((performance.now() - began) / 1000, 0)} s.`,
  ];
  console.log(report.join("\n"));
  const json = { machine, runs, smoke: args.smoke };
  if (args.out) writeFileSync(args.out, JSON.stringify(json, null, 2));
  console.log(JSON.stringify(json));
};

await main();
