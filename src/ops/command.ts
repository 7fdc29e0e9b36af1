/**
 * What the operator's commands (`teahouse admin …`, `backup`, `restore`) share: splitting their
 * own arguments from the server's options (`--data-dir`, `--database-url`, … read by loadConfig as
 * for the server, so a command acts on the store the server uses), one error type carrying the exit
 * code, and opening the store without an HTTP server. Exit codes: 2 bad usage or configuration,
 * 1 the command failed.
 */
import { existsSync } from "node:fs";
import { ConfigError, loadConfig, type Config } from "../config";
import { databasePath, openDatabase, StoreError } from "../store/db";
import { SqliteStore } from "../store/sqlite";
import { PostgresStore } from "../store/postgres";
import type { Store } from "../ports/store";

export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** The environment commands read their configuration from (Bun.env). */
export type Env = Record<string, string | undefined>;

/** An operator's command: its arguments (after its name), the environment, where its output goes. */
/** An operator's command: resolves with its exit code when it is not 0 (it finished, but not all went well). */
export type Operation = (argv: readonly string[], env: Env, print?: (line: string) => void) => Promise<void | number>;

/** A command that cannot go on: `teahouse: <message>` on stderr, and the process exits with `code`. */
export class CommandError extends Error {
  constructor(
    message: string,
    readonly code: number = EXIT_FAILED,
  ) {
    super(message);
  }
}

/** Bad usage: the message, then the command's usage (one line). */
export const usage = (message: string, line: string): CommandError =>
  new CommandError(`${message}; usage: ${line}`, EXIT_USAGE);

export interface ParsedCommand {
  /** Arguments that are not options, in order. */
  positionals: string[];
  /** The command's own options' values, in order (an option may repeat). */
  options: Map<string, string[]>;
  config: Config;
}

/**
 * Splits `argv` into positionals, the command's own `--options` (each takes a value: `--x v` or
 * `--x=v`) and the server's options, which go to loadConfig with `env`. A bad server option is a
 * usage error naming it.
 */
export const parseCommand = (
  argv: readonly string[],
  own: readonly string[],
  env: Env,
  line: string,
): ParsedCommand => {
  const positionals: string[] = [];
  const options = new Map<string, string[]>();
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith("--")) {
      positionals.push(arg);
      continue;
    }
    const equals = arg.indexOf("=");
    const flag = equals >= 0 ? arg.slice(0, equals) : arg;
    if (!own.includes(flag)) {
      // A server option: it and its value go to loadConfig, which names what is wrong with them.
      rest.push(arg);
      if (equals < 0 && i + 1 < argv.length) rest.push(argv[++i]!);
      continue;
    }
    const value = equals >= 0 ? arg.slice(equals + 1) : argv[++i];
    if (value === undefined) throw usage(`${flag} needs a value`, line);
    options.set(flag, [...(options.get(flag) ?? []), value]);
  }
  try {
    return { positionals, options, config: loadConfig(env, rest) };
  } catch (error) {
    if (error instanceof ConfigError) throw new CommandError(error.message, EXIT_USAGE);
    throw error;
  }
};

/** The single value of an option given at most once. */
export const single = (parsed: ParsedCommand, flag: string, line: string): string | undefined => {
  const values = parsed.options.get(flag) ?? [];
  if (values.length > 1) throw usage(`${flag} given more than once`, line);
  return values[0];
};

export interface OpenStore {
  store: Store;
  close(): Promise<void>;
}

/**
 * Opens the store the server configured like this uses (PostgreSQL at DATABASE_URL, else the SQLite
 * file in DATA_DIR), migrated, as createApp does but without anything that serves. A server may be
 * running on it meanwhile: SQLite is in WAL mode with a busy timeout, PostgreSQL is shared anyway.
 * Unless `create`, a missing SQLite database is an error (a wrong DATA_DIR must not quietly make an
 * empty one).
 */
export const openStore = async (config: Config, { create = false } = {}): Promise<OpenStore> => {
  const retention = { maxPerConversation: config.historyMaxPerRoom, maxAgeMs: config.historyMaxAgeMs };
  try {
    if (config.databaseUrl) {
      const pg = new PostgresStore(config.databaseUrl, { retention });
      await pg.start();
      return { store: pg, close: () => pg.close() };
    }
    if (config.dataDir === ":memory:")
      throw new CommandError("DATA_DIR is :memory:: there is no stored server to act on", EXIT_USAGE);
    const path = databasePath(config.dataDir);
    if (!create && !existsSync(path))
      throw new CommandError(
        `no database at ${path}: give the server's DATA_DIR (or --data-dir), or DATABASE_URL`,
        EXIT_FAILED,
      );
    const db = openDatabase(config.dataDir);
    const store = new SqliteStore(db, { retention, walMaxBytes: config.walMaxBytes });
    // Not store.close(): its TRUNCATE checkpoint would make a running server's writes wait for it.
    return { store, close: async () => db.close() };
  } catch (error) {
    if (error instanceof StoreError) throw new CommandError(error.message, EXIT_FAILED);
    throw error;
  }
};
