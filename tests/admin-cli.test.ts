/**
 * `teahouse admin …` as an operator runs it: a separate process on the store of a server that is
 * running (DATA_DIR's SQLite file, or PostgreSQL at DATABASE_URL), whose changes the server applies
 * by itself: the owner made here signs in over HTTP, a ban closes the account's open socket with
 * 4403 within 5 s and refuses its sign-in, a reset link's token sets a new password.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { defaultConfig } from "../src/config";
import { openStore } from "../src/ops/command";
import { ADMIN_COMMANDS } from "../src/ops/admin";
import { helpText } from "../src/config";
import { createLogger } from "../src/log";
import type { AuditAction } from "../src/domain/moderation";
import { CloseCode } from "../src/protocol";
import { ModerationService } from "../src/services/moderation";
import { Client, signIn } from "./helpers";
import { cli, trackLeftovers } from "./cli";
import { storeFlavours } from "./postgres";
import { spawnServer } from "./process";

const { servers, clients, tempDir } = trackLeftovers("teahouse-admin-");

const flavours = storeFlavours();

/** A running server on a fresh store, the environment that points commands at it, and that store. */
const setUp = async (flavour: () => Promise<{ databaseUrl?: string }>) => {
  const dataDir = tempDir();
  const { databaseUrl } = await flavour();
  const env: Record<string, string> = { DATA_DIR: dataDir, ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}) };
  const server = await spawnServer([], { env });
  servers.push(server);
  const admin = (args: string[], stdin?: string) =>
    cli(["admin", ...args], { env, ...(stdin === undefined ? {} : { stdin }) });
  const { store, close } = await openStore({ ...defaultConfig(), dataDir, databaseUrl: databaseUrl ?? "" });
  return { server, env, admin, store, close };
};

const signInStatus = async (base: string, body: object, cookie?: string) => {
  const response = await fetch(`${base}/wsin`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(cookie ? { cookie } : {}) },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as { error?: string } };
};

