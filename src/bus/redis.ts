/**
 * The bus on Redis pub/sub (REDIS_URL), with Bun's built-in client: one
 * channel, JSON events `{i: instance, s: sent at, e: event}`. Two
 * connections, since a subscribed one can only subscribe. Redis keeps
 * nothing here: a restart (with or without persistence) loses only events in
 * flight, which the instances make good by reading the store and exchanging
 * their state again. While Redis is unreachable the bus is down and retries
 * every second; the app closes its sockets (1013) until it is back.
 */
import { RedisClient } from "bun";
import type { Bus, BusEvent } from "../ports/bus";
import type { Logger } from "../log";

/**
 * The channel every instance of one deployment publishes on and listens to: named after the
 * store's epoch, so deployments on different databases can share a Redis without hearing each other.
 */
export const busChannel = (namespace: string): string => `teahouse:${namespace}:bus`;
/** Time between connection attempts while Redis is unreachable. */
const RECONNECT_MS = 1_000;
/** How often the connection's liveness (own events coming back) is checked. */
const LIVENESS_CHECK_MS = 1_000;
/** Connecting or a probe fails after this long. */
const CONNECT_TIMEOUT_MS = 3_000;

interface Envelope {
  i: string;
  s: number;
  e: BusEvent;
}

export interface RedisBusOptions {
  url: string;
  log: Logger;
  /** How long this instance's own events took to come back through Redis (seconds). */
  latency?: (seconds: number) => void;
  instance?: string;
  /** Names this deployment's channel and keys (the store's epoch); read when connecting. */
  namespace: () => string;
  /**
   * Down when none of this instance's own events came back for this long (the cluster publishes a
   * heartbeat every 2 s); 0 or absent: no such check.
   */
  silentAfterMs?: number;
}

export class RedisBus implements Bus {
  readonly instance: string;
  up = false;
  private pub: RedisClient | null = null;
  private sub: RedisClient | null = null;
  private closing = false;
  private retry: Timer | undefined;
  private first: Promise<void> | undefined;
  private channel = "";
  /** When this instance last heard one of its own events back. */
  private lastEcho = 0;
  private liveness: Timer | undefined;
  /** The last publish: `close` waits for it (a `bye` reaches Redis before the connection ends). */
  private lastPublish: Promise<unknown> = Promise.resolve();
  private readonly handlers: Array<(from: string, event: BusEvent) => void> = [];
  private readonly statusHandlers: Array<(up: boolean) => void> = [];

  constructor(private readonly options: RedisBusOptions) {
    this.instance = options.instance ?? crypto.randomUUID().slice(0, 8);
  }

  publish(event: BusEvent): void {
    const pub = this.pub;
    if (!this.up || !pub) return;
    const envelope: Envelope = { i: this.instance, s: Date.now(), e: event };
    // A failure from a connection already replaced must not take the new one down.
    this.lastPublish = pub.publish(this.channel, JSON.stringify(envelope)).catch(() => {
      if (this.pub === pub) this.down();
    });
  }

  listen(handler: (from: string, event: BusEvent) => void): void {
    this.handlers.push(handler);
  }

  onStatus(handler: (up: boolean) => void): void {
    this.statusHandlers.push(handler);
  }

  start(): Promise<void> {
    this.first ??= new Promise<void>((resolve) => {
      const attempt = () =>
        this.connect().then(resolve, (error: unknown) => {
          this.options.log.warn("bus.connect_failed", { error: String((error as Error)?.message ?? error) });
          if (!this.closing) this.retry = setTimeout(attempt, RECONNECT_MS);
        });
      attempt();
    });
    return this.first;
  }

  /** Prefix of this deployment's keys. */
  get keyPrefix(): string {
    return `teahouse:${this.options.namespace()}:`;
  }

  /** Sends one command on the command connection; null while Redis is unreachable. */
  command(command: string, args: string[]): Promise<unknown> | null {
    const pub = this.pub;
    return this.up && pub ? pub.send(command, args) : null;
  }

