/**
 * A real redis-server (Debian's `redis-server` package; .ci/run installs it)
 * for tests: its own temp dir and a free loopback port. `persist` false runs
 * it with `--save ''` and no append-only file, so a restart forgets
 * everything (teahouse must not care).
 */
import type { Subprocess } from "bun";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./process";

const REDIS_SERVER = "redis-server";

export class TestRedis {
  readonly port = freePort();
  readonly url = `redis://127.0.0.1:${this.port}`;
  private readonly dir = mkdtempSync(join(tmpdir(), "teahouse-redis-"));
  private proc: Subprocess | undefined;

  static available(): boolean {
    return Bun.which(REDIS_SERVER) !== null;
  }

  /** Starts (or restarts) redis-server and waits until it accepts connections. */
  async start({ persist = true } = {}): Promise<void> {
    if (!TestRedis.available())
      throw new Error("redis-server is not installed: apt-get install -y --no-install-recommends redis-server");
    const persistence = persist ? ["--appendonly", "yes", "--appendfsync", "always"] : ["--appendonly", "no"];
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
        ...persistence,
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

  /** Stops redis-server (SIGTERM; with persistence its data stays for a restart). */
  async stop(): Promise<void> {
    this.proc?.kill("SIGTERM");
    await this.proc?.exited;
    this.proc = undefined;
  }

  /** The pid of the running server (for CPU accounting in benchmarks). */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