describe.each(flavours)("admin commands on the %s", (_, flavour) => {
  test("create-owner (password from stdin), users, set-role, reset-password: the running server sees them", async () => {
    const { server, admin, store, close } = await setUp(flavour);
    try {
      const made = await admin(["create-owner", "alice"], "the owner's password\n");
      expect(made.stderr).toBe("");
      expect(made.code).toBe(0);
      expect(made.stdout).toMatch(/^alice \(#\d+\) owns the server \(a new account\)$/m);
      const alice = await signIn(server.base, "alice", { password: "the owner's password" });
      expect(alice.user.type).toBe("member");
      expect((await store.rolesOf([alice.user.id])).get(alice.user.id)).toBe("owner");

      const bob = await signIn(server.base, "bob");
      const carol = await signIn(server.base, "carol", { path: "/signup", password: "carol's password" });
      const users = await admin(["users"]);
      expect(users.code).toBe(0);
      const lines = users.stdout.trimEnd().split("\n");
      expect(lines[0]).toMatch(/^id\s+name\s+kind\s+role\s+banned\s+last active \(UTC\)$/);
      expect(lines.slice(1)).toHaveLength(3);
      expect(users.stdout).toMatch(new RegExp(`^${alice.user.id}\\s+alice\\s+member\\s+owner\\s+-\\s+\\d{4}-`, "m"));
      expect(users.stdout).toMatch(new RegExp(`^${bob.user.id}\\s+bob\\s+guest\\s+guest\\s+-`, "m"));
      expect(users.stdout).toMatch(new RegExp(`^${carol.user.id}\\s+carol\\s+member\\s+member\\s+-`, "m"));
      const some = await admin(["users", "--query", "CA"]);
      expect(some.stdout.trimEnd().split("\n").slice(1)).toEqual([expect.stringMatching(/^\d+\s+carol\s/)]);

      expect((await admin(["set-role", "carol", "admin"])).stdout).toContain(
        `carol (#${carol.user.id}) is an admin now`,
      );
      expect((await store.rolesOf([carol.user.id])).get(carol.user.id)).toBe("admin");
      expect((await admin(["set-role", "--id", String(carol.user.id), "member"])).code).toBe(0);
      expect((await store.rolesOf([carol.user.id])).has(carol.user.id)).toBe(false);
      // A guest takes no role; the owner is not demoted from here (create-owner moves ownership).
      const guest = await admin(["set-role", "bob", "admin"]);
      expect(guest.code).toBe(1);
      expect(guest.stderr).toBe("teahouse: Only registered accounts take a role\n");
      expect((await admin(["set-role", "alice", "member"])).code).toBe(1);

      // The link is at --url, else the first allowed origin, else localhost; a new one replaces the last.
      const first = await admin(["reset-password", "carol"]);
      const stale = /^http:\/\/localhost:3000\/ws#reset=([\w-]+)$/m.exec(first.stdout)?.[1];
      expect(stale).toBeDefined();
      const reset = await admin(["reset-password", "carol", "--url", "https://chat.example.com/"]);
      expect(reset.code).toBe(0);
      const token = /^https:\/\/chat\.example\.com\/ws#reset=([\w-]+)$/m.exec(reset.stdout)?.[1];
      expect(token).toBeDefined();
      const moderation = new ModerationService({
        store,
        log: createLogger("silent"),
        closeSessions: () => {},
        bannedCode: CloseCode.Banned,
      });
      expect((await moderation.completeReset(stale!, "carol's new password")).ok).toBe(false);
      expect(await moderation.completeReset(token!, "carol's new password")).toEqual({
        ok: true,
        accountId: carol.user.id,
      });
      expect((await signInStatus(server.base, { name: "carol", password: "carol's password" })).status).toBe(401);
      await signIn(server.base, "carol", { password: "carol's new password" });
      // Used once.
      expect((await moderation.completeReset(token!, "another password")).ok).toBe(false);

      // Every change is in the audit log as the command line's (no actor).
      const audit = await store.auditLog(Number.MAX_SAFE_INTEGER, 50);
      expect(audit.map((entry) => entry.action).sort()).toEqual([
        "complete_reset",
        "create_owner",
        "reset_password",
        "reset_password",
        "set_role",
        "set_role",
      ] satisfies AuditAction[]);
      expect(audit.every((entry) => entry.actorId === null)).toBe(true);
    } finally {
      await close();
    }
  }, 60_000);

  test("ban NAME while the server runs: the open socket closes with 4403 within 5 s, sign-in is refused; unban lets it back", async () => {
    const { server, admin, store, close } = await setUp(flavour);
    try {
      const bob = await signIn(server.base, "bob");
      const socket = await Client.connect(server.wsUrl, bob.cookie);
      clients.push(socket);
      await socket.next("conversations");

      const startedAt = Date.now();
      const banned = await admin(["ban", "bob", "--reason", "spam", "--address", "192.0.2.7"]);
      expect(banned.stderr).toBe("");
      expect(banned.code).toBe(0);
      expect(banned.stdout).toContain(`banned bob (#${bob.user.id}): 1 session ended, 1 address(es) refused`);
      const closed = await socket.waitClose(5_000);
      expect(closed.code).toBe(CloseCode.Banned);
      expect(Date.now() - startedAt).toBeLessThan(5_000);

      // Refused from that browser, and by that name from any other.
      const again = await signInStatus(server.base, { name: "bob" }, bob.device);
      expect(again).toEqual({ status: 403, body: expect.objectContaining({ error: "banned" }) });
      expect((await signInStatus(server.base, { name: "bob" })).status).toBe(403);
      expect((await fetch(`${server.base}/wsme`, { headers: { cookie: bob.cookie } })).status).toBe(401);
      expect((await admin(["users", "--query", "bob"])).stdout).toMatch(/\sbob\s+guest\s+guest\s+banned\s/);
      expect(await store.isBanned({ address: "192.0.2.7" })).toBe(true);

      const unbanned = await admin(["unban", "bob"]);
      expect(unbanned.stdout).toBe(`unbanned bob (#${bob.user.id})\n`);
      const back = await signIn(server.base, "bob", { device: bob.device });
      expect(back.user.id).toBe(bob.user.id);
      clients.push(await Client.connect(server.wsUrl, back.cookie));
      // Not banned: nothing to lift.
      expect((await admin(["unban", "bob"])).code).toBe(1);
    } finally {
      await close();
    }
  }, 60_000);
});

describe("admin command line", () => {
  test("bad usage exits 2 with one line, before touching any store", async () => {
    const dir = join(tempDir(), "absent");
    const env = { DATA_DIR: dir };
    const cases: Array<[string[], RegExp]> = [
      [["admin"], /which command\?/],
      [["admin", "frobnicate"], /unknown command "admin frobnicate"/],
      [["admin", "ban"], /name the account \(or give --id\); usage: teahouse admin ban NAME/],
      [["admin", "ban", "bob", "carol"], /unexpected "carol"/],
      [["admin", "ban", "bob", "--address", "not-an-ip"], /--address "not-an-ip" is not an IP address/],
      [["admin", "unban", "--id", "x"], /--id takes an account id/],
      [["admin", "set-role", "bob", "owner"], /the role is admin or member, not "owner"/],
      [["admin", "users", "--query"], /--query needs a value/],
      [["admin", "users", "--bogus", "1"], /unknown option --bogus/],
      [["admin", "create-owner"], /too few arguments; usage: teahouse admin create-owner NAME/],
      [["admin", "create-owner", "a\u200bb"], /invisible/],
      [["admin", "reset-password", "bob", "--url", "ftp://x"], /--url "ftp:\/\/x" is not a URL/],
      [["admin", "users", "--port", "nope"], /--port must be a whole number/],
    ];
    for (const [args, message] of cases) {
      const run = await cli(args, { env });
      expect({ args, code: run.code }).toEqual({ args, code: 2 });
      expect(run.stdout).toBe("");
      expect(run.stderr).toMatch(/^teahouse: [^\n]+\n$/);
      expect(run.stderr).toMatch(message);
    }
    // Nothing was made where DATA_DIR points.
    expect(await Bun.file(join(dir, "teahouse.sqlite")).exists()).toBe(false);
  }, 60_000);

  test("without a server; failures exit 1 with one line: no database at DATA_DIR, no such account, no password", async () => {
    const dir = tempDir();
    const missing = await cli(["admin", "users"], { env: { DATA_DIR: join(dir, "absent") } });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^teahouse: no database at .*absent\/teahouse\.sqlite: give the server's DATA_DIR/);
    expect(await Bun.file(join(dir, "absent")).exists()).toBe(false);
    // create-owner may come before the first start: it makes the store.
    const owner = await cli(["admin", "create-owner", "alice"], { env: { DATA_DIR: dir }, stdin: "long enough\n" });
    expect(owner.code).toBe(0);
    const origins = { DATA_DIR: dir, ALLOWED_ORIGINS: "https://a.example.com,https://b.example.com" };
    const link = await cli(["admin", "reset-password", "alice"], { env: origins });
    expect(link.stdout).toMatch(/^https:\/\/a\.example\.com\/ws#reset=[\w-]+$/m);
    const nobody = await cli(["admin", "ban", "zed"], { env: { DATA_DIR: dir } });
    expect(nobody).toEqual({ code: 1, stdout: "", stderr: expect.stringMatching(/^teahouse: no account named "zed"/) });
    const noPassword = await cli(["admin", "create-owner", "bob"], { env: { DATA_DIR: dir }, stdin: "" });
    expect(noPassword.code).toBe(1);
    expect(noPassword.stderr).toMatch(/^teahouse: no password/);
    const short = await cli(["admin", "create-owner", "bob"], { env: { DATA_DIR: dir }, stdin: "x\n" });
    expect(short.code).toBe(1);
    expect(short.stderr).toMatch(/^teahouse: A password has \d+ to \d+ characters\n$/);
    // A second create-owner moves ownership; the previous owner stays an admin.
    const moved = await cli(["admin", "create-owner", "bob"], { env: { DATA_DIR: dir }, stdin: "bob's password\n" });
    expect(moved.stdout).toContain("the previous owner (#1) is an admin now");
    const users = await cli(["admin", "users"], { env: { DATA_DIR: dir } });
    expect(users.stdout).toMatch(/^1\s+alice\s+member\s+admin\s/m);
    expect(users.stdout).toMatch(/^2\s+bob\s+member\s+owner\s/m);
  }, 60_000);

  test("--help lists every admin command as its usage line says", () => {
    const help = helpText();
    for (const command of Object.values(ADMIN_COMMANDS)) expect(help).toContain(`admin ${command.usage}`);
    expect(help).toContain("backup FILE");
    expect(help).toContain("restore FILE");
  });
});
