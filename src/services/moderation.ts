/**
 * Administration and moderation use cases, for the admin routes, the room commands on the socket
 * and the command line: each finds the facts, asks the policy (domain/policy.ts), acts, and writes
 * the audit log. The command line acts as the server itself (`actorId` null in the log).
 */
import { createHash, randomBytes } from "node:crypto";
import type { Account } from "../domain/model";
import {
  REPORT_REASON_MAX_LENGTH,
  type AccountListing,
  type AuditAction,
  type AuditEntry,
  type Invite,
  type Report,
  type ServerSettings,
  type SignupMode,
} from "../domain/moderation";
import { checkName } from "../domain/names";
import { allowed, type Actor, type ServerRole } from "../domain/policy";
import type { Logger } from "../log";
import type { Store } from "../ports/store";
import { fail, passwordProblem, type Outcome } from "./accounts";
import { limitKey } from "../security/client-ip";

/** A password reset link is good this long. */
export const RESET_TTL_MS = 24 * 3600_000;
/** Accounts, audit lines or reports per page. */
export const ADMIN_PAGE_SIZE = 50;

const FORBIDDEN = fail(403, "forbidden", "You may not do that");
const NO_ACCOUNT = fail(404, "not_found", "No such account");

const tokenHash = (token: string): string => createHash("sha256").update(token).digest("base64url");
/** An unguessable token for a link (invite, password reset). */
export const newToken = (): string => randomBytes(18).toString("base64url");

export interface ModerationDeps {
  store: Store;
  log: Logger;
  /** Closes these sessions' sockets, on every instance, with this code. */
  closeSessions(sids: string[], code: number, reason: string): void;
  /** The close code of a banned account's sockets. */
  bannedCode: number;
  /** An account's server role changed: its open sockets everywhere act with the new one. */
  roleChanged?(accountId: number, role: ServerRole): void;
  now?: () => number;
}

export class ModerationService {
  private readonly now: () => number;

