/**
 * Test helpers: boot the real app on port 0, sign in over HTTP, open real
 * WebSockets with the session cookie and read frames in order.
 */
import { afterEach } from "bun:test";
import { Value } from "@sinclair/typebox/value";
import { createApp, type AppOptions, type TeahouseApp } from "../src/app";
import { defaultConfig, type Config } from "../src/config";
import { createLogger, type Logger } from "../src/log";
import { CHAT_SOCKET_PATH, ServerFrame, type ServerFrameOf, type User } from "../src/protocol";

export interface Running {
  teahouse: TeahouseApp;
  /** http://127.0.0.1:PORT */
  base: string;
  /** ws://127.0.0.1:PORT/ws/chat */
  wsUrl: string;
  stop(): Promise<void>;
}

export const testConfig = (overrides: Partial<Config> = {}): Config => ({
  ...defaultConfig(),
  port: 0,
  host: "127.0.0.1",
  dataDir: ":memory:",
  logLevel: "silent",
  // A closed socket's `left` at once (the grace that makes a reload no leave is tested on its own).
  presenceGraceMs: 0,
  // Tests open sockets by the dozen from one address in seconds (the limit is tested on its own).
  socketOpensPerMinute: 100_000,
  socketOpensPerIpPerMinute: 100_000,
  ...overrides,
});

/** Starts a fresh app on a free port (with `log`, logging there instead of nowhere). */
export const startApp = (overrides: Partial<Config> = {}, log?: Logger, options: AppOptions = {}): Running => {
  const config = testConfig(overrides);
  const teahouse = createApp(config, { ...options, log: log ?? createLogger(config.logLevel) });
  const server = teahouse.listen();
  const base = `http://127.0.0.1:${server.port}`;
  return { teahouse, base, wsUrl: `ws://127.0.0.1:${server.port}${CHAT_SOCKET_PATH}`, stop: () => teahouse.stop() };
};

/**
 * Apps and sockets for one test file: `start` boots an app (awaiting its broker),
 * `connect` opens a socket; after each test every socket is closed and every app stopped.
 */
export const trackApps = () => {
  const apps: Running[] = [];
  const clients: Client[] = [];
  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    for (const running of apps.splice(0)) await running.stop();
  });
  return {
    /** `options`: what createApp takes besides the config (e.g. a push service's CA). */
    async start(overrides: Partial<Config> = {}, options: AppOptions = {}): Promise<Running> {
      const running = startApp(overrides, undefined, options);
      apps.push(running);
      await running.teahouse.started;
      return running;
    },
    async connect(running: { wsUrl: string }, cookie: string, query = ""): Promise<Client> {
      const client = await Client.connect(`${running.wsUrl}${query}`, cookie);
      clients.push(client);
      return client;
    },
    /** Forgets an app stopped by the test itself. */
    forget(running: Running): void {
      apps.splice(apps.indexOf(running), 1);
    },
  };
};

export interface SignedIn {
  /** The session cookie (`session=…`). */
  cookie: string;
  /** The browser's device cookie (`device=…`): send it to sign in again as the same browser. */
  device: string;
  user: User;
}

/**
 * Signs in over HTTP (with `password`: to a registered account; `device`: as the browser that
 * holds that device cookie); returns the cookies and the user.
 */
