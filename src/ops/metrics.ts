/**
 * teahouse's metrics, served at `GET /metrics` (see docs/protocol.md for the
 * list). The chat code reports through the hook methods below; gauges that
 * the hub already knows (open sockets, users online) are read at scrape time.
 */
import { CloseCode } from "../protocol";
import { createRegistry, type Registry } from "./registry";

/** Store write latency buckets, in seconds (SQLite on local disk: sub-millisecond to a few ms). */
const STORE_WRITE_BUCKETS_S = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

/**
 * Close codes as metric labels: the documented ones (and the standard codes a peer or Bun sends), anything
 * else "other" — a client picks its own close code, and a label per value would grow without bound.
 */
const KNOWN_CLOSE_CODES = new Set([...Object.values(CloseCode), 1000, 1002, 1003, 1005, 1006, 1007, 1008]);
export const closeLabel = (code: number): string => (KNOWN_CLOSE_CODES.has(code) ? String(code) : "other");

/** What the metrics read from the chat hub when scraped. */
export interface HubGauges {
  readonly connectionCount: number;
  readonly usersOnline: number;
}

/** The hooks the server calls as things happen. All are cheap (a few additions). */
export interface Metrics {
  /** A WebSocket opened (after the upgrade was accepted). */
  connectionOpened(): void;
  /** A WebSocket closed with this code (1000, 1001, 1006, 4002, …). */
  connectionClosed(code: number): void;
  /** A client frame arrived. */
  frameReceived(): void;
  /** A frame was published to a topic with `deliveries` subscribers on this instance. */
  frameSent(deliveries: number): void;
  /** A client frame was refused with an `error` frame; `reason` is its error code. */
  frameRefused(reason: string): void;
  /** Chat or private messages were written to the store. */
  messagesStored(count: number): void;
  /** One store write (a transaction, possibly of many messages) took this long, in seconds. */
  storeWrite(seconds: number): void;
  /** An event of this instance came back through the bus (Redis) after this long, in seconds. */
  busLatency(seconds: number): void;
  /** A probe of the store (a write, every second with PostgreSQL) took this long, in seconds. */
  storeProbe(seconds: number): void;
  /** A ping frame came from a client (it spends a frame token like any frame). */
  pingReceived(): void;
  /** A socket was closed because it did not read fast enough (close code 4100; counted from the close code). */
  slowConsumerClosed(): void;
  /** An upgrade was refused with 503 `busy`: its event-loop turn's opens had used their budget. */
  openRefusedBusy(): void;
  /** An HTTP request was answered with this status. */
  httpResponse(status: number): void;
  /** Reads connection and user gauges from the hub from now on. */
  trackHub(hub: HubGauges): void;
  /** The Prometheus text exposition of every metric. */
  render(): string;
}

/** Creates teahouse's metrics in a fresh registry (one per app, so tests do not share counts). */
export const createMetrics = (registry: Registry = createRegistry()): Metrics => {
  let hub: HubGauges | undefined;
  const startedAtS = Date.now() / 1000;

  registry.gauge("teahouse_connections", "Open WebSocket connections.", () => hub?.connectionCount ?? 0);
  registry.gauge("teahouse_users_online", "Users with at least one open WebSocket.", () => hub?.usersOnline ?? 0);
  const opened = registry.counter("teahouse_connections_opened_total", "WebSocket connections accepted.");
  const closed = registry.labeledCounter(
    "teahouse_connections_closed_total",
    "WebSocket connections closed, by close code.",
    "code",
  );
  const received = registry.counter("teahouse_frames_received_total", "Frames received from clients.");
  const pings = registry.counter("teahouse_pings_received_total", "Ping frames received from clients.");
  const sent = registry.counter(
    "teahouse_frames_sent_total",
    "Frames published to a topic (room, user) on this instance; direct replies (list, history, ack, error) are not counted.",
  );
  const deliveries = registry.counter(
    "teahouse_deliveries_total",
    "Frame copies delivered to sockets (a publish to a room of 10 counts 10).",
  );
  const refused = registry.labeledCounter(
    "teahouse_frames_refused_total",
    "Client frames refused with an error frame, by error code.",
    "reason",
  );
  const stored = registry.counter("teahouse_messages_stored_total", "Chat and private messages written to the store.");
  const storeWrites = registry.histogram(
    "teahouse_store_write_seconds",
    "Latency of message writes to the store, SQLite or PostgreSQL (one transaction per batch), in seconds.",
    STORE_WRITE_BUCKETS_S,
  );
  const busLatency = registry.histogram(
    "teahouse_bus_latency_seconds",
    "Round trip of this instance's bus events through Redis (publish to hearing it back), in seconds.",
    STORE_WRITE_BUCKETS_S,
  );
  const storeProbe = registry.histogram(
    "teahouse_store_probe_seconds",
    "Latency of the store's health probe (a one-row write), in seconds.",
    STORE_WRITE_BUCKETS_S,
  );
  const slowConsumers = registry.counter(
    "teahouse_slow_consumer_closes_total",
    "Sockets closed with 4100 because they did not read fast enough.",
  );
  const busy = registry.counter(
    "teahouse_socket_opens_busy_total",
    "Socket upgrades refused with 503 busy: the opens of their event-loop turn had used OPEN_TURN_BUDGET_MS.",
  );
  const http = registry.labeledCounter("teahouse_http_responses_total", "HTTP responses, by status code.", "status");
  registry.gauge("process_resident_memory_bytes", "Resident set size of the server process.", () =>
    process.memoryUsage.rss(),
  );
  registry.gauge("process_start_time_seconds", "Start time of the process, seconds since the epoch.", () => startedAtS);

  return {
    connectionOpened: () => opened.inc(),
    connectionClosed: (code) => closed.inc(closeLabel(code)),
    frameReceived: () => received.inc(),
    pingReceived: () => pings.inc(),
    frameSent: (count) => {
      sent.inc();
      deliveries.inc(count);
    },
    frameRefused: (reason) => refused.inc(reason),
    messagesStored: (count) => stored.inc(count),
    storeWrite: (seconds) => storeWrites.observe(seconds),
    busLatency: (seconds) => busLatency.observe(seconds),
    storeProbe: (seconds) => storeProbe.observe(seconds),
    slowConsumerClosed: () => slowConsumers.inc(),
    openRefusedBusy: () => busy.inc(),
    httpResponse: (status) => http.inc(String(status)),
    trackHub: (tracked) => {
      hub = tracked;
    },
    render: () => registry.render(),
  };
};

/** Metrics that record nothing: the default where a component was given none. */
export const noMetrics: Metrics = {
  connectionOpened() {},
  connectionClosed() {},
  frameReceived() {},
  pingReceived() {},
  frameSent() {},
  frameRefused() {},
  messagesStored() {},
  storeWrite() {},
  busLatency() {},
  storeProbe() {},
  slowConsumerClosed() {},
  openRefusedBusy() {},
  httpResponse() {},
  trackHub() {},
  render: () => "",
};
