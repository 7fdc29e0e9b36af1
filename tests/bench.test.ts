/**
 * The benchmark's smoke mode, so it cannot rot: every server starts, the
 * load client drives it in each mode, and no delivery goes missing. Timings
 * are printed by the runner, never asserted (CI machines are noisy).
 */
import { expect, test } from "bun:test";
import type { ClientResult } from "../bench/client";
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
