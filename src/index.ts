/**
 * Entry point: read the configuration, start the app, stop cleanly on
 * SIGTERM/SIGINT. Everything else lives in createApp.
 *
 * Exit codes: 0 normal stop, 1 unexpected failure (or an unhealthy
 * `--healthcheck`), 2 bad configuration or unusable data directory. The
 * operator's commands (`admin …`, `backup`, `restore`, `migrate`) exit 0 when
 * done, 1 when they failed, 2 for bad usage.
 */
import { ConfigError, helpText, loadConfig } from "./config";
import { createApp } from "./app";
import { StoreError } from "./store/db";
import { migrateToPostgres } from "./ops/migrate";
import { runAdmin } from "./ops/admin";
import { backup, restore } from "./ops/backup";
import { CommandError, type Operation } from "./ops/command";
import pkg from "../package.json" with { type: "json" };

/** A stop that takes longer than this is cut short (containers send SIGKILL after 10 s). */
const SHUTDOWN_TIMEOUT_MS = 8_000;
/** How long `--healthcheck` waits for /healthz. */
const HEALTHCHECK_TIMEOUT_MS = 3_000;

const EXIT_CONFIG = 2;

/** Flags that act instead of starting the server. */
const HEALTHCHECK_FLAG = "--healthcheck";
/** `teahouse migrate --to postgres://…`: copy DATA_DIR into PostgreSQL (see ops/migrate.ts). */
const MIGRATE_COMMAND = "migrate";

/** The operator's commands (see ops/admin.ts, ops/backup.ts): each runs instead of the server. */
const COMMANDS = new Map<string, Operation>([
  ["admin", runAdmin],
  ["backup", backup],
  ["restore", restore],
]);

const operate = async (operation: Operation, argv: readonly string[]): Promise<never> => {
  let code: void | number;
  try {
    code = await operation(argv, Bun.env);
  } catch (error) {
    if (error instanceof CommandError) return fail(error.message, error.code);
    return fail(String((error as Error)?.message ?? error), 1);
  }
  process.exit(code ?? 0);
};

const migrate = async (argv: readonly string[]): Promise<never> => {
  const at = argv.indexOf("--to");
  const url = at >= 0 ? argv[at + 1] : undefined;
  if (!url || !/^postgres(ql)?:\/\//.test(url))
    return fail("usage: teahouse migrate --to postgres://user:password@host:5432/teahouse [--data-dir DIR]");
  const rest = argv.filter((_, i) => i !== at && i !== at + 1);
  let config;
  try {
    config = loadConfig(Bun.env, rest);
  } catch (error) {
    if (error instanceof ConfigError) return fail(error.message);
    throw error;
  }
  try {
    const { ok, lines } = await migrateToPostgres(config.dataDir, url);
    for (const line of lines) console.log(line);
    console.log(ok ? "copied and verified" : "the copy differs from the source: run it again");
    process.exit(ok ? 0 : 1);
  } catch (error) {
    return fail(String((error as Error)?.message ?? error), 1);
  }
};

const fail = (message: string, code = EXIT_CONFIG): never => {
  console.error(`teahouse: ${message}`);
  process.exit(code);
};

/**
 * `teahouse --healthcheck`: asks the server configured by the same
 * environment and flags for /healthz on loopback; exit 0 when it answers 200.
 * For a container HEALTHCHECK in an image without curl.
 */
const healthcheck = async (argv: readonly string[]): Promise<never> => {
  const config = loadConfig(Bun.env, argv);
  const host = config.host === "0.0.0.0" || config.host === "::" ? "127.0.0.1" : config.host;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${config.port}/healthz`;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(HEALTHCHECK_TIMEOUT_MS) });
    if (response.status === 200) process.exit(0);
    return fail(`${url} answered ${response.status}`, 1);
  } catch (error) {
    return fail(`${url}: ${(error as Error).message}`, 1);
  }
};

const main = async (argv: readonly string[]): Promise<void> => {
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(helpText());
    process.exit(0);
  }
  if (argv.includes("--version")) {
    console.log(pkg.version);
    process.exit(0);
  }
  if (argv[0] === MIGRATE_COMMAND) await migrate(argv.slice(1));
  const operation = COMMANDS.get(argv[0] ?? "");
  if (operation) await operate(operation, argv.slice(1));
  if (argv.includes(HEALTHCHECK_FLAG)) {
    try {
      await healthcheck(argv.filter((arg) => arg !== HEALTHCHECK_FLAG));
    } catch (error) {
      if (error instanceof ConfigError) fail(error.message);
      throw error;
    }
  }

  let teahouse: ReturnType<typeof createApp>;
  try {
    teahouse = createApp(loadConfig(Bun.env, argv), { onFatal: (message) => fail(message) });
  } catch (error) {
    if (error instanceof ConfigError || error instanceof StoreError) return fail(error.message);
    throw error;
  }

  try {
    await teahouse.started;
  } catch (error) {
    if (error instanceof StoreError) return fail(error.message);
    throw error;
  }
  const server = teahouse.listen();
  teahouse.log.info("listening", {
    url: `http://${server.hostname === "0.0.0.0" ? "localhost" : server.hostname}:${server.port}/`,
    version: pkg.version,
    assets: teahouse.assets,
  });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    const startedAt = performance.now();
    teahouse.log.info("stopping", { signal });
    const timedOut = Symbol("timeout");
    const timer = Bun.sleep(SHUTDOWN_TIMEOUT_MS).then(() => timedOut);
    const outcome = await Promise.race([teahouse.stop().then(() => "stopped" as const), timer]);
    if (outcome === timedOut) {
      teahouse.log.error("stop.timeout", { ms: SHUTDOWN_TIMEOUT_MS });
      process.exit(1);
    }
    teahouse.log.info("stopped", { ms: Math.round(performance.now() - startedAt) });
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
};

await main(process.argv.slice(2));
