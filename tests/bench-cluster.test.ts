/**
 * The cluster benchmark's smoke mode, so it cannot rot: one instance, one
 * instance with Redis and two instances with Redis each carry the load
 * client's traffic with no delivery missing. Needs Debian's redis-server (the
 * run fails without it, as the cluster tests do). Timings are never asserted.
 */
import { expect, test } from "bun:test";
import type { ClientResult } from "../bench/client";
import { runBenchSmoke } from "./process";

test("bun run bench:cluster --smoke: three setups, closed and open loop, nothing missing", async () => {
  const report = await runBenchSmoke<{
    smoke: boolean;
    runs: { scenario: string; setup: string; result: ClientResult }[];
  }>("bench/cluster.ts");
  expect(report.smoke).toBe(true);
  expect([...new Set(report.runs.map((r) => r.setup))].sort()).toEqual([
    "one instance",
    "one instance + Redis",
    "two instances + Redis",
  ]);
  expect(new Set(report.runs.map((r) => r.result.mode))).toEqual(new Set(["closed", "open"]));
  for (const { scenario, setup, result } of report.runs) {
    const where = `${scenario} on ${setup}`;
    expect({ where, missing: result.missing, errors: result.errors, closed: result.closed }).toEqual({
      where,
      missing: 0,
      errors: 0,
      closed: 0,
    });
    expect(result.sent).toBeGreaterThan(0);
    expect(result.received).toBe(result.sent * result.clients);
    // Redis CPU is read only where there is a Redis (its value, like every timing, is not asserted).
    expect("redis_cpu" in result).toBe(setup.includes("Redis"));
  }
}, 90_000);

test("bun bench/redis-ops.ts --smoke: finds the broker's send script and runs every variant", async () => {
  const report = await runBenchSmoke<{ smoke: boolean; results: Record<string, number[]> }>("bench/redis-ops.ts");
  expect(report.smoke).toBe(true);
  expect(Object.keys(report.results)).toContain("EVAL send script (as teahouse)");
  for (const values of Object.values(report.results)) expect(values.every(Number.isFinite)).toBe(true);
}, 60_000);
