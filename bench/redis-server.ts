/**
 * A throwaway redis-server for the benchmarks (Debian's): free loopback port,
 * temporary directory, no persistence (`--save '' --appendonly no`: the
 * figures are Redis's CPU per command, not the disk's).
 */
import { RedisClient, type Subprocess } from "bun";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, pin } from "./harness";

export const REDIS_SERVER = "redis-server";
/** How long redis-server may take to accept connections. */
const REDIS_START_TIMEOUT_MS = 10_000;

export interface Redis {
  pid: number;
  url: string;
  /** Empties it between runs (history streams, presence, sessions). */
  flush(): Promise<void>;
  stop(): Promise<void>;
}

/** redis-server on a free loopback port, no persistence, pinned with the servers (CPU 0). */
export const startRedis = async (): Promise<Redis> => {
  if (!Bun.which(REDIS_SERVER))
    throw new Error("redis-server is not installed: apt-get install -y --no-install-recommends redis-server");
  const dir = mkdtempSync(join(tmpdir(), "teahouse-bench-redis-"));
  const port = freePort();
  const url = `redis://127.0.0.1:${port}`;
  // Pinned with the servers: its CPU is part of what a message costs on the server side.
  const child: Subprocess = Bun.spawn(
    pin("server", [
      REDIS_SERVER,
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--dir",
      dir,
      "--save",
      "",
      "--appendonly",
      "no",
    ]),
    { stdout: "ignore", stderr: "ignore" },
  );
  const stop = async () => {
    child.kill("SIGTERM");
    await child.exited;
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = performance.now() + REDIS_START_TIMEOUT_MS;
  for (;;) {
    try {
      const socket = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
      socket.end();
      break;
    } catch {
      if (child.exitCode !== null || performance.now() > deadline) {
        await stop();
        throw new Error(`redis-server did not start on port ${port}`);
      }
      await Bun.sleep(20);
    }
  }
  const client = new RedisClient(url);
  return {
    pid: child.pid,
    url,
    flush: async () => void (await client.send("FLUSHALL", [])),
    async stop() {
      client.close();
      await stop();
    },
  };
};
