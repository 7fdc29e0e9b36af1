/**
 * `teahouse backup FILE` and `teahouse restore FILE`, for the SQLite store in DATA_DIR.
 *
 * The backup is taken while the server runs and writes: `VACUUM INTO` on a read-only connection to
 * the live file copies one snapshot of the database (one read transaction: every message
 * acknowledged before it started is in it; WAL readers do not block the server's writers). FILE is
 * a plain SQLite database (mode 0600), openable with sqlite3; the uploaded files it refers to (the
 * snapshot's `blobs`, content-addressed and never changed) are copied into the folder `FILE.files/`
 * (`ab/<hash>`, as under DATA_DIR/files). The generated cookie secret (DATA_DIR/secret) is kept in
 * FILE's table `teahouse_backup`, so after a restore sessions go on and nobody is signed out: the
 * backup is as secret as DATA_DIR itself (password hashes, sessions, the VAPID key, every message).
 *
 * A restore goes only into an empty or absent DATA_DIR (never over data). The restored database
 * gets a new log epoch: messages written after the backup are gone and their ids will be given
 * again, so clients that saw them must reload their history rather than resume from an id the
 * restored log never had.
 *
 * With DATABASE_URL both refuse: PostgreSQL has its own tools (pg_dump / pg_restore), and so have
 * S3 buckets for files kept there.
 */
import { Database } from "bun:sqlite";
import {
  chmodSync,
  closeSync,
  constants,
  copyFileSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, resolve } from "node:path";
import { SECRET_FILE } from "../auth/secret";
import type { Config } from "../config";
import { isBlobKey } from "../ports/blobs";
import { BUSY_TIMEOUT_MS, databasePath, openDatabase, StoreError } from "../store/db";
import { CommandError, EXIT_USAGE, parseCommand, usage, type Env, type Operation } from "./command";

/** The table of FILE that carries what is not in the database (the secret), dropped by a restore. */
const BACKUP_TABLE = "teahouse_backup";
/** Beside FILE: the uploaded files. */
export const filesFolder = (file: string): string => `${file}.files`;
/** A mounted volume's root holds this from the start; it does not make DATA_DIR "not empty". */
const LOST_AND_FOUND = "lost+found";

const BACKUP_LINE = "teahouse backup FILE";
const RESTORE_LINE = "teahouse restore FILE";

const PG_TOOLS =
  'DATABASE_URL is set: back PostgreSQL up with its own tools (pg_dump -Fc "$DATABASE_URL" -f teahouse.dump, and pg_restore -d … teahouse.dump into an empty database)';

/** The one FILE argument, and the configuration; refuses what only SQLite in DATA_DIR can do. */
const fileAndConfig = (argv: readonly string[], env: Env, line: string) => {
  const { positionals, config } = parseCommand(argv, [], env, line);
  if (positionals.length !== 1)
    throw usage(positionals.length === 0 ? "name the backup file" : `unexpected "${positionals[1]}"`, line);
  if (config.databaseUrl)
    throw new CommandError(
      `${PG_TOOLS}${config.s3Bucket ? "; and the bucket S3_BUCKET with the bucket's own tools" : ""}`,
      EXIT_USAGE,
    );
  if (config.dataDir === ":memory:") throw new CommandError("DATA_DIR is :memory:: nothing is stored", EXIT_USAGE);
  return { file: positionals[0]!, config };
};

const blobPath = (root: string, hash: string): string => join(root, hash.slice(0, 2), hash);

/** Writes a file to disk now (a backup that a power cut loses is none). */
const flush = (path: string): void => {
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
};

const count = (db: Database, table: string): number =>
  db.query<{ n: number }, []>(`SELECT count(*) AS n FROM ${table}`).get()!.n;

const hashes = (db: Database): string[] =>
  db
    .query<{ hash: string }, []>("SELECT hash FROM blobs ORDER BY hash")
    .all()
    .map((row) => row.hash)
    .filter(isBlobKey);

const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

const plural = (n: number, one: string): string => `${n} ${one}${n === 1 ? "" : "s"}`;

/** The generated secret, when the server uses one (SECRET configured: it is the operator's to keep). */
const generatedSecret = (config: Config): string | undefined => {
  if (config.secrets.length > 0) return undefined;
  const path = join(config.dataDir, SECRET_FILE);
  return existsSync(path) ? readFileSync(path, "utf8").trim() : undefined;
};

