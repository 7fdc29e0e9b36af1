/**
 * Operations endpoints for orchestrators and monitoring, outside any session:
 * `GET /healthz` (the process answers), `GET /readyz` (it can serve: store
 * reachable, not shutting down) and `GET /metrics` (Prometheus text format).
 * Behind nginx, keep /metrics internal (deploy/nginx.conf refuses it).
 */
import { Elysia } from "elysia";
import { PROMETHEUS_CONTENT_TYPE } from "./registry";
import type { Metrics } from "./metrics";

/** Why the server is not ready, or undefined when it is. */
export type Readiness = () => Promise<"shutting_down" | "store_unavailable" | "bus_unavailable" | undefined>;

export interface OpsRoutesDeps {
  metrics: Metrics;
  readiness: Readiness;
}

/** Paths of the operations endpoints (logged at debug level only: probes are frequent). */
export const OPS_PATHS: ReadonlySet<string> = new Set(["/healthz", "/readyz", "/metrics"]);

const NO_STORE = { "cache-control": "no-store" };

export const opsRoutes = ({ metrics, readiness }: OpsRoutesDeps) =>
  new Elysia({ name: "ops.routes" })
    .get("/healthz", ({ set }) => {
      Object.assign(set.headers, NO_STORE);
      return { status: "ok" };
    })
    .get("/readyz", async ({ set }) => {
      Object.assign(set.headers, NO_STORE);
      const reason = await readiness();
      if (reason === undefined) return { status: "ready" };
      set.status = 503;
      return { status: reason };
    })
    .get(
      "/metrics",
      () => new Response(metrics.render(), { headers: { "content-type": PROMETHEUS_CONTENT_TYPE, ...NO_STORE } }),
    );
