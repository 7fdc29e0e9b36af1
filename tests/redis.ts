/**
 * A real redis-server (Debian's) for tests: its own temp dir and a free
 * loopback port, append-only persistence so a restart keeps its data.
 */
import type { Subprocess } from "bun";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const REDIS_SERVER = "redis-server";

/** A free TCP port on 127.0.0.1 (asked of the OS, then released). */
export const freePort = (): number => {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
};

export class TestRedis {
  readonly port = freePort();
  readonly url = `redis://127.0.0.1:${this.port}`;
  private readonly dir = mkdtempSync(join(tmpdir(), "teahouse-redis-"));
  private proc: Subprocess | undefined;

  /** Starts (or restarts) redis-server and waits until it answers PING. */
  async start(): Promise<void> {
    if (!Bun.which(REDIS_SERVER))
      throw new Error("redis-server is not installed: apt-get install -y --no-install-recommends redis-server");
    this.proc = Bun.spawn(
      [
        REDIS_SERVER,
        "--port",
        String(this.port),
        "--bind",
        "127.0.0.1",
        "--dir",
        this.dir,
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
      ],
      { stdout: "ignore", stderr: "ignore" },
    );
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        const socket = await Bun.connect({ hostname: "127.0.0.1", port: this.port, socket: { data() {} } });
        socket.end();
        return;
      } catch {
        if (Date.now() > deadline) throw new Error("redis-server did not start");
        await Bun.sleep(50);
      }
    }
  }

  /** Stops redis-server (data stays in its dir for a restart). */
  async stop(): Promise<void> {
    this.proc?.kill("SIGTERM");
    await this.proc?.exited;
    this.proc = undefined;
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