  async probe(): Promise<boolean> {
    const pub = this.pub;
    if (!this.up || !pub) return false;
    try {
      const answer = await Promise.race([pub.send("PING", []), Bun.sleep(CONNECT_TIMEOUT_MS).then(() => "")]);
      return answer === "PONG";
    } catch {
      return false;
    }
  }

  private async connect(): Promise<void> {
    this.channel = busChannel(this.options.namespace());
    const options = { autoReconnect: false, enableOfflineQueue: false, connectionTimeout: CONNECT_TIMEOUT_MS };
    const pub = new RedisClient(this.options.url, options);
    let sub: RedisClient | undefined;
    try {
      await pub.connect();
      sub = await pub.duplicate();
      // Named, so `CLIENT LIST` tells which instance a connection belongs to.
      await pub.send("CLIENT", ["SETNAME", `teahouse-${this.instance}`]);
      await sub.send("CLIENT", ["SETNAME", `teahouse-${this.instance}-bus`]);
      await sub.subscribe(this.channel, (message) => this.heard(message));
    } catch (error) {
      pub.close();
      sub?.close();
      throw error;
    }
    if (this.closing) {
      pub.close();
      sub.close();
      return;
    }
    this.pub = pub;
    this.sub = sub;
    pub.onclose = sub.onclose = () => this.down();
    this.up = true;
    this.lastEcho = Date.now();
    clearInterval(this.liveness);
    // A connection that stays open but stops carrying (a half-open socket, a stalled Redis) is down
    // once this instance's own events stop coming back.
    if (this.options.silentAfterMs)
      this.liveness = setInterval(() => {
        if (this.up && Date.now() - this.lastEcho > this.options.silentAfterMs!) {
          this.options.log.error("bus.silent", { instance: this.instance });
          this.down();
        }
      }, LIVENESS_CHECK_MS);
    this.liveness?.unref();
    this.options.log.info("bus.connected", { instance: this.instance });
    for (const handler of this.statusHandlers) handler(true);
  }

  private heard(message: string): void {
    let envelope: Envelope;
    try {
      envelope = JSON.parse(message) as Envelope;
    } catch {
      return;
    }
    if (envelope.i === this.instance) {
      this.lastEcho = Date.now();
      this.options.latency?.(Math.max(0, Date.now() - envelope.s) / 1000);
      return;
    }
    for (const handler of this.handlers) {
      try {
        handler(envelope.i, envelope.e);
      } catch (error) {
        // An event of an unexpected shape (another version mid-rollout) costs that event only.
        this.options.log.error("bus.event_failed", {
          from: envelope.i,
          event: String((envelope.e as { t?: unknown } | null)?.t),
          error: String((error as Error)?.message ?? error),
        });
      }
    }
  }

  private down(): void {
    clearInterval(this.liveness);
    for (const client of [this.pub, this.sub]) {
      if (!client) continue;
      client.onclose = null;
      client.close();
    }
    this.pub = this.sub = null;
    const wasUp = this.up;
    this.up = false;
    if (this.closing) return;
    if (wasUp) {
      this.options.log.error("bus.down", { instance: this.instance });
      for (const handler of this.statusHandlers) handler(false);
    }
    clearTimeout(this.retry);
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.connect().catch((error: unknown) => {
        this.options.log.warn("bus.reconnect_failed", { error: String((error as Error)?.message ?? error) });
        this.down();
      });
    }, RECONNECT_MS);
  }

  async close(): Promise<void> {
    await Promise.race([this.lastPublish, Bun.sleep(CONNECT_TIMEOUT_MS)]);
    this.closing = true;
    clearTimeout(this.retry);
    clearInterval(this.liveness);
    this.up = false;
    for (const client of [this.pub, this.sub]) {
      if (!client) continue;
      client.onclose = null;
      client.close();
    }
    this.pub = this.sub = null;
  }
}