export const backup: Operation = async (argv, env, print = console.log) => {
  const { file, config } = fileAndConfig(argv, env, BACKUP_LINE);
  const source = databasePath(config.dataDir);
  if (!existsSync(source))
    throw new CommandError(`no database at ${source}: give the server's DATA_DIR (or --data-dir)`);
  const folder = filesFolder(file);
  for (const path of [file, folder])
    if (existsSync(path)) throw new CommandError(`${path} exists: give a new name (a backup never overwrites)`);
  try {
    // Made first, empty and private: VACUUM INTO fills an empty file and keeps its mode.
    closeSync(openSync(file, "wx", 0o600));
  } catch (error) {
    throw new CommandError(`cannot create ${file}: ${(error as Error).message}`);
  }
  try {
    const live = new Database(source, { readonly: true, strict: true });
    try {
      live.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
      live.query("VACUUM INTO ?").run(resolve(file));
    } finally {
      live.close();
    }

    const copy = new Database(file, { strict: true });
    let blobs: string[];
    let summary: string;
    const secret = generatedSecret(config);
    try {
      copy.exec(`CREATE TABLE ${BACKUP_TABLE} (key TEXT PRIMARY KEY, value TEXT NOT NULL)`);
      const keep = copy.query<unknown, [string, string]>(`INSERT INTO ${BACKUP_TABLE} (key, value) VALUES (?, ?)`);
      keep.run("made_at", new Date().toISOString());
      if (secret) keep.run("secret", secret);
      blobs = hashes(copy);
      summary = `${plural(count(copy, "messages"), "message")}, ${plural(count(copy, "accounts"), "account")}`;
    } finally {
      copy.close();
    }
    flush(file);

    let copied = 0;
    let bytes = 0;
    let missing = 0;
    if (config.s3Bucket) {
      if (blobs.length > 0)
        print(`files are kept in the bucket ${config.s3Bucket}: back it up with the bucket's own tools`);
    } else {
      const root = join(config.dataDir, "files");
      for (const hash of blobs) {
        const from = blobPath(root, hash);
        if (!existsSync(from)) {
          // Deleted since the snapshot (its message was), or lost before it.
          missing++;
          continue;
        }
        const to = blobPath(folder, hash);
        mkdirSync(dirname(to), { recursive: true, mode: 0o700 });
        copyFileSync(from, to, constants.COPYFILE_EXCL);
        chmodSync(to, 0o600);
        flush(to);
        copied++;
        bytes += statSync(to).size;
      }
    }
    print(
      `backed up ${source} to ${file}: ${summary}` +
        (copied > 0 ? `; ${plural(copied, "file")} (${mib(bytes)}) in ${folder}` : ""),
    );
    if (missing > 0) print(`warning: ${plural(missing, "file")} of the database were not in DATA_DIR/files`);
    print(
      secret
        ? "it holds the cookie secret (sessions go on after a restore): keep it as private as DATA_DIR"
        : "it holds every account and message: keep it as private as DATA_DIR (SECRET is yours to keep)",
    );
  } catch (error) {
    rmSync(file, { force: true });
    rmSync(folder, { recursive: true, force: true });
    if (error instanceof CommandError) throw error;
    throw new CommandError(`the backup failed: ${(error as Error).message}`);
  }
};

/** What is in DATA_DIR that a restore would overwrite (nothing: it may go there). */
const occupants = (dataDir: string): string[] => {
  if (!existsSync(dataDir)) return [];
  return readdirSync(dataDir).filter((entry) => entry !== LOST_AND_FOUND);
};

/** Copies `from` to `to` if its bytes still have their SHA-256 (`hash`); false: damaged, not copied. */
const copyVerified = async (from: string, to: string, hash: string): Promise<boolean> => {
  const hasher = new Bun.CryptoHasher("sha256");
  // Made private before a byte is in it.
  writeFileSync(to, "", { mode: 0o600 });
  const sink = Bun.file(to).writer();
  for await (const chunk of Bun.file(from).stream()) {
    hasher.update(chunk);
    sink.write(chunk);
  }
  await sink.end();
  if (hasher.digest("hex") !== hash) {
    rmSync(to, { force: true });
    return false;
  }
  chmodSync(to, 0o600);
  return true;
};

