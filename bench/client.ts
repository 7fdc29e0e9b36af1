/**
 * The load client: N chat users against one server on 127.0.0.1 (or several
 * instances of one cluster: user i uses the (i mod n)-th URL), then one JSON
 * line with the figures.
 *
 * Each user signs in over HTTP (`POST /wsin`, one session each) and opens
 * `/ws/chat` with the session cookie, like a browser. Once every socket is
 * open and the join/list burst has settled, the users send chat messages
 * whose text carries the sender's index and the send time (`~S~T~…`), so every
 * delivery — every copy of a broadcast any user receives — is a latency sample.
 *
 * Modes:
 * - closed: each user keeps `--window` own messages in flight; a message is
 *   acknowledged when its sender receives its broadcast, and then the next is sent.
 * - open: `--rate` messages per second in total, spread round-robin over the
 *   users, on a fixed schedule (latency is measured from the scheduled time,
 *   so a stalled server cannot hide its queueing: no coordinated omission).
 * - idle: connections only; reports the server's RSS per connection.
 *
 * The WebSocket client is our own, on Bun's TCP sockets: a broadcast to 256
 * users is 256 deliveries the client must absorb, and a WebSocket object per
 * user with a MessageEvent and a string per delivery would make the client,
 * not the server, the bottleneck. Here a TCP chunk holding many frames is
 * walked in place; a chat delivery costs a byte scan for `~` and two integer
 * parses, no string and no JSON. Client frames are masked with a zero key (the
 * RFC requires the mask bit, not a random key, of a client we control).
 *
 * Usage: bun bench/client.ts --url http://127.0.0.1:PORT --pid SERVER_PID --mode closed --clients 32 --window 4
 *        bun bench/client.ts --url http://127.0.0.1:P1,http://127.0.0.1:P2 --pid PID1,PID2 --redis-pid PID3 …
 *
 * Bounded: stops after `--duration-ms` (plus warm-up and drain) or `--max-messages`.
 * Refuses any host other than 127.0.0.1.
 */