export const signIn = async (
  base: string,
  name?: string,
  options: { password?: string; device?: string; path?: "/wsin" | "/signup" } = {},
): Promise<SignedIn> => {
  const response = await fetch(`${base}${options.path ?? "/wsin"}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(options.device ? { cookie: options.device } : {}) },
    body: JSON.stringify({
      ...(name === undefined ? {} : { name }),
      ...(options.password === undefined ? {} : { password: options.password }),
    }),
  });
  const body = (await response.json()) as { code: number; user: User; data: string };
  if (response.status !== 200 || body.code !== 0)
    throw new Error(`sign-in failed: ${response.status} ${JSON.stringify(body)}`);
  return {
    cookie: cookieFrom(response),
    device: cookieFrom(response, "device") ?? options.device ?? "",
    user: body.user,
  };
};

/** The `name=value` pair of the Set-Cookie header for `name` (default: the first header). */
export function cookieFrom(response: Response): string;
export function cookieFrom(response: Response, name: string): string | undefined;
export function cookieFrom(response: Response, name?: string): string | undefined {
  const headers = response.headers.getSetCookie();
  const header = name === undefined ? headers[0] : headers.find((h) => h.startsWith(`${name}=`));
  if (!header) {
    if (name !== undefined) return undefined;
    throw new Error("no Set-Cookie header");
  }
  return header.split(";")[0]!;
}

/** A WebSocket client that queues every frame so tests can read them in order. */
export class Client {
  readonly frames: ServerFrame[] = [];
  private waiters: Array<() => void> = [];
  closed: { code: number; reason: string } | undefined;
  private closeWaiters: Array<() => void> = [];

  private constructor(readonly ws: WebSocket) {
    ws.addEventListener("message", (event) => {
      const frame = JSON.parse(String(event.data)) as ServerFrame;
      if (!Value.Check(ServerFrame, frame)) throw new Error(`frame does not match the protocol: ${String(event.data)}`);
      this.frames.push(frame);
      for (const wake of this.waiters.splice(0)) wake();
    });
    ws.addEventListener("close", (event) => {
      this.closed = { code: event.code, reason: event.reason };
      for (const wake of [...this.closeWaiters.splice(0), ...this.waiters.splice(0)]) wake();
    });
  }

  /** Opens a socket; resolves once open, rejects if it closes first. */
  static async connect(wsUrl: string, cookie?: string, headers: Record<string, string> = {}): Promise<Client> {
    const ws = new WebSocket(wsUrl, { headers: { ...(cookie ? { cookie } : {}), ...headers } } as unknown as string[]);
    const client = new Client(ws);
    await new Promise<void>((resolve, reject) => {
      ws.addEventListener("open", () => resolve(), { once: true });
      ws.addEventListener("error", () => reject(new Error("socket error before open")), { once: true });
      ws.addEventListener("close", (e) => reject(new Error(`closed before open: ${e.code}`)), { once: true });
    });
    return client;
  }

  send(data: unknown): void {
    this.ws.send(typeof data === "string" ? data : JSON.stringify(data));
  }

  /** The next frame matching `match` (frames before it are consumed), or throws after `timeoutMs`. */
  async next<T extends ServerFrame["type"]>(
    type: T,
    match: (frame: ServerFrameOf<T>) => boolean = () => true,
    timeoutMs = 3000,
  ): Promise<ServerFrameOf<T>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.frames.length > 0) {
        const frame = this.frames.shift()!;
        if (frame.type === type && match(frame as ServerFrameOf<T>)) return frame as ServerFrameOf<T>;
      }
      if (this.closed) throw new Error(`socket closed (${this.closed.code}) while waiting for ${type}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for a ${type} frame`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Waits `ms` and returns every frame received meanwhile (consuming them). */
  async drain(ms = 150): Promise<ServerFrame[]> {
    await Bun.sleep(ms);
    return this.frames.splice(0);
  }

  /** Resolves with the close code and reason. */
  async waitClose(timeoutMs = 3000): Promise<{ code: number; reason: string }> {
    if (this.closed) return this.closed;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("timed out waiting for close")), timeoutMs);
      this.closeWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    return this.closed!;
  }

  close(): void {
    this.ws.close();
  }
}

/** Opens a socket expecting it to be refused; returns the HTTP status of the refused upgrade. */
export const refusedUpgrade = async (base: string, headers: Record<string, string>): Promise<number> => {
  const response = await fetch(`${base}${CHAT_SOCKET_PATH}`, {
    headers: {
      connection: "Upgrade",
      upgrade: "websocket",
      "sec-websocket-version": "13",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      ...headers,
    },
  });
  return response.status;
};

/** Polls `check` until it holds; throws after `ms`. Resolves with the time it took. */
export const within = async (ms: number, check: () => boolean | Promise<boolean>, pollMs = 25): Promise<number> => {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > ms) throw new Error(`not within ${ms} ms`);
    await Bun.sleep(pollMs);
  }
  return Date.now() - started;
};