/** Checks that FILE is a teahouse database before anything is written. */
const checkBackup = (file: string): void => {
  if (!existsSync(file)) throw new CommandError(`${file} does not exist`);
  let db: Database | undefined;
  try {
    db = new Database(file, { readonly: true, strict: true });
    const { user_version: version } = db.query<{ user_version: number }, []>("PRAGMA user_version").get()!;
    const meta = db.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get();
    if (version < 1 || !meta) throw new CommandError(`${file} is not a teahouse database`);
    const check = db.query<{ quick_check: string }, []>("PRAGMA quick_check").get()?.quick_check;
    if (check !== "ok") throw new CommandError(`${file} is damaged (${check}): use another backup`);
  } catch (error) {
    if (error instanceof CommandError) throw error;
    throw new CommandError(`${file} is not a SQLite database: ${(error as Error).message}`);
  } finally {
    db?.close();
  }
};

export const restore: Operation = async (argv, env, print = console.log) => {
  const { file, config } = fileAndConfig(argv, env, RESTORE_LINE);
  const { dataDir } = config;
  const there = occupants(dataDir);
  if (there.length > 0)
    throw new CommandError(
      `DATA_DIR ${dataDir} is not empty (${there.slice(0, 3).join(", ")}${there.length > 3 ? ", …" : ""}): restore into an empty or new folder (a restore never replaces data)`,
    );
  checkBackup(file);
  const made = !existsSync(dataDir);
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const target = databasePath(dataDir);
    copyFileSync(file, target, constants.COPYFILE_EXCL);
    chmodSync(target, 0o600);
    // Migrated as the server would (an older backup), refused if newer than this teahouse; WAL mode.
    const db = openDatabase(dataDir);
    let secret: string | undefined;
    let blobs: string[];
    let summary: string;
    try {
      const carried = db.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(BACKUP_TABLE);
      if (carried) {
        secret = db
          .query<{ value: string }, [string]>(`SELECT value FROM ${BACKUP_TABLE} WHERE key = ?`)
          .get("secret")?.value;
        db.exec(`DROP TABLE ${BACKUP_TABLE}`);
      }
      // A new log: ids given after the backup will be given again, so clients reload rather than resume.
      const epoch = crypto.randomUUID().replaceAll("-", "").slice(0, 12);
      db.query("UPDATE settings SET value = ? WHERE key = 'epoch'").run(epoch);
      blobs = hashes(db);
      summary = `${plural(count(db, "messages"), "message")}, ${plural(count(db, "accounts"), "account")}`;
    } finally {
      db.close();
    }

    let restored = 0;
    let lost = 0;
    if (config.s3Bucket) {
      if (blobs.length > 0) print(`files are kept in the bucket ${config.s3Bucket}: restore it with its own tools`);
    } else {
      const from = filesFolder(file);
      const root = join(dataDir, "files");
      for (const hash of blobs) {
        const source = blobPath(from, hash);
        const to = blobPath(root, hash);
        mkdirSync(dirname(to), { recursive: true, mode: 0o700 });
        if (existsSync(source) && (await copyVerified(source, to, hash))) restored++;
        else lost++;
      }
    }
    if (secret) writeFileSync(join(dataDir, SECRET_FILE), `${secret}\n`, { mode: 0o600, flag: "wx" });

    print(`restored ${file} into ${dataDir}: ${summary}${restored > 0 ? `, ${plural(restored, "file")}` : ""}`);
    print(
      secret
        ? "the cookie secret came back too: sessions go on; start the server on this DATA_DIR"
        : "no secret in the backup: start the server with the same SECRET, or everyone signs in again",
    );
    // Restored, but not whole: said last, and the exit code says it too (a script must not take it for a success).
    if (lost > 0) {
      print(`incomplete: ${plural(lost, "file")} missing or damaged in ${filesFolder(file)}: their messages show none`);
      return 1;
    }
  } catch (error) {
    // Nothing of ours is left half-made: DATA_DIR is as empty as it was.
    for (const entry of occupants(dataDir)) rmSync(join(dataDir, entry), { recursive: true, force: true });
    if (made) rmSync(dataDir, { recursive: true, force: true });
    if (error instanceof CommandError) throw error;
    if (error instanceof StoreError) throw new CommandError(error.message);
    throw new CommandError(`the restore failed: ${(error as Error).message}`);
  }
};
