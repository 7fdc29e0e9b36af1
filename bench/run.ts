/**
 * The benchmark runner, `bun run bench`: teahouse between raw Bun (the limit)
 * and Node + ws (the tutorial's design), measured side by side in one run.
 *
 * Every run starts its server fresh on its own free port (teahouse with its
 * own temporary data directory), pins the server to CPU 0 and the load
 * client to the other CPUs when `taskset` and two CPUs are there, and runs
 * the servers interleaved (A B C, then B C A, …) so that a noisy neighbour
 * spreads over all of them instead of one. It prints a table of medians with
 * min–max and ratios against raw Bun, and one JSON line with every run.
 *
 *   bun run bench                  the full run (≈ 10 min on 2 CPUs)
 *   bun run bench --smoke          a few seconds, small N: proves it works (CI); no timings asserted
 *   bun run bench --repeats 5 --only closed32,open256,startup
 *   bun run bench --out results.json
 *   bun run bench --only closed32x8 --search-off   also teahouse with SEARCH=false (the index's cost)
 *   bun run bench --only closed32x8 --push-off     also teahouse with PUSH=false (what noticing messages for pushes costs)
 *   bun run bench --only closed32x8 --cids         also teahouse with a client id on every message, as the page sends them
 */
import { mkdtempSync, rmSync, existsSync, writeFileSync } from "node:fs";
import { tmpdir, cpus, loadavg } from "node:os";
import { join } from "node:path";
import type { ClientOptions, ClientResult } from "./client";
import {
  BUN,
  LOAD_SCENARIOS,
  parseBenchArgs,
  type BenchArgs,
  CPU_COUNT,
  PINNING,
  ROOT,
  fmt,
  freePort,
  lifted,
  median,
  pin,
  ratio,
  spawnClient,
  spread,
  startServer,
  teahouse,
  waitReady,
  type Running,
  type ServerSpec,
} from "./harness";

// ------------------------------------------------------------------ servers

/** teahouse's history switch (`--history false`), when this checkout has one. */
const historyFlag = (): string | undefined => {
  const help = Bun.spawnSync([BUN, "src/index.ts", "--help"], { cwd: ROOT }).stdout.toString();
  return /^\s*(--history)\s/m.exec(help)?.[1];
};

const RAW_BUN: ServerSpec = {
  name: "raw Bun",
  command: (port) => [BUN, "bench/servers/raw-bun.ts", "--port", String(port)],
};
const NODE_WS: ServerSpec = {
  name: "Node + ws",
  command: (port) => ["node", "bench/servers/node-ws.mjs", "--port", String(port)],
};

const runClient = (server: Running, options: Partial<ClientOptions>): Promise<ClientResult> =>
  spawnClient({ ...options, url: `http://127.0.0.1:${server.port}`, pid: String(server.pid) });

// ------------------------------------------------------------------ scenarios

interface Scenario {
  id: string;
  title: string;
  client: Partial<ClientOptions>;
  /** Servers this scenario runs (default: all). */
  servers?: (all: ServerSpec[]) => ServerSpec[];
  /** Repeats (default: --repeats). */
  repeats?: number;
}

const fullScenarios = (repeats: number): Scenario[] => [
  ...LOAD_SCENARIOS,
  {
    id: "idle10k",
    title: "idle, 10,000 signed-in connections",
    client: { mode: "idle", clients: 10_000, concurrency: 256, idleMs: 3000 },
    // Node + ws would loop 50 million join frames in JavaScript to connect 10,000 users: minutes, not a figure.
    servers: (all) => all.filter((s) => s !== NODE_WS),
    repeats: Math.min(repeats, 1),
  },
];

const smokeScenarios = (): Scenario[] => [
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
  {
    id: "idle8",
    title: "smoke: idle, 8 connections",
    client: { mode: "idle", clients: 8, idleMs: 100 },
  },
];

// ------------------------------------------------------------------ statistics and tables

interface Run {
  scenario: string;
  server: string;
  repeat: number;
  result: ClientResult;
}

const figures = (runs: Run[], pick: (r: ClientResult) => number | null | undefined): number[] =>
  runs.map((r) => pick(r.result)).filter((v): v is number => typeof v === "number" && Number.isFinite(v));