import type { Socket } from "bun";
import { readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";

export interface ClientOptions {
  /** The server's URL, or comma-separated URLs of instances sharing users (one cluster: every user gets every broadcast). */
  url: string;
  /** Server process ids, comma-separated, for CPU time and RSS from /proc, summed ("" or 0: not measured). */
  pid: string;
  /** A Redis behind the servers: its CPU time is reported apart (0: none). */
  redisPid: number;
  /** A PostgreSQL behind the servers (its postmaster): CPU of it and every backend, reported apart (0: none). */
  pgPid: number;
  mode: "closed" | "open" | "idle";
  clients: number;
  /** closed: messages in flight per user. */
  window: number;
  /** open: messages per second, all users together. */
  rate: number;
  /** Sending before the measured window (counted for missing deliveries, not for the figures). */
  warmupMs: number;
  /** The measured window. */
  durationMs: number;
  /** Stop sending after this many messages in total (0: no limit). */
  maxMessages: number;
  /** After sending stops: give up on missing deliveries once none arrived for this long (bounded by DRAIN_MAX_MS). */
  drainMs: number;
  /** Characters of padding in each chat message (a realistic message is a few dozen characters). */
  pad: number;
  /** Sign-ins and socket opens in flight at once. */
  concurrency: number;
  /** idle: how long the connections sit before the RSS is read. */
  idleMs: number;
  /** User names are `<prefix><index>` (default: random, so a server can be reused). */
  namePrefix: string;
  /** Wait this long between the last sign-in and the first socket (bench/memory.ts reads the RSS of sessions alone). */
  holdMs: number;
  /** 1: every message carries a client id as the page's do (time first), so teahouse checks it and acks it. */
  cids: number;
}

export const defaultClientOptions = (): ClientOptions => ({
  url: "http://127.0.0.1:3000",
  pid: "",
  redisPid: 0,
  pgPid: 0,
  mode: "closed",
  clients: 32,
  window: 4,
  rate: 100,
  warmupMs: 1000,
  durationMs: 4000,
  maxMessages: 0,
  drainMs: 5000,
  pad: 32,
  concurrency: 64,
  idleMs: 2000,
  namePrefix: "",
  holdMs: 0,
  cids: 0,
});

/** The one JSON line the client prints. Latencies in ms, CPU in µs, memory in KiB. */
export interface ClientResult {
  mode: ClientOptions["mode"];
  clients: number;
  window?: number;
  rate?: number;
  /** Messages sent, all users, whole run. */
  sent: number;
  /** Chat deliveries expected (sent × users) and received, whole run. */
  expected: number;
  received: number;
  missing: number;
  /** Error frames received (e.g. rate limits): these invalidate a run. */
  errors: number;
  /** Sockets that closed during the run. */
  closed: number;
  /** Upgrades refused with 503 `busy` while connecting, and retried. */
  busy_retries?: number;
  /** The measured window. */
  window_s: number;
  deliveries: number;
  deliveries_per_s: number;
  messages_per_s: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  server_cpu_us_per_delivery: number | null;
  /** Server CPU time / wall time in the window (1 = one core busy). */
  server_cpu: number | null;
  server_rss_kib: number | null;
  client_cpu_us_per_delivery: number;
  client_cpu: number;
  /** With --redis-pid: Redis CPU time per delivery, and over wall time in the window. */
  redis_cpu_us_per_delivery?: number | null;
  redis_cpu?: number | null;
  /** With --pg-pid: PostgreSQL CPU time (postmaster and backends) per delivery, and over wall time in the window. */
  pg_cpu_us_per_delivery?: number | null;
  pg_cpu?: number | null;
  /** With --redis-pid: Redis CPU time from the first sign-in until the join/list burst settled, ms (presence). */
  redis_connect_cpu_ms?: number | null;
  connect_s: number;
  /** idle: server RSS before sign-in, after sign-in, after all sockets opened. */
  rss_before_kib?: number | null;
  rss_signed_in_kib?: number | null;
  rss_connected_kib?: number | null;
  /** idle: server RSS per open socket (after sign-in → connected), bytes. */
  rss_per_connection_b?: number | null;
  /** idle: server RSS per signed-in user with a socket (before sign-in → connected), bytes. */
  rss_per_user_b?: number | null;
}

// ------------------------------------------------------------------ /proc

export const CLOCK_TICKS_PER_S = (() => {
  const out = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" });
  const ticks = Number(out.stdout?.trim());
  return Number.isFinite(ticks) && ticks > 0 ? ticks : 100;
})();

/** utime + stime of a process, µs (every thread). */
export const processCpuUs = (pid: number): number | null => {
  if (!pid) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // After "pid (comm) ", field 3 (state) is index 0: utime is field 14, stime 15.
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS_PER_S;
  } catch {
    return null;
  }
};

/**
 * CPU of a process and its children, µs: PostgreSQL's postmaster and its backends (a backend that
 * exited is in the postmaster's reaped-children time).
 */
export const processTreeCpuUs = (pid: number): number | null => {
  if (!pid) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime, stime, cutime, cstime: fields 14-17.
    const ticks = Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
    let us = (ticks * 1e6) / CLOCK_TICKS_PER_S;
    for (const child of children) us += processCpuUs(Number(child)) ?? 0;
    return us;
  } catch {
    return null;
  }
};

/** `read` summed over several processes; null if any reading failed or there is none. */
const summed = (pids: readonly number[], read: (pid: number) => number | null): number | null => {
  if (pids.length === 0) return null;
  let total = 0;
  for (const pid of pids) {
    const value = read(pid);
    if (value === null) return null;
    total += value;
  }
  return total;
};

/** Resident set size of a process, KiB. */
export const processRssKiB = (pid: number): number | null => {
  if (!pid) return null;
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
};

// ------------------------------------------------------------------ latency histogram

/**
 * Log-linear histogram of microseconds: exact below 128 µs, then 64 buckets
 * per power of two (≤ 1.6 % error), bounded memory whatever the sample count.
 */
export class Histogram {
  readonly counts = new Float64Array(128 + 25 * 64);
  count = 0;
  max = 0;
  record(us: number): void {
    let v = us < 0 ? 0 : us | 0;
    if (v > 0x3fffffff) v = 0x3fffffff;
    if (v > this.max) this.max = v;
    this.count++;
    if (v < 128) {
      this.counts[v]!++;
      return;
    }
    const e = 31 - Math.clz32(v);
    this.counts[128 + (e - 7) * 64 + ((v >>> (e - 6)) - 64)]!++;
  }
  /** The value (µs) below which a fraction q of the samples lie. */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const target = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= target) {
        if (i < 128) return i;
        const e = Math.floor((i - 128) / 64) + 7;
        const low = ((i - 128) % 64) + 64;
        return Math.min(this.max, (low + 0.5) * 2 ** (e - 6));
      }
    }
    return this.max;
  }
}

