/**
 * Administration over HTTP (docs/protocol.md, "Administration"): the admin page's routes under
 * `/admin/*` (accounts: search, role, ban, unban, password reset links; the server's settings; the
 * audit log; reports; sign-up invite links; every room), `POST /reports` (any account reports a
 * message of one of its conversations) and `POST /reset` (a reset link sets a new password, no
 * session needed). Each needs the session cookie (but `/reset`), each that changes something a
 * same-origin request; `/admin/*` answers 403 `forbidden` to anyone but an admin or the owner before
 * looking at anything else. The rules themselves are the policy's (domain/policy.ts), asked by
 * ModerationService; answers carry names, not only ids.
 */
import { isIP } from "node:net";
import { Elysia, t } from "elysia";
import { Value } from "@sinclair/typebox/value";
import { authPlugin } from "../auth/plugin";
import { apiError } from "../http/errors";
import { resolveClient } from "../http/client";
import { limitKey } from "../security/client-ip";
import { allowed, type Actor } from "../domain/policy";
import { checkName } from "../domain/names";
import type { AuditEntry, Report } from "../domain/moderation";
import type { Store } from "../ports/store";
import type { AccountService, AuthSession, Failure } from "../services/accounts";
import type { ModerationService } from "../services/moderation";
import type { RateLimit } from "../security/rate";
import {
  ADMIN_PAGE,
  BanBody,
  InviteBody,
  invitePath,
  ReportBody,
  ResetBody,
  resetPath,
  RoleBody,
  ServerSettings,
  SignupMode,
  type AdminRoom,
  type AuditLine,
  type Named,
  type ReportLine,
} from "./protocol";

/** Longest invite link life (seconds): a year. */
const INVITE_MAX_SECONDS = 365 * 24 * 3600;
/** Default rooms a server may have. */
const DEFAULT_ROOMS_MAX = 20;

export interface AdminRoutesDeps {
  accounts: AccountService;
  allowedOrigins: ReadonlySet<string>;
  moderation: ModerationService;
  store: Store;
  /** Reports filed per account. */
  reportLimiter: RateLimit<number>;
  /** `POST /reset` attempts per client address (the sign-in limit). */
  resetLimiter: RateLimit<string>;
  /** Peers whose X-Forwarded-For is believed (TRUST_PROXY). */
  trustedProxies: ReadonlySet<string>;
}

type Status = (code: number, body: unknown) => unknown;
type Headers = { headers: Record<string, string | number> };

const refused = (status: Status, failure: Pick<Failure, "status" | "error" | "message">) =>
  status(failure.status, apiError(failure.status, failure.error, failure.message));
const FORBIDDEN = { status: 403, error: "forbidden", message: "Only admins may do that" } as const;
const tooMany = (status: Status, set: Headers, waitMs: number, what: string) => {
  set.headers["retry-after"] = String(Math.ceil(waitMs / 1000));
  return status(429, apiError(429, "rate_limited", `Too many ${what}; try again later`));
};

/** An id in the path or query: a positive integer (else undefined). */
const idOf = (raw: string | undefined): number | undefined => {
  if (raw === undefined || !/^[1-9]\d{0,14}$/.test(raw)) return undefined;
  return Number(raw);
};
/** A paging cursor: absent → `fallback`; otherwise an id (0 for `after` too). */
const cursorOf = (raw: string | undefined, fallback: number): number | undefined =>
  raw === undefined || raw === "" ? fallback : raw === "0" ? 0 : idOf(raw);

const named = (names: ReadonlyMap<number, string>, id: number | null): Named | null =>
  id === null ? null : { id, name: names.get(id) ?? `#${id}` };

/** The `next` cursor of a page: the last item's id when the page is full (there may be more). */
const nextOf = (items: readonly { id: number }[]): { next?: number } =>
  items.length >= ADMIN_PAGE ? { next: items.at(-1)!.id } : {};

/** Why a settings body is refused (undefined: it is taken). */
const settingsProblem = (body: unknown): string | undefined => {
  if (typeof body !== "object" || body === null || Array.isArray(body))
    return "expected a JSON object {guests?, signup?, defaultRooms?}";
  const patch = body as Record<string, unknown>;
  for (const key of Object.keys(patch))
    if (!["guests", "signup", "defaultRooms"].includes(key)) return `unknown setting "${key}"`;
  if (patch.guests !== undefined && typeof patch.guests !== "boolean") return "guests: true or false";
  if (patch.signup !== undefined && !Value.Check(SignupMode, patch.signup))
    return 'signup: "open", "invite" or "closed"';
  if (patch.defaultRooms !== undefined) {
    const rooms = patch.defaultRooms;
    if (!Array.isArray(rooms) || !rooms.every((room) => typeof room === "string"))
      return "defaultRooms: a list of room names";
    if (rooms.length > DEFAULT_ROOMS_MAX) return `defaultRooms: at most ${DEFAULT_ROOMS_MAX} rooms`;
  }
  return undefined;
};

