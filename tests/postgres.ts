/**
 * A throwaway PostgreSQL for the tests: Debian's `postgresql` package
 * (`apt-get install -y --no-install-recommends postgresql`; .ci/run does),
 * a cluster made by `initdb` in a temporary folder owned by the unprivileged
 * `postgres` user (the server refuses to run as root), listening on
 * 127.0.0.1 on a free port with its socket in that folder. `database()` makes
 * a fresh empty database per test. Stopped and deleted by `dispose()`.
 */
import { afterAll, beforeAll } from "bun:test";
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SQL, type Subprocess } from "bun";
import { freePort } from "./process";

const BIN = ["/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin"].find((dir) =>
  existsSync(join(dir, "postgres")),
);

/** Runs a command as the `postgres` user when we are root (initdb and postgres refuse root). */
const asPostgres = (cmd: string[]): string[] =>
  process.getuid?.() === 0 ? ["runuser", "-u", "postgres", "--", ...cmd] : cmd;

export class TestPostgres {
  private dir = "";
  private proc: Subprocess | undefined;
  port = 0;
  private made = 0;

  /** `durable`: fsync on, as in production (benchmarks); tests run with fsync off. */
  constructor(private readonly options: { durable?: boolean } = {}) {}

  /** The postmaster's pid (its backends are its children), 0 when not running. */
  get pid(): number {
    const pidFile = join(this.dir, "data", "postmaster.pid");
    return existsSync(pidFile) ? Number(readFileSync(pidFile, "utf8").split("\n")[0]) : 0;
  }

  /** Whether Debian's postgresql package is installed. */
  static available(): boolean {
    return BIN !== undefined;
  }

  async start(): Promise<void> {
    if (!BIN)
      throw new Error(
        "PostgreSQL is not installed: apt-get install -y --no-install-recommends postgresql (.ci/run does)",
      );
    this.dir = mkdtempSync(join(tmpdir(), "teahouse-pg-"));
    chmodSync(this.dir, 0o700);
    if (process.getuid?.() === 0) {
      const { uid, gid } = postgresIds();
      chownSync(this.dir, uid, gid);
    }
    const data = join(this.dir, "data");
    const init = Bun.spawnSync(
      asPostgres([join(BIN, "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"]),
      {
        stdout: "pipe",
        stderr: "pipe",
      },
    );
    if (init.exitCode !== 0) throw new Error(`initdb failed: ${init.stderr.toString()}`);
    this.port = freePort();
    await this.run();
  }

  /** Starts the server again on the same data and port (after `stop`). */
  async restart(): Promise<void> {
    await this.run();
  }

  private async run(): Promise<void> {
    const data = join(this.dir, "data");
    this.proc = Bun.spawn(
      asPostgres([
        join(BIN!, "postgres"),
        "-D",
        data,
        "-p",
        String(this.port),
        "-k",
        this.dir,
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        `fsync=${this.options.durable ? "on" : "off"}`,
        "-c",
        "max_connections=200",
      ]),
      { stdout: "ignore", stderr: "pipe" },
    );
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        const sql = new SQL(this.url("postgres"));
        await sql`SELECT 1`;
        await sql.close();
        return;
      } catch (error) {
        if (Date.now() > deadline || this.proc!.exitCode !== null)
          throw new Error(`postgres did not start: ${String(error)}`);
        await Bun.sleep(50);
      }
    }
  }

  url(database: string): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  /** A new, empty database; its URL. */
  async database(): Promise<string> {
    const name = `t${process.pid}_${++this.made}`;
    const sql = new SQL(this.url("postgres"));
    await sql.unsafe(`CREATE DATABASE ${name}`);
    await sql.close();
    return this.url(name);
  }

  /** Stops the server (fast shutdown: open connections are cut, as in an outage). */
  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    this.proc = undefined;
    // runuser does not pass signals on: signal the postmaster itself (its pid heads postmaster.pid).
    const pidFile = join(this.dir, "data", "postmaster.pid");
    const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, "utf8").split("\n")[0]) : 0;
    if (pid > 0) {
      try {
        process.kill(pid, "SIGINT");
      } catch {
        // already gone
      }
    }
    const exited = await Promise.race([proc.exited.then(() => true), Bun.sleep(3_000).then(() => false)]);
    if (!exited) {
      // A fast shutdown can stall after a freeze: kill the backends and the postmaster outright.
      if (pid > 0) {
        Bun.spawnSync(["pkill", "-KILL", "-P", String(pid)]);
        process.kill(pid, "SIGKILL");
      }
      proc.kill("SIGKILL");
      await proc.exited;
    }
  }

  /** Freezes (SIGSTOP) or thaws (SIGCONT) the server: it keeps its connections but stops answering. */
  freeze(frozen: boolean): void {
    const pidFile = join(this.dir, "data", "postmaster.pid");
    const pid = Number(readFileSync(pidFile, "utf8").split("\n")[0]);
    // Every backend too: the postmaster alone frozen would not stop queries on open connections.
    const children = Bun.spawnSync(["pgrep", "-P", String(pid)])
      .stdout.toString()
      .trim()
      .split("\n")
      .filter(Boolean);
    for (const target of [pid, ...children.map(Number)]) process.kill(target, frozen ? "SIGSTOP" : "SIGCONT");
  }

  async dispose(): Promise<void> {
    await this.stop();
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}

const postgresIds = (): { uid: number; gid: number } => {
  const out = Bun.spawnSync(["id", "-u", "postgres"]).stdout.toString().trim();
  const gid = Bun.spawnSync(["id", "-g", "postgres"]).stdout.toString().trim();
  return { uid: Number(out), gid: Number(gid) };
};

/**
 * The two stores a suite runs on, for `describe.each`: the embedded SQLite store, and a database of
 * one real PostgreSQL started for the file (and stopped after it).
 */
export const storeFlavours = (): Array<[string, () => Promise<{ databaseUrl?: string }>]> => {
  const postgres = new TestPostgres();
  beforeAll(() => postgres.start());
  afterAll(() => postgres.dispose());
  return [
    ["SQLite store", async () => ({})],
    ["PostgreSQL store", async () => ({ databaseUrl: await postgres.database() })],
  ];
};