// ------------------------------------------------------------------ WebSocket over TCP

/** The longest the drain after a run may take, whatever the progress. */
const DRAIN_MAX_MS = 60_000;
const TILDE = 0x7e;
const COMMA = 0x2c;
const MIN_SKIP = 36;
const ZERO = 0x30;
const encoder = new TextEncoder();

/** A masked (zero key) client frame. */
const clientFrame = (opcode: number, payload: Uint8Array): Uint8Array => {
  const length = payload.length;
  const header = length < 126 ? 6 : 8;
  const frame = new Uint8Array(header + length);
  frame[0] = 0x80 | opcode;
  if (length < 126) frame[1] = 0x80 | length;
  else {
    frame[1] = 0x80 | 126;
    frame[2] = length >>> 8;
    frame[3] = length & 0xff;
  }
  // bytes header-4 … header-1: the mask key, all zero, so the payload goes as is.
  frame.set(payload, header);
  return frame;
};

/**
 * A chat message from user `sender` stamped with `at` (µs since the epoch), as a client frame; to `room`
 * when given (the server's default otherwise: the lobby).
 */
export const chatFrame = (sender: number, at: number, padding: string, room?: string, cid?: string): Uint8Array =>
  clientFrame(
    0x1,
    encoder.encode(
      `{"type":"chat",${room === undefined ? "" : `"room":${JSON.stringify(room)},`}${cid === undefined ? "" : `"cid":"${cid}",`}"data":"~${sender}~${at}~${padding}"}`,
    ),
  );

/** A client id as the page makes one: the time in base 36 (9 characters), then something unique. */
let cidCount = 0;
const pageCid = (): string =>
  `${Date.now().toString(36).padStart(9, "0")}${(++cidCount).toString(16).padStart(24, "0")}`;

/**
 * Whether a text frame is a chat delivery, `{"id":<digits>,"type":"chat",…` (not a history page quoting
 * chat frames), from a few bytes; the index after the id's comma, or -1.
 */
export const chatAt = (bytes: Uint8Array, start: number, end: number): number => {
  let i = start + 6;
  while (i < end && bytes[i] !== COMMA) i++;
  return bytes[i + 9] === 0x63 && bytes[i + 10] === 0x68 && bytes[i + 11] === 0x61 && bytes[i + 12] === 0x74 ? i : -1;
};

/** The last stamp `readStamp` read (one object, no allocation per delivery). */
export const stamp = { sender: 0, sentAt: 0 };

/** Reads a chat delivery's `~sender~sentAt~` into `stamp`; false if the frame is not one of ours. */
export const readStamp = (bytes: Uint8Array, start: number, end: number): boolean => {
  let i = chatAt(bytes, start, end);
  if (i < 0) return false;
  // The user object comes first (at least `"user":{"type":"guest"`): skip it, then find `~`.
  i += MIN_SKIP;
  while (i < end && bytes[i] !== TILDE) i++;
  if (i >= end) return false;
  let sender = 0;
  for (i++; i < end && bytes[i] !== TILDE; i++) sender = sender * 10 + bytes[i]! - ZERO;
  let sentAt = 0;
  for (i++; i < end && bytes[i] !== TILDE; i++) sentAt = sentAt * 10 + bytes[i]! - ZERO;
  stamp.sender = sender;
  stamp.sentAt = sentAt;
  return true;
};

/** An error frame's text (e.g. a rate limit), or null for any other frame. */
export const errorText = (bytes: Uint8Array, start: number, end: number): string | null => {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString("utf8");
  return text.includes('"type":"error"') ? text : null;
};

/** One user's socket: a WebSocket client on a Bun TCP socket. */
export class Conn {
  socket: Socket<Conn> | null = null;
  upgraded = false;
  /** Bytes of an incomplete frame (or handshake) carried to the next chunk. */
  carry: Uint8Array | null = null;
  /** Bytes the kernel did not take yet. */
  backlog: Uint8Array[] = [];
  inflight = 0;
  /** Counts chat frames only, reads no stamp (the idle crowd of bench/crowd.ts). */
  countOnly = false;
  onOpen: ((error?: Error) => void) | null = null;
  constructor(
    readonly index: number,
    readonly port: number,
    readonly cookie: string,
  ) {}
}

