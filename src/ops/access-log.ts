/**
 * One structured log line per HTTP request (method, path, status, duration,
 * client IP and scheme) and a count per status for /metrics. Never the query
 * string, headers, cookies or bodies: they can carry secrets and messages.
 */
import { Elysia } from "elysia";
import type { Logger } from "../log";
import { resolveClient, type ClientInfo } from "../http/client";
import type { Metrics } from "./metrics";
import { OPS_PATHS } from "./routes";

interface Pending {
  startedAt: number;
  client: ClientInfo;
}

export interface AccessLogDeps {
  log: Logger;
  metrics: Metrics;
  /** Peers whose X-Forwarded-For/-Proto are believed (TRUST_PROXY). */
  trustedProxies: ReadonlySet<string>;
}

/** Probe and asset requests are frequent and boring: logged at debug level. */
const isQuiet = (path: string): boolean => OPS_PATHS.has(path) || path.startsWith("/static/");

export const accessLog = ({ log, metrics, trustedProxies }: AccessLogDeps) => {
  // Keyed by the Request object: gone with it, nothing to clean up. (onRequest is always global.)
  const pending = new WeakMap<Request, Pending>();
  return new Elysia({ name: "ops.access-log" })
    .onRequest(({ request, server }) => {
      const peer = server?.requestIP(request)?.address;
      pending.set(request, {
        startedAt: performance.now(),
        client: resolveClient(request.headers, peer, trustedProxies),
      });
    })
    .onAfterResponse({ as: "global" }, ({ request, set, path }) => {
      const entry = pending.get(request);
      let status = typeof set.status === "number" ? set.status : 200;
      // An accepted WebSocket upgrade leaves the status at 200; the client got 101 (ws.open follows).
      if (status === 200 && request.headers.get("upgrade")?.toLowerCase() === "websocket") status = 101;
      metrics.httpResponse(status);
      const fields = {
        method: request.method,
        path,
        status,
        ms: entry ? Math.round((performance.now() - entry.startedAt) * 10) / 10 : undefined,
        ip: entry?.client.ip,
        proto: entry?.client.proto,
      };
      if (isQuiet(path)) log.debug("http", fields);
      else log.info("http", fields);
    });
};
