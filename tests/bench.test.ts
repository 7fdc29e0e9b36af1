/**
 * The benchmark's smoke mode, so it cannot rot: every server starts, the
 * load client drives it in each mode, and no delivery goes missing. Timings
 * are printed by the runner, never asserted (CI machines are noisy).
 */
import { $ } from "bun";
import { expect, test } from "bun:test";
import type { ClientResult } from "../bench/client";
import { join } from "node:path";
import { runBenchSmoke } from "./process";

test("bun run bench --smoke: three servers, three modes, nothing missing", async () => {
  const report = await runBenchSmoke<{
    smoke: boolean;
    runs: { scenario: string; server: string; result: ClientResult }[];
  }>("bench/run.ts");
  expect(report.smoke).toBe(true);
  const servers = new Set(report.runs.map((r) => r.server));
  expect([...servers].sort()).toEqual(["Node + ws", "raw Bun", "teahouse"]);
  expect(new Set(report.runs.map((r) => r.result.mode))).toEqual(new Set(["closed", "open", "idle"]));
  for (const { scenario, server, result } of report.runs) {
    const where = `${scenario} on ${server}`;
    expect({ where, missing: result.missing, errors: result.errors, closed: result.closed }).toEqual({
      where,
      missing: 0,
      errors: 0,
      closed: 0,
    });
    if (result.mode !== "idle") {
      expect(result.sent).toBeGreaterThan(0);
      expect(result.received).toBe(result.sent * result.clients);
    } else {
      expect(result.rss_connected_kib).toBeGreaterThan(0);
    }
  }
}, 90_000);

test("bun run bench:cluster --smoke: SQLite and 1, 2, 3 instances on PostgreSQL + Redis, nothing missing", async () => {
  const report = await runBenchSmoke<{
    smoke: boolean;
    runs: { scenario: string; setup: string; result: ClientResult }[];
  }>("bench/cluster.ts");
  expect(report.smoke).toBe(true);
  expect(report.runs.map((r) => r.setup)).toEqual([
    "1 × SQLite",
    "1 × PostgreSQL + Redis",
    "2 × PostgreSQL + Redis",
    "3 × PostgreSQL + Redis",
  ]);
  for (const { setup, result } of report.runs) {
    expect({ setup, missing: result.missing, errors: result.errors }).toEqual({ setup, missing: 0, errors: 0 });
    expect(result.sent).toBeGreaterThan(0);
    expect(result.received).toBe(result.sent * result.clients);
    // PostgreSQL's and Redis's CPU are measured where they take part.
    if (setup !== "1 × SQLite") expect(result.pg_cpu).toBeGreaterThan(0);
  }
}, 120_000);

test("bun run bench:storm --smoke: a join storm against per-person presence, every socket gets its room state", async () => {
  const report = await runBenchSmoke<{
    smoke: boolean;
    results: { setup: string; users: number; frames_per_join: number; settle_s: number }[];
  }>("bench/storm.ts");
  expect(report.smoke).toBe(true);
  expect(report.results.length).toBe(2);
  for (const result of report.results) {
    expect(result.users).toBeGreaterThan(0);
    expect(result.frames_per_join).toBeGreaterThan(0);
    expect(result.settle_s).toBeGreaterThan(0);
  }
}, 120_000);

test("bun run bench:restart --smoke: everyone reconnects and recovers after a restart, nothing acknowledged missing", async () => {
  const report = await runBenchSmoke<{
    smoke: boolean;
    users: number;
    recovered: number;
    missing_acknowledged: number;
  }>("bench/restart.ts");
  expect(report.smoke).toBe(true);
  expect(report.recovered).toBe(report.users);
  expect(report.missing_acknowledged).toBe(0);
}, 120_000);

test("bun run bench:search --smoke: messages indexed, every query finds results", async () => {
  const report = await runBenchSmoke<{
    smoke: boolean;
    messages: number;
    queries: { q: string; results_per_page: number }[];
  }>("bench/search.ts");
  expect(report.smoke).toBe(true);
  expect(report.queries.length).toBe(8);
  for (const query of report.queries)
    expect({ q: query.q, found: query.results_per_page > 0 }).toEqual({ q: query.q, found: true });
}, 120_000);

/** What the crowd tests read of bench/crowd.ts's report. */
type CrowdReport = {
  smoke: boolean;
  settings: { sockets_total: number; chatters: number; instances: number; load_processes: number };
  room: { name: string; deliveries_per_message: number };
  chat: {
    sent: number;
    deliveries_expected: number;
    deliveries_missing: number;
    errors: number;
    sockets_closed: number;
    latency_chatters: { samples: number };
    latency_idle_sample: { samples: number } | null;
  };
  instances: { rss_end_mib: number; healthz: { probes: number; failures: number } }[];
};

/** bench/crowd.ts --smoke with `extra` flags: its report (the last line). */
const crowdSmoke = async (extra: string[]): Promise<CrowdReport> => {
  if (extra.length === 0) return runBenchSmoke<CrowdReport>("bench/crowd.ts");
  const run = await $`${process.execPath} bench/crowd.ts --smoke ${extra}`
    .cwd(join(import.meta.dir, ".."))
    .quiet()
    .nothrow();
  const out = run.stdout.toString();
  if (run.exitCode !== 0)
    throw new Error(`bench/crowd.ts --smoke ${extra.join(" ")} failed (${run.exitCode}):\n${out}\n${run.stderr}`);
  return JSON.parse(out.trim().split("\n").pop()!) as CrowdReport;
};

/** Nothing missing, no error, no socket lost, every instance answering `/healthz`; deliveries per message as given. */
const expectCrowd = (report: CrowdReport, perMessage: number) => {
  expect(report.smoke).toBe(true);
  expect(report.settings.instances).toBe(3);
  expect(report.settings.load_processes).toBeGreaterThan(2);
  const { chat } = report;
  expect(chat.sent).toBeGreaterThan(0);
  expect(report.room.deliveries_per_message).toBe(perMessage);
  expect(chat.deliveries_expected).toBe(chat.sent * perMessage);
  expect({ missing: chat.deliveries_missing, errors: chat.errors, closed: chat.sockets_closed }).toEqual({
    missing: 0,
    errors: 0,
    closed: 0,
  });
  expect(chat.latency_chatters.samples).toBeGreaterThan(0);
  for (const instance of report.instances) {
    expect(instance.rss_end_mib).toBeGreaterThan(0);
    expect(instance.healthz.probes).toBeGreaterThan(0);
    expect(instance.healthz.failures).toBe(0);
  }
};

test("bun run bench:crowd --smoke: idle sockets and chatters over three instances, every delivery arrives", async () => {
  const report = await crowdSmoke([]);
  expect(report.room.name).toBe("lobby");
  expectCrowd(report, report.settings.sockets_total);
  expect(report.chat.latency_idle_sample?.samples).toBeGreaterThan(0);
}, 120_000);

test("bun run bench:crowd --smoke --room talk: the chatters in a room of their own, the idle crowd gets none of it", async () => {
  const report = await crowdSmoke(["--room", "talk"]);
  expect(report.room.name).toBe("talk");
  // Each message reaches the chatters only (the sender's own echo included), not the lobby's idle sockets.
  expectCrowd(report, report.settings.chatters);
  expect(report.chat.latency_idle_sample).toBeNull();
}, 120_000);