/** A text frame's payload is bytes[start, end). */
export type TextHandler = (conn: Conn, bytes: Uint8Array, start: number, end: number) => void;

/**
 * The WebSocket client layer, shared by the load clients: `connect` opens a socket to 127.0.0.1:conn.port
 * with the session cookie and resolves once upgraded; each whole text frame goes to `onText` (a TCP chunk
 * holding many frames is walked in place); pings are answered; `onChunk` runs before each chunk.
 */
export const transport = (onText: TextHandler, onChunk: () => void = () => {}) => {
  let closed = 0;
  const write = (conn: Conn, bytes: Uint8Array): void => {
    const socket = conn.socket;
    if (!socket) return;
    if (conn.backlog.length > 0) {
      conn.backlog.push(bytes);
      return;
    }
    const written = socket.write(bytes);
    if (written < bytes.length) conn.backlog.push(bytes.subarray(Math.max(0, written)));
  };
  const flush = (conn: Conn): void => {
    const socket = conn.socket;
    while (socket && conn.backlog.length > 0) {
      const bytes = conn.backlog[0]!;
      const written = socket.write(bytes);
      if (written < bytes.length) {
        conn.backlog[0] = bytes.subarray(Math.max(0, written));
        return;
      }
      conn.backlog.shift();
    }
  };
  const onData = (conn: Conn, chunk: Uint8Array): void => {
    onChunk();
    let bytes = chunk;
    if (conn.carry) {
      bytes = new Uint8Array(conn.carry.length + chunk.length);
      bytes.set(conn.carry);
      bytes.set(chunk, conn.carry.length);
      conn.carry = null;
    }
    let pos = 0;
    const length = bytes.length;
    if (!conn.upgraded) {
      const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("latin1");
      const endOfHead = text.indexOf("\r\n\r\n");
      if (endOfHead < 0) {
        conn.carry = bytes.slice();
        return;
      }
      if (!text.startsWith("HTTP/1.1 101")) {
        conn.onOpen?.(new Error(`upgrade refused: ${text.slice(0, text.indexOf("\r\n"))}`));
        // A refused upgrade is not a socket that closed during the run.
        const socket = conn.socket;
        conn.socket = null;
        socket?.end();
        return;
      }
      conn.upgraded = true;
      conn.onOpen?.();
      pos = endOfHead + 4;
    }
    while (pos + 2 <= length) {
      const opcode = bytes[pos]! & 0x0f;
      let payload = bytes[pos + 1]! & 0x7f;
      let header = 2;
      if (payload === 126) {
        if (pos + 4 > length) break;
        payload = (bytes[pos + 2]! << 8) | bytes[pos + 3]!;
        header = 4;
      } else if (payload === 127) {
        if (pos + 10 > length) break;
        payload = bytes[pos + 6]! * 2 ** 24 + ((bytes[pos + 7]! << 16) | (bytes[pos + 8]! << 8) | bytes[pos + 9]!);
        header = 10;
      }
      const start = pos + header;
      const end = start + payload;
      if (end > length) break;
      if (opcode === 0x1) onText(conn, bytes, start, end);
      else if (opcode === 0x9) write(conn, clientFrame(0xa, bytes.slice(start, end)));
      pos = end;
    }
    // The chunk's memory is reused by the runtime after this callback: copy what is kept.
    if (pos < length) conn.carry = bytes.slice(pos);
  };

  const handlers = {
    open(socket: Socket<Conn>) {
      const conn = socket.data;
      conn.socket = socket;
      socket.write(
        `GET /ws/chat HTTP/1.1\r\nHost: 127.0.0.1:${conn.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nCookie: ${conn.cookie}\r\n\r\n`,
      );
    },
    data(socket: Socket<Conn>, chunk: Uint8Array) {
      onData(socket.data, chunk);
    },
    drain(socket: Socket<Conn>) {
      flush(socket.data);
    },
    close(socket: Socket<Conn>) {
      const conn = socket.data;
      if (conn.socket) closed++;
      conn.socket = null;
      conn.onOpen?.(new Error("closed before the upgrade"));
    },
    error(socket: Socket<Conn>, error: Error) {
      socket.data.onOpen?.(error);
    },
  };

  /** Upgrades answered 503 `busy` (the server spreads a storm of opens over event-loop turns), retried. */
  let busyRetries = 0;
  const connect = async (conn: Conn): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      const opened = new Promise<void>((resolve, reject) => {
        conn.onOpen = (error) => {
          conn.onOpen = null;
          if (error) reject(error);
          else resolve();
        };
      });
      await Bun.connect<Conn>({ hostname: "127.0.0.1", port: conn.port, data: conn, socket: handlers });
      try {
        return await opened;
      } catch (error) {
        if (!String(error).includes("HTTP/1.1 503") || attempt >= 50) throw error;
        busyRetries++;
        // As a client with backoff would: a moment later, not in step with the others.
        await Bun.sleep(50 + Math.random() * 200);
      }
    }
  };
  /** Ends every socket (its close is not counted as a socket lost). */
  const endAll = (conns: readonly Conn[]): void => {
    for (const conn of conns) {
      const socket = conn.socket;
      conn.socket = null;
      socket?.end();
    }
  };
  return { write, connect, endAll, closed: () => closed, busyRetries: () => busyRetries };
};

