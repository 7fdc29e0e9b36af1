/**
 * `teahouse admin …`: the server's administration from the command line, on the store the server
 * uses (DATA_DIR or DATABASE_URL, read as for the server), while it runs. The commands only write
 * to the store, through ModerationService acting as the server itself (`actorId` null in the audit
 * log); a running server applies what they did by itself: a ban closes the account's sockets within
 * about 2 s (it polls for bans), roles and password resets are read on each request.
 *
 * An account is named by its name (compared as sign-in compares names: look-alikes are one name),
 * or by `--id N` from `teahouse admin users` (a guest whose name was released has none).
 */
import { resetPath } from "../admin/protocol";
import { isIP } from "node:net";
import type { Account } from "../domain/model";
import type { AccountListing } from "../domain/moderation";
import { checkName } from "../domain/names";
import { createLogger } from "../log";
import type { Store } from "../ports/store";
import { CloseCode } from "../protocol";
import type { Failure } from "../services/accounts";
import { ModerationService } from "../services/moderation";
import {
  CommandError,
  EXIT_USAGE,
  openStore,
  parseCommand,
  single,
  usage,
  type Operation,
  type ParsedCommand,
} from "./command";
import { readNewPassword } from "./prompt";

interface CommandBase {
  /** The usage line after `teahouse admin ` (--help, in config.ts, lists the same). */
  usage: string;
  /** The command's own options. */
  options: string[];
  /** Positionals besides the account's name. */
  args: number;
  /** The store is made if there is none yet (create-owner may come before the first start). */
  create?: boolean;
  /** Checks the arguments before the store is opened (bad usage exits 2 without touching it). */
  check?(context: Parsed): void;
}

/** A command about one account, named by NAME (the first positional) or `--id N`. */
interface AccountCommand extends CommandBase {
  account: true;
  run(context: Context & { account: Account }): Promise<void>;
}

interface ServerCommand extends CommandBase {
  account?: false;
  run(context: Context): Promise<void>;
}

type AdminCommand = AccountCommand | ServerCommand;

interface Parsed {
  parsed: ParsedCommand;
  /** The positionals besides the account's name. */
  args: string[];
  line: string;
}

interface Context extends Parsed {
  store: Store;
  moderation: ModerationService;
  print(line: string): void;
}

/** Accounts read per page when listing. */
const LIST_PAGE = 500;

const ROLES = ["admin", "member"] as const;
type Role = (typeof ROLES)[number];

/** An account as the commands' lines name it: `alice (#12)`. */
const named = (account: Pick<Account, "id" | "name">): string => `${account.name} (#${account.id})`;

const failed = (failure: Failure): CommandError => new CommandError(failure.message);

/** The account named by NAME or `--id N` (checked as usage before). */
const findAccount = async (store: Store, name: string | undefined, id: string | undefined): Promise<Account> => {
  if (id !== undefined) {
    const account = await store.account(Number(id));
    if (!account) throw new CommandError(`no account #${id} (see teahouse admin users)`);
    return account;
  }
  const check = checkName(name);
  const account = check.ok ? await store.accountByKey(check.key) : undefined;
  if (!account) throw new CommandError(`no account named "${name}" (see teahouse admin users, or use --id)`);
  return account;
};

/** A moment as a person reads it, to the minute, in UTC. */
const when = (ms: number): string => (ms > 0 ? new Date(ms).toISOString().slice(0, 16).replace("T", " ") : "-");

/** Columns a text takes in a terminal: East Asian wide characters and emoji take two. */
const WIDE =
  /[\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua000-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6\u{1f300}-\u{1faff}\u{20000}-\u{3fffd}]/u;
const width = (text: string): number => [...text].reduce((sum, char) => sum + (WIDE.test(char) ? 2 : 1), 0);
const pad = (text: string, columns: number): string => text + " ".repeat(Math.max(0, columns - width(text)));

/** Rows as aligned columns under a header. */
const table = (header: readonly string[], rows: readonly (readonly string[])[]): string[] => {
  const widths = header.map((title, i) => Math.max(width(title), ...rows.map((row) => width(row[i] ?? ""))));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : pad(cell, widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)];
};

/** Where people open the chat page: --url, else the first ALLOWED_ORIGINS entry, else localhost. */
const pageBase = (parsed: ParsedCommand, line: string): string => {
  const given = single(parsed, "--url", line);
  const { config } = parsed;
  if (given === undefined) return config.allowedOrigins[0] ?? `http://localhost:${config.port}`;
  let url: URL | undefined;
  try {
    url = new URL(given);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== "https:" && url.protocol !== "http:"))
    throw usage(`--url "${given}" is not a URL like https://chat.example.com`, line);
  return `${url.origin}${url.pathname}`.replace(/\/+$/, "");
};