const table = (scenario: Scenario, runs: Run[], servers: string[]): string => {
  const of = (server: string) => runs.filter((r) => r.scenario === scenario.id && r.server === server);
  const ref = of(RAW_BUN.name);
  const lines = [`### ${scenario.title}`, ""];
  if (scenario.client.mode === "idle") {
    const refPerUser = median(figures(ref, (r) => r.rss_per_user_b));
    lines.push(
      "| server | RSS per signed-in connection, KiB | × raw Bun | RSS per socket only, KiB | server RSS, MiB | connect s |",
      "| --- | --- | --- | --- | --- | --- |",
    );
    for (const server of servers) {
      const mine = of(server);
      if (mine.length === 0) continue;
      const perUser = figures(mine, (r) => r.rss_per_user_b).map((b) => b / 1024);
      lines.push(
        `| ${server} | ${spread(perUser, 2)} | ${ratio(median(perUser) * 1024, refPerUser)} | ${spread(
          figures(mine, (r) => r.rss_per_connection_b).map((b) => b / 1024),
          2,
        )} | ${spread(
          figures(mine, (r) => r.rss_connected_kib).map((k) => k / 1024),
          1,
        )} | ${spread(
          figures(mine, (r) => r.connect_s),
          1,
        )} |`,
      );
    }
    return lines.join("\n");
  }
  const refRate = median(figures(ref, (r) => r.deliveries_per_s));
  const refCpu = median(figures(ref, (r) => r.server_cpu_us_per_delivery));
  const refP99 = median(figures(ref, (r) => r.p99_ms));
  lines.push(
    "| server | deliveries/s | × raw Bun | server CPU µs/delivery | × raw Bun | p50 ms | p99 ms | p99 × raw Bun | max ms | server CPU | client CPU | server RSS MiB | missing |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  );
  for (const server of servers) {
    const mine = of(server);
    if (mine.length === 0) continue;
    const rate = figures(mine, (r) => r.deliveries_per_s);
    const cpu = figures(mine, (r) => r.server_cpu_us_per_delivery);
    const p99 = figures(mine, (r) => r.p99_ms);
    lines.push(
      [
        server,
        spread(rate),
        ratio(median(rate), refRate),
        spread(cpu, 3),
        ratio(median(cpu), refCpu),
        spread(
          figures(mine, (r) => r.p50_ms),
          2,
        ),
        spread(p99, 2),
        ratio(median(p99), refP99),
        spread(
          figures(mine, (r) => r.max_ms),
          1,
        ),
        spread(
          figures(mine, (r) => r.server_cpu),
          2,
        ),
        spread(
          figures(mine, (r) => r.client_cpu),
          2,
        ),
        spread(
          figures(mine, (r) => r.server_rss_kib).map((k) => k / 1024),
          0,
        ),
        String(mine.reduce((sum, r) => sum + r.result.missing, 0)),
      ]
        .join(" | ")
        .replace(/^/, "| ")
        .concat(" |"),
    );
  }
  return lines.join("\n");
};

// ------------------------------------------------------------------ compiled executable start-up

/** Builds the single executable: the project's build script when there is one, else a plain `bun build --compile`. */
const buildExecutable = async (outfile: string): Promise<void> => {
  const script = join(ROOT, "scripts", "build.ts");
  if (existsSync(script)) {
    const mod = (await import(script)) as { buildExecutable?: (outfile: string) => Promise<number> };
    if (typeof mod.buildExecutable === "function") {
      await mod.buildExecutable(outfile);
      return;
    }
  }
  const build = Bun.spawnSync([BUN, "build", "--compile", "--production", "src/index.ts", "--outfile", outfile], {
    cwd: ROOT,
    stdout: "pipe",
    stderr: "pipe",
  });
  if (build.exitCode !== 0) throw new Error(`bun build failed: ${build.stderr.toString()}`);
};

/** Spawn to first HTTP 200 on GET /, ms, for each start. */
const startupTimes = async (command: (port: number, dir: string) => string[], starts: number): Promise<number[]> => {
  const times: number[] = [];
  for (let i = 0; i < starts; i++) {
    const dir = mkdtempSync(join(tmpdir(), "teahouse-start-"));
    const port = freePort();
    const begin = performance.now();
    const child = Bun.spawn(pin("server", command(port, join(dir, "data"))), {
      cwd: ROOT,
      stdout: "ignore",
      stderr: "ignore",
    });
    let exited = false;
    void child.exited.then(() => (exited = true));
    try {
      await waitReady(port, () => exited);
      times.push(performance.now() - begin);
    } finally {
      child.kill("SIGKILL");
      await child.exited;
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return times;
};

// ------------------------------------------------------------------ main

interface Args extends BenchArgs {
  startup: boolean;
  /** Also run teahouse with SEARCH=false (what the search index costs the chat). */
  searchOff: boolean;
  /** Also run teahouse with PUSH=false (what noticing messages for Web Push costs the chat). */
  pushOff: boolean;
  /** Also run teahouse with every message carrying a client id, as the page's do (checked and acked). */
  cids: boolean;
}

const parseArgs = (argv: string[]): Args =>
  parseBenchArgs<Args>(
    argv,
    { smoke: false, repeats: 3, only: [], out: "", startup: true, searchOff: false, pushOff: false, cids: false },
    {
      "--no-startup": (args) => {
        args.startup = false;
      },
      "--search-off": (args) => {
        args.searchOff = true;
      },
      "--push-off": (args) => {
        args.pushOff = true;
      },
      "--cids": (args) => {
        args.cids = true;
      },
    },
  );

const main = async (): Promise<void> => {
  const args = parseArgs(process.argv.slice(2));
  const began = performance.now();
  const history = historyFlag();
  const servers: ServerSpec[] = [RAW_BUN, teahouse("teahouse"), NODE_WS];
  const withHistoryOff = history && !args.smoke ? [teahouse("teahouse, history off", [history, "false"])] : [];
  if (args.searchOff) withHistoryOff.push(teahouse("teahouse, search off", ["--search", "false"]));
  if (args.pushOff) withHistoryOff.push(teahouse("teahouse, push off", ["--push", "false"]));
  if (args.cids) withHistoryOff.push({ ...teahouse("teahouse, client ids"), client: { cids: 1 } });
  let scenarios = args.smoke ? smokeScenarios() : fullScenarios(args.repeats);
  if (args.only.length > 0) scenarios = scenarios.filter((s) => args.only.includes(s.id));
  const repeats = args.smoke ? 1 : args.repeats;

  const machine = {
    cpus: CPU_COUNT,
    cpu_model: cpus()[0]?.model ?? "unknown",
    bun: Bun.version,
    node: Bun.spawnSync(["node", "--version"]).stdout.toString().trim(),
    pinned: PINNING,
    history_flag: history ?? null,
    teahouse_limits_lifted: lifted().join(" "),
    load_average_at_start: loadavg().map((l) => Number(l.toFixed(2))),
  };
  console.error(`machine: ${JSON.stringify(machine)}`);

  const runs: Run[] = [];
  const maxRepeats = Math.max(...scenarios.map((s) => s.repeats ?? repeats), 0);
  for (let repeat = 0; repeat < maxRepeats; repeat++) {
    for (const scenario of scenarios) {
      if (repeat >= (scenario.repeats ?? repeats)) continue;
      const all = [...servers, ...(scenario.client.mode === "closed" ? withHistoryOff : [])];
      const chosen = scenario.servers ? scenario.servers(all) : all;
      // Rotate the order every repeat: A B C, B C A, C A B.
      const order = chosen.map((_, i) => chosen[(i + repeat) % chosen.length]!);
      for (const spec of order) {
        const server = await startServer(spec);
        try {
          const result = await runClient(server, { ...scenario.client, ...spec.client });
          runs.push({ scenario: scenario.id, server: spec.name, repeat, result });
          console.error(
            `${scenario.id} #${repeat + 1} ${spec.name}: ${
              result.mode === "idle"
                ? `${fmt((result.rss_per_user_b ?? 0) / 1024, 2)} KiB/connection`
                : `${fmt(result.deliveries_per_s)} deliveries/s, ${fmt(result.server_cpu_us_per_delivery, 3)} µs CPU/delivery, p99 ${result.p99_ms} ms, client CPU ${result.client_cpu}`
            }, missing ${result.missing}`,
          );
        } finally {
          await server.stop();
        }
      }
    }
  }

  const startup: Record<string, number[]> = {};
  if (args.startup && !args.smoke && (args.only.length === 0 || args.only.includes("startup"))) {
    const dir = mkdtempSync(join(tmpdir(), "teahouse-exe-"));
    try {
      const exe = join(dir, "teahouse");
      await buildExecutable(exe);
      const flags = (port: number, data: string) => [
        "--port",
        String(port),
        "--host",
        "127.0.0.1",
        "--data-dir",
        data,
        "--log-level",
        "warn",
      ];
      // Interleaved, like the load runs.
      for (let i = 0; i < 5; i++) {
        for (const [name, command] of [
          ["compiled executable", (port: number, data: string) => [exe, ...flags(port, data)]],
          ["bun src/index.ts", (port: number, data: string) => [BUN, "src/index.ts", ...flags(port, data)]],
          ["raw Bun (bun bench/servers/raw-bun.ts)", (port: number) => RAW_BUN.command(port, "")],
        ] as const) {
          (startup[name] ??= []).push(...(await startupTimes(command, 1)));
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  const names = [...new Set(runs.map((r) => r.server))];
  const report = [
    `## teahouse benchmark — ${new Date().toISOString()}`,
    "",
    `Machine: ${machine.cpus} CPUs (${machine.cpu_model}), Bun ${machine.bun}, Node ${machine.node}; pinned: ${machine.pinned}; ` +
      `${repeats} interleaved repeat(s); medians with [min–max]; ratios are medians against raw Bun. ` +
      "Server CPU µs/delivery is the figure least disturbed by other load (CPU time, not wall time); " +
      "deliveries/s and latency depend on how much CPU the server and the client got (the CPU columns, 1 = one core).",
    "",
    ...scenarios.flatMap((s) => [table(s, runs, names), ""]),
  ];
  if (Object.keys(startup).length > 0) {
    report.push("### start to first HTTP 200 (ms)", "", "| command | ms |", "| --- | --- |");
    for (const [name, times] of Object.entries(startup)) report.push(`| ${name} | ${spread(times, 0)} |`);
    report.push("");
  }
  report.push(
    `Total time: ${fmt((performance.now() - began) / 1000, 0)} s. Load average (1, 5, 15 min) at start ` +
      `${machine.load_average_at_start.join(", ")}, at end ${loadavg()
        .map((l) => l.toFixed(2))
        .join(", ")}: other work on the machine competes with the runs.`,
  );
  console.log(report.join("\n"));
  const json = { machine, runs, startup, smoke: args.smoke };
  if (args.out) writeFileSync(args.out, JSON.stringify(json, null, 2));
  console.log(JSON.stringify(json));
};

await main();