  constructor(private readonly deps: ModerationDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** An account's server role: the one kept (owner, admin), else its kind. */
  async roleOf(account: Pick<Account, "id" | "kind">): Promise<ServerRole> {
    return (await this.deps.store.rolesOf([account.id])).get(account.id) ?? account.kind;
  }

  async actorOf(account: Pick<Account, "id" | "kind">): Promise<Actor> {
    return { id: account.id, role: await this.roleOf(account) };
  }

  private async target(id: number): Promise<{ account: Account; role: ServerRole } | undefined> {
    const account = await this.deps.store.account(id);
    return account ? { account, role: await this.roleOf(account) } : undefined;
  }

  private async log(
    actorId: number | null,
    action: AuditAction,
    about: Partial<Pick<AuditEntry, "accountId" | "conversationId" | "messageId" | "detail">>,
  ): Promise<void> {
    await this.deps.store.audit({
      at: this.now(),
      actorId,
      action,
      accountId: about.accountId ?? null,
      conversationId: about.conversationId ?? null,
      messageId: about.messageId ?? null,
      detail: about.detail ?? {},
    });
  }

  /** Records a room action done elsewhere (the socket's commands). */
  recordRoomAction(
    actorId: number,
    action: AuditAction,
    about: Partial<Pick<AuditEntry, "accountId" | "conversationId" | "messageId" | "detail">>,
  ): Promise<void> {
    return this.log(actorId, action, about);
  }

  // ------------------------------------------------------------ accounts

  async users(actor: Actor, q: string, after: number): Promise<Outcome<{ users: AccountListing[] }>> {
    if (!allowed(actor, "read_audit")) return FORBIDDEN;
    const key = q.trim() === "" ? "" : checkName(q).ok ? (checkName(q) as { key: string }).key : q.trim().toLowerCase();
    return { ok: true, users: await this.deps.store.listAccounts(key, after, ADMIN_PAGE_SIZE) };
  }

  async setRole(
    actor: Actor | null,
    targetId: number,
    role: "admin" | "member",
  ): Promise<Outcome<{ role: ServerRole }>> {
    const target = await this.target(targetId);
    if (!target) return NO_ACCOUNT;
    const asServer = actor === null;
    if (!asServer && !allowed(actor, "set_role", { id: targetId, role: target.role, newRole: role })) return FORBIDDEN;
    if (target.account.kind !== "member") return fail(400, "not_registered", "Only registered accounts take a role");
    if (asServer && target.role === "owner") return fail(400, "is_owner", "That account owns the server");
    await this.deps.store.setRole(targetId, role === "admin" ? "admin" : null);
    this.deps.roleChanged?.(targetId, role);
    await this.log(actor?.id ?? null, "set_role", { accountId: targetId, detail: { from: target.role, to: role } });
    return { ok: true, role };
  }

  /** Bans an account (its sessions end, its sockets close with the banned code); `addresses` are refused too. */
  async ban(
    actor: Actor | null,
    targetId: number,
    options: { reason?: string; addresses?: string[] } = {},
  ): Promise<Outcome<{ sessions: number }>> {
    const target = await this.target(targetId);
    if (!target) return NO_ACCOUNT;
    if (actor !== null && !allowed(actor, "ban", { id: targetId, role: target.role })) return FORBIDDEN;
    if (actor === null && target.role === "owner") return fail(400, "is_owner", "The owner cannot be banned");
    // Kept as sign-in compares them: IPv4, or an IPv6 address's /64.
    const addresses = [
      ...new Set(
        (options.addresses ?? [])
          .map((a) => a.trim())
          .filter((a) => a !== "")
          .map(limitKey),
      ),
    ].slice(0, 16);
    const reason = (options.reason ?? "").slice(0, REPORT_REASON_MAX_LENGTH);
    const sids = await this.deps.store.ban({
      accountId: targetId,
      nameKey: target.account.nameKey,
      device: target.account.device,
      addresses,
      reason,
      byId: actor?.id ?? null,
      at: this.now(),
    });
    this.deps.closeSessions(sids, this.deps.bannedCode, "Banned");
    await this.log(actor?.id ?? null, "ban", { accountId: targetId, detail: { reason, addresses } });
    return { ok: true, sessions: sids.length };
  }

  async unban(actor: Actor | null, targetId: number): Promise<Outcome<object>> {
    const target = await this.target(targetId);
    if (!target) return NO_ACCOUNT;
    if (actor !== null && !allowed(actor, "ban", { id: targetId, role: target.role })) return FORBIDDEN;
    if (!(await this.deps.store.unban(targetId))) return fail(404, "not_banned", "That account is not banned");
    await this.log(actor?.id ?? null, "unban", { accountId: targetId });
    return { ok: true };
  }

  /** A one-time link to set a new password (good for RESET_TTL_MS): the token, shown once, never stored. */
  async resetPassword(actor: Actor | null, targetId: number): Promise<Outcome<{ token: string; expiresAt: number }>> {
    const target = await this.target(targetId);
    if (!target) return NO_ACCOUNT;
    if (actor !== null && !allowed(actor, "reset_password", { id: targetId, role: target.role })) return FORBIDDEN;
    if (target.account.kind !== "member") return fail(400, "not_registered", "A guest has no password");
    const token = newToken();
    const expiresAt = this.now() + RESET_TTL_MS;
    await this.deps.store.createPasswordReset(tokenHash(token), targetId, expiresAt);
    await this.log(actor?.id ?? null, "reset_password", { accountId: targetId });
    return { ok: true, token, expiresAt };
  }

  /** Sets a new password with a reset link's token; every session of the account ends. */
  async completeReset(token: string, password: string): Promise<Outcome<{ accountId: number }>> {
    const weak = passwordProblem(password);
    if (weak) return weak;
    const accountId = await this.deps.store.usePasswordReset(tokenHash(token), this.now());
    if (accountId === undefined) return fail(400, "invalid_reset", "That link is not valid (used, or expired)");
    const passwordHash = await Bun.password.hash(password, { algorithm: "argon2id" });
    await this.deps.store.updateAccount(accountId, { passwordHash });
    const sids = await this.deps.store.endSessions(accountId);
    this.deps.closeSessions(sids, 4002, "Signed out");
    await this.log(null, "complete_reset", { accountId, detail: { sessions: sids.length } });
    return { ok: true, accountId };
  }

  /**
   * The command line's `create-owner NAME`: the account of that name (made, as a member, if there is
   * none) gets the password and owns the server; a previous owner becomes an admin.
   */
  async createOwner(rawName: string, password: string): Promise<Outcome<{ accountId: number; created: boolean }>> {
    const check = checkName(rawName);
    if (!check.ok) return fail(400, check.error, check.message);
    const weak = passwordProblem(password);
    if (weak) return weak;
    const { store } = this.deps;
    const passwordHash = await Bun.password.hash(password, { algorithm: "argon2id" });
    const existing = await store.accountByKey(check.key);
    // A guest's name is anyone's to squat: owning the server goes to a registered account only.
    if (existing && existing.kind !== "member")
      return fail(400, "not_registered", `"${check.name}" is a guest's name: register it first, or pick another`);
    const now = this.now();
    const account = existing
      ? await store.updateAccount(existing.id, { kind: "member", passwordHash })
      : await store.createAccount({
          kind: "member",
          name: check.name,
          nameKey: check.key,
          image: 0,
          passwordHash,
          device: null,
          now,
        });
    const previous = await store.ownerId();
    if (previous !== undefined && previous !== account.id) await store.setRole(previous, "admin");
    await store.setRole(account.id, "owner");
    // Its password changed: every session of it signs in again (with the new one).
    if (existing) this.deps.closeSessions(await store.endSessions(account.id), 4002, "Signed out");
    await this.log(null, "create_owner", { accountId: account.id, detail: { previous: previous ?? null } });
    return { ok: true, accountId: account.id, created: !existing };
  }

  // ------------------------------------------------------------ the server

  async settings(actor: Actor): Promise<Outcome<{ settings: ServerSettings }>> {
    if (!allowed(actor, "change_settings")) return FORBIDDEN;
    return { ok: true, settings: await this.deps.store.serverSettings() };
  }

  async changeSettings(actor: Actor, patch: Partial<ServerSettings>): Promise<Outcome<{ settings: ServerSettings }>> {
    if (!allowed(actor, "change_settings")) return FORBIDDEN;
    const current = await this.deps.store.serverSettings();
    const rooms = patch.defaultRooms ?? current.defaultRooms;
    const names: string[] = [];
    for (const room of rooms.slice(0, 20)) {
      const check = checkName(room);
      if (!check.ok || room.includes(",")) return fail(400, "invalid_room", `"${room}" is not a room name`);
      names.push(check.name);
    }
    const signup: SignupMode = patch.signup ?? current.signup;
    const settings: ServerSettings = { guests: patch.guests ?? current.guests, signup, defaultRooms: names };
    await this.deps.store.saveServerSettings(settings);
    await this.log(actor.id, "change_settings", { detail: { ...settings } });
    return { ok: true, settings };
  }

  async auditLog(actor: Actor, before: number): Promise<Outcome<{ entries: AuditEntry[] }>> {
    if (!allowed(actor, "read_audit")) return FORBIDDEN;
    return { ok: true, entries: await this.deps.store.auditLog(before, ADMIN_PAGE_SIZE) };
  }

  // ------------------------------------------------------------ reports

  /** A member reports a message of one of its conversations (`conversationId` checked by the caller). */
  async report(
    actor: Actor,
    message: { id: number; conversationId: number; senderId: number },
    reason: string,
  ): Promise<Outcome<object>> {
    if (!allowed(actor, "report", { id: message.senderId }))
      return fail(400, "own_message", "That is your own message");
    const text = reason.trim();
    if (text === "" || [...text].length > REPORT_REASON_MAX_LENGTH)
      return fail(400, "invalid_reason", `Say why in 1 to ${REPORT_REASON_MAX_LENGTH} characters`);
    const filed = await this.deps.store.report({
      messageId: message.id,
      conversationId: message.conversationId,
      reporterId: actor.id,
      reason: text,
      at: this.now(),
    });
    if (!filed) return fail(409, "already_reported", "You reported that message already");
    await this.log(actor.id, "report", {
      accountId: message.senderId,
      conversationId: message.conversationId,
      messageId: message.id,
    });
    return { ok: true };
  }

  async reports(actor: Actor, all: boolean, before: number): Promise<Outcome<{ reports: Report[] }>> {
    if (!allowed(actor, "read_audit")) return FORBIDDEN;
    return { ok: true, reports: await this.deps.store.reports(all, before, ADMIN_PAGE_SIZE) };
  }

  async resolveReport(actor: Actor, id: number): Promise<Outcome<object>> {
    if (!allowed(actor, "read_audit")) return FORBIDDEN;
    if (!(await this.deps.store.resolveReport(id, actor.id, this.now())))
      return fail(404, "not_found", "No open report with that id");
    await this.log(actor.id, "resolve_report", { detail: { report: id } });
    return { ok: true };
  }

  // ------------------------------------------------------------ invites

  /**
   * An invite link: to the server (`conversationId` null: sign-up while it is invite-only) or to a
   * private room (`roomActor`: the actor with its role in that room).
   */
  async invite(
    actor: Actor,
    conversationId: number | null,
    options: { expiresInSeconds?: number; uses?: number },
  ): Promise<Outcome<{ invite: Invite }>> {
    if (!allowed(actor, conversationId === null ? "invite_to_server" : "invite_to_room")) return FORBIDDEN;
    const { expiresInSeconds, uses } = options;
    if (expiresInSeconds !== undefined && !(Number.isInteger(expiresInSeconds) && expiresInSeconds > 0))
      return fail(400, "invalid_invite", "expiresInSeconds: a whole number of seconds above 0");
    if (uses !== undefined && !(Number.isInteger(uses) && uses > 0 && uses <= 10_000))
      return fail(400, "invalid_invite", "uses: a whole number from 1 to 10000");
    const now = this.now();
    const invite: Invite = {
      token: newToken(),
      conversationId,
      createdBy: actor.id,
      createdAt: now,
      expiresAt: expiresInSeconds === undefined ? null : now + expiresInSeconds * 1000,
      usesLeft: uses ?? null,
    };
    await this.deps.store.createInvite(invite);
    await this.log(actor.id, "invite", {
      conversationId,
      detail: { expiresAt: invite.expiresAt, uses: invite.usesLeft },
    });
    return { ok: true, invite };
  }
}