/** Signs a guest in over HTTP (`POST /wsin`, one session); its session cookie (`name=value`). */
export const signIn = async (origin: string, name: string): Promise<string> => {
  const response = await fetch(`${origin}/wsin`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name }),
  });
  const cookie = response.headers.getSetCookie()[0]?.split(";")[0];
  if (response.status !== 200 || !cookie)
    throw new Error(`sign-in failed: ${response.status} ${(await response.text()).slice(0, 200)}`);
  return cookie;
};

export const runClient = async (options: ClientOptions): Promise<ClientResult> => {
  const bases = options.url.split(",").map((url) => new URL(url));
  for (const base of bases)
    if (base.hostname !== "127.0.0.1") throw new Error(`the load client only targets 127.0.0.1, not ${base.hostname}`);
  /** User i signs in and connects to instance i mod n. */
  const baseOf = (index: number): URL => bases[index % bases.length]!;
  const pids = options.pid
    .split(",")
    .map(Number)
    .filter((pid) => pid > 0);
  const serverCpuUs = (): number | null => summed(pids, processCpuUs);
  const serverRssKiB = (): number | null => summed(pids, processRssKiB);
  const nowUs = (): number => Math.round((performance.timeOrigin + performance.now()) * 1000);
  const padding = "x".repeat(options.pad);
  const namePrefix = options.namePrefix || `b${Math.random().toString(36).slice(2, 7)}-`;

  let sent = 0;
  let received = 0;
  let errors = 0;
  let firstError = "";
  let sending = false;
  let measuring = false;
  let lastDataAt = performance.now();
  const histogram = new Histogram();
  const conns: Conn[] = [];

  /** Sends one chat message stamped with `at` (µs since the epoch). */
  const sendChat = (conn: Conn, at: number): void => {
    write(conn, chatFrame(conn.index, at, padding, undefined, options.cids ? pageCid() : undefined));
    conn.inflight++;
    sent++;
  };

  /** A text frame: a chat delivery carries `~sender~sentAt~`; anything else is join/list/left/error. */
  const onText = (conn: Conn, bytes: Uint8Array, start: number, end: number, at: number): void => {
    if (!readStamp(bytes, start, end)) {
      const error = errorText(bytes, start, end);
      if (error !== null) {
        errors++;
        if (!firstError) firstError = error.slice(0, 300);
      }
      return;
    }
    received++;
    if (measuring) histogram.record(at - stamp.sentAt);
    if (stamp.sender === conn.index) {
      conn.inflight--;
      if (sending && options.mode === "closed") {
        if (options.maxMessages > 0 && sent >= options.maxMessages) return;
        sendChat(conn, at);
      }
    }
  };

  let at = 0;
  const { write, connect, endAll, closed, busyRetries } = transport(
    (conn, bytes, start, end) => onText(conn, bytes, start, end, at),
    () => {
      lastDataAt = performance.now();
      at = nowUs();
    },
  );
  const signInUser = (index: number): Promise<string> => signIn(baseOf(index).origin, `${namePrefix}${index}`);
  /** Runs `task` for 0…n-1, `options.concurrency` at a time. */
  const pool = async <T>(n: number, task: (i: number) => Promise<T>): Promise<T[]> => {
    const results = new Array<T>(n);
    let next = 0;
    const worker = async () => {
      while (next < n) {
        const i = next++;
        results[i] = await task(i);
      }
    };
    await Promise.all(Array.from({ length: Math.min(options.concurrency, n) }, worker));
    return results;
  };
  const quiet = async (ms: number, maxMs: number): Promise<void> => {
    const deadline = performance.now() + maxMs;
    while (performance.now() - lastDataAt < ms && performance.now() < deadline) await Bun.sleep(ms / 4);
  };

  // ---- sign in, connect, settle
  const rssBefore = serverRssKiB();
  const redisBefore = processCpuUs(options.redisPid);
  const connectStart = performance.now();
  const cookies = await pool(options.clients, signInUser);
  const rssSignedIn = serverRssKiB();
  if (options.holdMs > 0) await Bun.sleep(options.holdMs);
  for (let i = 0; i < options.clients; i++) conns.push(new Conn(i, Number(baseOf(i).port), cookies[i]!));
  await pool(options.clients, (i) => connect(conns[i]!));
  const connectS = (performance.now() - connectStart) / 1000;
  await quiet(300, 60_000);
  const redisSettled = processCpuUs(options.redisPid);

  const result: ClientResult = {
    mode: options.mode,
    clients: options.clients,
    sent: 0,
    expected: 0,
    received: 0,
    missing: 0,
    errors: 0,
    closed: 0,
    window_s: 0,
    deliveries: 0,
    deliveries_per_s: 0,
    messages_per_s: 0,
    p50_ms: 0,
    p99_ms: 0,
    max_ms: 0,
    server_cpu_us_per_delivery: null,
    server_cpu: null,
    server_rss_kib: null,
    client_cpu_us_per_delivery: 0,
    client_cpu: 0,
    connect_s: round(connectS, 3),
    busy_retries: busyRetries(),
  };
  if (options.redisPid > 0)
    result.redis_connect_cpu_ms =
      redisBefore !== null && redisSettled !== null ? round((redisSettled - redisBefore) / 1000, 1) : null;

  const windowMs = options.mode === "idle" ? options.idleMs : options.durationMs;
  let openLoopTimer: ReturnType<typeof setInterval> | undefined;
  if (options.mode === "idle") {
    await Bun.sleep(options.idleMs);
    const rssConnected = serverRssKiB();
    Object.assign(result, {
      rss_before_kib: rssBefore,
      rss_signed_in_kib: rssSignedIn,
      rss_connected_kib: rssConnected,
      rss_per_connection_b:
        rssConnected !== null && rssSignedIn !== null
          ? Math.round(((rssConnected - rssSignedIn) * 1024) / options.clients)
          : null,
      rss_per_user_b:
        rssConnected !== null && rssBefore !== null
          ? Math.round(((rssConnected - rssBefore) * 1024) / options.clients)
          : null,
    });
  } else {
    result.window = options.mode === "closed" ? options.window : undefined;
    result.rate = options.mode === "open" ? options.rate : undefined;
    sending = true;
    const startedAt = performance.now();
    if (options.mode === "closed") {
      for (const conn of conns) for (let w = 0; w < options.window; w++) sendChat(conn, nowUs());
    } else {
      // Sends what the schedule says is due, stamped with when it was due.
      const intervalUs = 1e6 / options.rate;
      const scheduleStartUs = nowUs();
      let issued = 0;
      let next = 0;
      openLoopTimer = setInterval(() => {
        if (!sending) return;
        const due = Math.floor((nowUs() - scheduleStartUs) / intervalUs) + 1;
        for (; issued < due; issued++) {
          if (options.maxMessages > 0 && sent >= options.maxMessages) return;
          sendChat(conns[next]!, Math.round(scheduleStartUs + issued * intervalUs));
          next = (next + 1) % conns.length;
        }
      }, 1);
    }
    await Bun.sleep(Math.max(0, startedAt + options.warmupMs - performance.now()));
    const before = {
      at: performance.now(),
      received,
      sent,
      server: serverCpuUs(),
      redis: processCpuUs(options.redisPid),
      pg: processTreeCpuUs(options.pgPid),
      client: process.cpuUsage(),
    };
    measuring = true;
    const windowEnd = before.at + windowMs;
    while (performance.now() < windowEnd && !(options.maxMessages > 0 && sent >= options.maxMessages))
      await Bun.sleep(Math.min(50, windowEnd - performance.now()));
    const after = {
      at: performance.now(),
      received,
      sent,
      server: serverCpuUs(),
      redis: processCpuUs(options.redisPid),
      pg: processTreeCpuUs(options.pgPid),
      client: process.cpuUsage(before.client),
    };
    measuring = false;
    sending = false;
    result.server_rss_kib = serverRssKiB();
    const seconds = (after.at - before.at) / 1000;
    const deliveries = after.received - before.received;
    const clientUs = after.client.user + after.client.system;
    Object.assign(result, {
      window_s: round(seconds, 3),
      deliveries,
      deliveries_per_s: Math.round(deliveries / seconds),
      messages_per_s: Math.round((after.sent - before.sent) / seconds),
      p50_ms: round(histogram.quantile(0.5) / 1000, 3),
      p99_ms: round(histogram.quantile(0.99) / 1000, 3),
      max_ms: round(histogram.max / 1000, 3),
      server_cpu_us_per_delivery:
        after.server !== null && before.server !== null && deliveries > 0
          ? round((after.server - before.server) / deliveries, 4)
          : null,
      server_cpu:
        after.server !== null && before.server !== null
          ? round((after.server - before.server) / (seconds * 1e6), 3)
          : null,
      client_cpu_us_per_delivery: deliveries > 0 ? round(clientUs / deliveries, 4) : 0,
      client_cpu: round(clientUs / (seconds * 1e6), 3),
    });
    if (options.redisPid > 0) {
      const redisUs = after.redis !== null && before.redis !== null ? after.redis - before.redis : null;
      result.redis_cpu_us_per_delivery = redisUs !== null && deliveries > 0 ? round(redisUs / deliveries, 4) : null;
      result.redis_cpu = redisUs !== null ? round(redisUs / (seconds * 1e6), 3) : null;
    }
    if (options.pgPid > 0) {
      const pgUs = after.pg !== null && before.pg !== null ? after.pg - before.pg : null;
      result.pg_cpu_us_per_delivery = pgUs !== null && deliveries > 0 ? round(pgUs / deliveries, 4) : null;
      result.pg_cpu = pgUs !== null ? round(pgUs / (seconds * 1e6), 3) : null;
    }
    // Drain: every message sent must reach every user.
    clearInterval(openLoopTimer);
    // A slow server may still be delivering a backlog: wait while deliveries keep coming, up to a bound.
    const drainBound = performance.now() + DRAIN_MAX_MS;
    let progressAt = performance.now();
    let seen = received;
    while (received < sent * options.clients && performance.now() < drainBound) {
      await Bun.sleep(20);
      if (received !== seen) [seen, progressAt] = [received, performance.now()];
      else if (performance.now() - progressAt > options.drainMs) break;
    }
  }

  endAll(conns);
  Object.assign(result, {
    sent,
    expected: sent * options.clients,
    received,
    missing: sent * options.clients - received,
    errors,
    closed: closed(),
    ...(firstError ? { first_error: firstError } : {}),
  });
  return result;
};

const round = (value: number, digits: number): number => Math.round(value * 10 ** digits) / 10 ** digits;

/** `--duration-ms 4000` → { durationMs: 4000 } over the defaults. */
export const parseClientArgs = (argv: readonly string[]): ClientOptions => {
  const options = defaultClientOptions() as unknown as Record<string, unknown>;
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i]!;
    const key = flag.replace(/^--/, "").replace(/-(\w)/g, (_, c: string) => c.toUpperCase());
    if (!(key in options)) throw new Error(`unknown option ${flag}`);
    const raw = argv[i + 1];
    if (raw === undefined) throw new Error(`${flag} needs a value`);
    options[key] = typeof options[key] === "number" ? Number(raw) : raw;
  }
  return options as unknown as ClientOptions;
};

if (import.meta.main) {
  const result = await runClient(parseClientArgs(process.argv.slice(2)));
  console.log(JSON.stringify(result));
  process.exit(0);
}