export const ADMIN_COMMANDS: Record<string, AdminCommand> = {
  "create-owner": {
    usage: "create-owner NAME",
    options: [],
    args: 1,
    create: true,
    check({ args: [name] }) {
      const check = checkName(name);
      if (!check.ok) throw new CommandError(check.message, EXIT_USAGE);
    },
    async run({ args: [name], store, moderation, print }) {
      const password = await readNewPassword(name!);
      const previous = await store.ownerId();
      const made = await moderation.createOwner(name!, password);
      if (!made.ok) throw failed(made);
      const account = (await store.account(made.accountId))!;
      print(`${named(account)} owns the server${made.created ? " (a new account)" : "; its password is the new one"}`);
      if (previous !== undefined && previous !== made.accountId)
        print(`the previous owner (#${previous}) is an admin now`);
    },
  },
  users: {
    usage: "users [--query PREFIX]",
    options: ["--query"],
    args: 0,
    async run({ parsed, store, line, print }) {
      const q = (single(parsed, "--query", line) ?? "").trim();
      const check = checkName(q);
      // The listing compares name keys, as sign-in does (look-alikes of the prefix match too).
      const key = q === "" ? "" : check.ok ? check.key : q.toLowerCase();
      const accounts: AccountListing[] = [];
      for (let after = 0; ;) {
        const page = await store.listAccounts(key, after, LIST_PAGE);
        accounts.push(...page);
        if (page.length < LIST_PAGE) break;
        after = page.at(-1)!.id;
      }
      if (accounts.length === 0) {
        print(q === "" ? "no accounts yet" : `no account's name starts with "${q}"`);
        return;
      }
      const rows = accounts.map((a) => [
        String(a.id),
        a.name,
        a.kind,
        a.role,
        a.banned ? "banned" : "-",
        when(a.lastActive),
      ]);
      for (const text of table(["id", "name", "kind", "role", "banned", "last active (UTC)"], rows)) print(text);
    },
  },
  ban: {
    usage: "ban NAME|--id N [--reason TEXT] [--address IP …]",
    options: ["--id", "--reason", "--address"],
    account: true,
    args: 0,
    check({ parsed, line }) {
      single(parsed, "--reason", line);
      for (const address of parsed.options.get("--address") ?? [])
        if (isIP(address) === 0) throw usage(`--address "${address}" is not an IP address`, line);
    },
    async run({ parsed, account, moderation, print }) {
      const addresses = parsed.options.get("--address") ?? [];
      const reason = parsed.options.get("--reason")?.[0] ?? "";
      const banned = await moderation.ban(null, account.id, { reason, addresses });
      if (!banned.ok) throw failed(banned);
      const sessions = banned.sessions === 1 ? "1 session" : `${banned.sessions} sessions`;
      const refused = addresses.length > 0 ? `, ${addresses.length} address(es) refused` : "";
      print(
        `banned ${named(account)}: ${sessions} ended${refused}; a running server closes its sockets within seconds`,
      );
    },
  },
  unban: {
    usage: "unban NAME|--id N",
    options: ["--id"],
    account: true,
    args: 0,
    async run({ account, moderation, print }) {
      const lifted = await moderation.unban(null, account.id);
      if (!lifted.ok) throw failed(lifted);
      print(`unbanned ${named(account)}`);
    },
  },
  "reset-password": {
    usage: "reset-password NAME|--id N [--url https://chat.example.com]",
    options: ["--id", "--url"],
    account: true,
    args: 0,
    check({ parsed, line }) {
      pageBase(parsed, line);
    },
    async run({ parsed, line, account, moderation, print }) {
      const base = pageBase(parsed, line);
      const reset = await moderation.resetPassword(null, account.id);
      if (!reset.ok) throw failed(reset);
      print(`a one-time link for ${named(account)}, good until ${when(reset.expiresAt)} UTC:`);
      print(`${base}${resetPath(reset.token)}`);
    },
  },
  "set-role": {
    usage: "set-role NAME|--id N admin|member",
    options: ["--id"],
    account: true,
    args: 1,
    check({ args: [role], line }) {
      if (!ROLES.includes(role as Role)) throw usage(`the role is admin or member, not "${role}"`, line);
    },
    async run({ args: [role], account, moderation, print }) {
      const set = await moderation.setRole(null, account.id, role as Role);
      if (!set.ok) throw failed(set);
      print(`${named(account)} is ${set.role === "admin" ? "an admin" : "a member"} now`);
    },
  },
};

/**
 * Runs `teahouse admin <command> …` (argv after `admin`); throws CommandError with the exit code
 * when it cannot (2: bad usage or configuration, 1: it failed).
 */
export const runAdmin: Operation = async (argv, env, print = console.log) => {
  const [name, ...rest] = argv;
  const command = name !== undefined && Object.hasOwn(ADMIN_COMMANDS, name) ? ADMIN_COMMANDS[name] : undefined;
  if (!command)
    throw new CommandError(
      `${name === undefined ? "which command?" : `unknown command "admin ${name}"`} (one of ${Object.keys(ADMIN_COMMANDS).join(", ")}; see --help)`,
      EXIT_USAGE,
    );
  const line = `teahouse admin ${command.usage}`;
  const parsed = parseCommand(rest, command.options, env, line);
  const id = command.account ? single(parsed, "--id", line) : undefined;
  if (id !== undefined && !/^\d{1,15}$/.test(id)) throw usage(`--id takes an account id (a number), not "${id}"`, line);
  const byName = command.account === true && id === undefined;
  const wanted = command.args + (byName ? 1 : 0);
  const given = parsed.positionals;
  if (given.length < wanted)
    throw usage(given.length === 0 && command.account ? "name the account (or give --id)" : "too few arguments", line);
  if (given.length > wanted) throw usage(`unexpected "${given[wanted]}"`, line);
  const args = byName ? given.slice(1) : given;
  command.check?.({ parsed, args, line });

  const { store, close } = await openStore(parsed.config, { create: command.create ?? false });
  try {
    const moderation = new ModerationService({
      store,
      log: createLogger("silent"),
      // Nothing to close from here: a running server finds the ended sessions and the ban itself.
      closeSessions: () => {},
      bannedCode: CloseCode.Banned,
    });
    const context: Context = { parsed, args, line, store, moderation, print };
    if (command.account)
      await command.run({ ...context, account: await findAccount(store, byName ? given[0] : undefined, id) });
    else await command.run(context);
  } finally {
    await close();
  }
};