export const adminRoutes = (deps: AdminRoutesDeps) => {
  const { moderation, store } = deps;
  /** The signed-in account as an actor, if it administers the server. */
  const adminOf = async (session: AuthSession): Promise<Actor | undefined> => {
    const actor = await moderation.actorOf(session.account);
    return allowed(actor, "read_audit") ? actor : undefined;
  };

  const auditLines = async (entries: readonly AuditEntry[]): Promise<AuditLine[]> => {
    const names = await store.accountNames(
      entries.flatMap((entry) => [entry.actorId, entry.accountId]).filter((id): id is number => id !== null),
    );
    const rooms = await store.roomNames(
      entries.map((entry) => entry.conversationId).filter((id): id is number => id !== null),
    );
    return entries.map((entry) => ({
      id: entry.id,
      at: entry.at,
      action: entry.action,
      actor: named(names, entry.actorId),
      account: named(names, entry.accountId),
      room: entry.conversationId === null ? null : named(rooms, entry.conversationId),
      messageId: entry.messageId,
      detail: entry.detail,
    }));
  };

  const reportLines = async (reports: readonly Report[]): Promise<ReportLine[]> => {
    // A page is at most ADMIN_PAGE reports: as many message reads, at once.
    const messages = await Promise.all(reports.map((report) => store.message(report.messageId)));
    const names = await store.accountNames(
      reports.flatMap((report) => [report.reporterId, ...(report.resolvedBy === null ? [] : [report.resolvedBy])]),
    );
    const rooms = await store.roomNames(reports.map((report) => report.conversationId));
    return reports.map((report, index) => {
      const message = messages[index];
      return {
        id: report.id,
        at: report.at,
        reason: report.reason,
        reporter: named(names, report.reporterId)!,
        room: rooms.has(report.conversationId) ? named(rooms, report.conversationId) : null,
        message: message
          ? {
              id: message.id,
              text: message.body,
              ts: message.createdAt,
              author: { id: message.sender.id, name: message.sender.name },
              deleted: message.deletedAt !== null,
              ...(message.file ? { file: message.file.name } : {}),
            }
          : null,
        resolved: report.resolvedAt === null ? null : { by: named(names, report.resolvedBy), at: report.resolvedAt },
      };
    });
  };

  return (
    new Elysia({ name: "admin.routes", seed: deps.accounts.instanceId })
      .use(authPlugin(deps.accounts, deps.allowedOrigins))
      // ---------------------------------------------------------------- accounts
      .get(
        "/admin/users",
        async ({ session, query, status, set }) => {
          const actor = await adminOf(session);
          if (!actor) return refused(status, FORBIDDEN);
          const after = cursorOf(query.after, 0);
          if (after === undefined) return status(400, apiError(400, "invalid_query", "after: an account id"));
          const outcome = await moderation.users(actor, (query.q ?? "").slice(0, 64), after);
          if (!outcome.ok) return refused(status, outcome);
          set.headers["cache-control"] = "no-store";
          return { code: 0 as const, data: outcome.users, ...nextOf(outcome.users) };
        },
        { auth: true, query: t.Object({ q: t.Optional(t.String()), after: t.Optional(t.String()) }) },
      )
      .post(
        "/admin/users/:id/role",
        async ({ session, params, body, status }) => {
          const actor = await adminOf(session);
          if (!actor) return refused(status, FORBIDDEN);
          const id = idOf(params.id);
          if (id === undefined) return status(404, apiError(404, "not_found", "No such account"));
          const outcome = await moderation.setRole(actor, id, body.role);
          if (!outcome.ok) return refused(status, outcome);
          return { code: 0 as const, data: `Role changed to ${outcome.role}`, role: outcome.role };
        },
        { auth: true, sameOrigin: true, body: RoleBody },
      )
      .post(
        "/admin/users/:id/ban",
        async ({ session, params, body, status }) => {
          const actor = await adminOf(session);
          if (!actor) return refused(status, FORBIDDEN);
          const id = idOf(params.id);
          if (id === undefined) return status(404, apiError(404, "not_found", "No such account"));
          const addresses = (body?.addresses ?? []).map((address) => address.trim()).filter((a) => a !== "");
          const bad = addresses.find((address) => isIP(address) === 0);
          if (bad !== undefined) return status(400, apiError(400, "invalid_address", `"${bad}" is not an IP address`));
          const outcome = await moderation.ban(actor, id, { reason: body?.reason ?? "", addresses });
          if (!outcome.ok) return refused(status, outcome);
          return { code: 0 as const, data: "Banned", sessions: outcome.sessions };
        },
        { auth: true, sameOrigin: true, body: t.Optional(BanBody) },
      )
      .delete(
        "/admin/users/:id/ban",
        async ({ session, params, status }) => {
          const actor = await adminOf(session);
          if (!actor) return refused(status, FORBIDDEN);
          const id = idOf(params.id);
          if (id === undefined) return status(404, apiError(404, "not_found", "No such account"));
          const outcome = await moderation.unban(actor, id);
          if (!outcome.ok) return refused(status, outcome);
          return { code: 0 as const, data: "Unbanned" };
        },
        { auth: true, sameOrigin: true },
      )
      .post(
        "/admin/users/:id/reset-password",
        async ({ session, params, status }) => {
          const actor = await adminOf(session);
          if (!actor) return refused(status, FORBIDDEN);
          const id = idOf(params.id);
          if (id === undefined) return status(404, apiError(404, "not_found", "No such account"));
          const outcome = await moderation.resetPassword(actor, id);
          if (!outcome.ok) return refused(status, outcome);
          return {
            code: 0 as const,
            data: "Give this link to the account's owner: it works once",
            token: outcome.token,
            url: resetPath(outcome.token),
            expiresAt: outcome.expiresAt,
          };
        },
        { auth: true, sameOrigin: true },
      )
      // ---------------------------------------------------------------- the server
      .get(
        "/admin/settings",
        async ({ session, status, set }) => {
          const actor = await adminOf(session);
          if (!actor) return refused(status, FORBIDDEN);
          const outcome = await moderation.settings(actor);
          if (!outcome.ok) return refused(status, outcome);
          set.headers["cache-control"] = "no-store";
          return { code: 0 as const, data: outcome.settings };
        },
        { auth: true },
      )
      .put(
        "/admin/settings",
        async ({ session, body, status }) => {
          const actor = await adminOf(session);
          if (!actor) return refused(status, FORBIDDEN);
          const problem = settingsProblem(body);
          if (problem) return status(400, apiError(400, "invalid_settings", problem));
          const patch = body as Partial<ServerSettings>;
          // A default room must exist (new accounts join it; nothing is made behind anyone's back).
          for (const room of patch.defaultRooms ?? []) {
            const check = checkName(room);
            if (check.ok && !(await store.room(check.key)))
              return status(400, apiError(400, "unknown_room", `There is no room "${check.name}"`));
          }
          const outcome = await moderation.changeSettings(actor, patch);
          if (!outcome.ok) return refused(status, outcome);
          return { code: 0 as const, data: outcome.settings };
        },
        { auth: true, sameOrigin: true, parse: "json" },
      )
      .get(
        "/admin/rooms",
        async ({ session, query, status, set }) => {
          const actor = await adminOf(session);
          if (!actor) return refused(status, FORBIDDEN);
          const after = cursorOf(query.after, 0);
          if (after === undefined) return status(400, apiError(400, "invalid_query", "after: a room id"));
          const rooms = await store.allRooms(after, ADMIN_PAGE);
          const owners = await store.accountNames(
            rooms.map((room) => room.ownerId).filter((id): id is number => id !== null),
          );
          const data: AdminRoom[] = rooms.map((room) => ({
            id: room.id,
            name: room.name,
            members: room.members,
            topic: room.topic,
            private: room.private,
            owner: named(owners, room.ownerId),
            createdAt: room.createdAt,
          }));
          set.headers["cache-control"] = "no-store";
          return { code: 0 as const, data, ...nextOf(data) };
        },
        { auth: true, query: t.Object({ after: t.Optional(t.String()) }) },
      )
      .get(
        "/admin/audit",
        async ({ session, query, status, set }) => {
          const actor = await adminOf(session);
          if (!actor) return refused(status, FORBIDDEN);
          const before = cursorOf(query.before, Number.MAX_SAFE_INTEGER);
          if (before === undefined) return status(400, apiError(400, "invalid_query", "before: an audit line id"));
          const outcome = await moderation.auditLog(actor, before);
          if (!outcome.ok) return refused(status, outcome);
          const data = await auditLines(outcome.entries);
          set.headers["cache-control"] = "no-store";
          return { code: 0 as const, data, ...nextOf(data) };
        },
        { auth: true, query: t.Object({ before: t.Optional(t.String()) }) },
      )
      // ---------------------------------------------------------------- reports
      .get(
        "/admin/reports",
        async ({ session, query, status, set }) => {
          const actor = await adminOf(session);
          if (!actor) return refused(status, FORBIDDEN);
          const before = cursorOf(query.before, Number.MAX_SAFE_INTEGER);
          if (before === undefined) return status(400, apiError(400, "invalid_query", "before: a report id"));
          const all = query.all === "1" || query.all === "true";
          const outcome = await moderation.reports(actor, all, before);
          if (!outcome.ok) return refused(status, outcome);
          const data = await reportLines(outcome.reports);
          set.headers["cache-control"] = "no-store";
          return { code: 0 as const, data, ...nextOf(data) };
        },
        { auth: true, query: t.Object({ all: t.Optional(t.String()), before: t.Optional(t.String()) }) },
      )
      .post(
        "/admin/reports/:id/resolve",
        async ({ session, params, status }) => {
          const actor = await adminOf(session);
          if (!actor) return refused(status, FORBIDDEN);
          const id = idOf(params.id);
          if (id === undefined) return status(404, apiError(404, "not_found", "No open report with that id"));
          const outcome = await moderation.resolveReport(actor, id);
          if (!outcome.ok) return refused(status, outcome);
          return { code: 0 as const, data: "Resolved" };
        },
        { auth: true, sameOrigin: true },
      )
      .post(
        "/reports",
        async ({ session, body, status, set }) => {
          const wait = await deps.reportLimiter.take(session.account.id);
          if (wait > 0) return tooMany(status, set, wait, "reports");
          const message = await store.message(body.message);
          // Unknown, deleted, or in a conversation the account is not in: one answer for all three.
          const visible =
            message !== undefined &&
            message.deletedAt === null &&
            (await store.membersAmong(message.conversationId, [session.account.id])).has(session.account.id);
          if (!visible) return status(404, apiError(404, "message_not_found", "No such message"));
          const outcome = await moderation.report(await moderation.actorOf(session.account), message, body.reason);
          if (!outcome.ok) return refused(status, outcome);
          return status(201, { code: 0 as const, data: "Reported to the admins" });
        },
        { auth: true, sameOrigin: true, body: ReportBody },
      )
      // ---------------------------------------------------------------- invites and resets
      .post(
        "/admin/invites",
        async ({ session, body, status }) => {
          const actor = await adminOf(session);
          if (!actor) return refused(status, FORBIDDEN);
          const expiresInSeconds = body?.expiresInSeconds;
          if (expiresInSeconds !== undefined && expiresInSeconds > INVITE_MAX_SECONDS)
            return status(400, apiError(400, "invalid_invite", `expiresInSeconds: at most ${INVITE_MAX_SECONDS}`));
          const outcome = await moderation.invite(actor, null, {
            ...(expiresInSeconds === undefined ? {} : { expiresInSeconds }),
            ...(body?.uses === undefined ? {} : { uses: body.uses }),
          });
          if (!outcome.ok) return refused(status, outcome);
          const { invite } = outcome;
          return status(201, {
            code: 0 as const,
            data: "Invite link made",
            token: invite.token,
            url: invitePath(invite.token),
            expiresAt: invite.expiresAt,
            uses: invite.usesLeft,
          });
        },
        { auth: true, sameOrigin: true, body: t.Optional(InviteBody) },
      )
      .post(
        "/reset",
        async ({ body, request, server, status, set }) => {
          const address = resolveClient(request.headers, server?.requestIP(request)?.address, deps.trustedProxies).ip;
          const wait = await deps.resetLimiter.take(limitKey(address));
          if (wait > 0) return tooMany(status, set, wait, "attempts");
          const outcome = await moderation.completeReset(body.token, body.password);
          if (!outcome.ok) return refused(status, outcome);
          const account = await store.account(outcome.accountId);
          return { code: 0 as const, data: "Password set; sign in with it", name: account?.name ?? "" };
        },
        { sameOrigin: true, body: ResetBody },
      )
  );
};
