/**
 * The administration API's bodies and answers (docs/protocol.md, "Administration"), as TypeBox
 * schemas shared by the routes (admin/routes.ts), the admin page (web/client/admin.ts) and the tests.
 * No Elysia and no server imports: the browser bundle imports it.
 */
import { Type, type Static, type TSchema } from "@sinclair/typebox";
import { REPORT_REASON_MAX_LENGTH } from "../domain/moderation";
import { ServerRole } from "../protocol";

/** Pages of the admin lists (accounts, rooms, audit lines, reports). */
export const ADMIN_PAGE = 50;

export const SignupMode = Type.Union([Type.Literal("open"), Type.Literal("invite"), Type.Literal("closed")]);

/** An account named in an answer: its id and the name it is shown under. */
export const Named = Type.Object({ id: Type.Integer(), name: Type.String() });
export type Named = Static<typeof Named>;

/** `GET /admin/users`: one account. */
export const AdminUser = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  kind: Type.Union([Type.Literal("guest"), Type.Literal("member")]),
  role: ServerRole,
  banned: Type.Boolean(),
  createdAt: Type.Number(),
  lastActive: Type.Number(),
});
export type AdminUser = Static<typeof AdminUser>;

/** `GET /admin/rooms`: one room (private and empty ones too). */
export const AdminRoom = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  members: Type.Integer(),
  topic: Type.String(),
  private: Type.Boolean(),
  /** Its creator (null: the lobby, or a room made before rooms had owners). */
  owner: Type.Union([Named, Type.Null()]),
  createdAt: Type.Number(),
});
export type AdminRoom = Static<typeof AdminRoom>;

/** `GET /admin/audit`: one line of the log, with names. */
export const AuditLine = Type.Object({
  id: Type.Integer(),
  at: Type.Number(),
  action: Type.String(),
  /** Who did it (null: the command line). */
  actor: Type.Union([Named, Type.Null()]),
  /** The account it was done to. */
  account: Type.Union([Named, Type.Null()]),
  /** The room it was done in. */
  room: Type.Union([Named, Type.Null()]),
  messageId: Type.Union([Type.Number(), Type.Null()]),
  detail: Type.Record(Type.String(), Type.Unknown()),
});
export type AuditLine = Static<typeof AuditLine>;

/** `GET /admin/reports`: one report with the message as it is now. */
export const ReportLine = Type.Object({
  id: Type.Integer(),
  at: Type.Number(),
  reason: Type.String(),
  reporter: Named,
  /** The room of the message (null: a direct conversation). */
  room: Type.Union([Named, Type.Null()]),
  /** The message (null: gone, pruned by retention). */
  message: Type.Union([
    Type.Object({
      id: Type.Number(),
      text: Type.String(),
      ts: Type.Number(),
      author: Named,
      deleted: Type.Boolean(),
      /** The name of its file, if it carries one. */
      file: Type.Optional(Type.String()),
    }),
    Type.Null(),
  ]),
  resolved: Type.Union([Type.Object({ by: Type.Union([Named, Type.Null()]), at: Type.Number() }), Type.Null()]),
});
export type ReportLine = Static<typeof ReportLine>;

export const ServerSettings = Type.Object({
  guests: Type.Boolean(),
  signup: SignupMode,
  defaultRooms: Type.Array(Type.String()),
});
export type ServerSettings = Static<typeof ServerSettings>;

/** A page of a list: `next` is the `after` (users, rooms) or `before` (audit, reports) of the next one. */
export const Page = <T extends TSchema>(item: T) =>
  Type.Object({ code: Type.Literal(0), data: Type.Array(item), next: Type.Optional(Type.Number()) });

/** `POST /admin/users/:id/reset-password` and `POST /admin/invites`: a link to hand over (its path). */
export const LinkAnswer = Type.Object({
  code: Type.Literal(0),
  data: Type.String(),
  token: Type.String(),
  /** The page's path with the token (`/ws#reset=…`, `/ws#invite=…`): the page makes it absolute. */
  url: Type.String(),
  expiresAt: Type.Union([Type.Number(), Type.Null()]),
});
export type LinkAnswer = Static<typeof LinkAnswer>;

// ---------------------------------------------------------------- bodies

/** Addresses one ban also refuses, at most. */
export const BAN_ADDRESSES_MAX = 16;

export const RoleBody = Type.Object({ role: Type.Union([Type.Literal("admin"), Type.Literal("member")]) });
export const BanBody = Type.Object({
  reason: Type.Optional(Type.String({ maxLength: REPORT_REASON_MAX_LENGTH })),
  addresses: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: BAN_ADDRESSES_MAX })),
});
export const ResetBody = Type.Object({
  token: Type.String({ minLength: 1, maxLength: 64 }),
  password: Type.String({ maxLength: 1024 }),
});
export const ReportBody = Type.Object({
  message: Type.Integer({ minimum: 1 }),
  reason: Type.String({ maxLength: 2000 }),
});
export const InviteBody = Type.Object({
  expiresInSeconds: Type.Optional(Type.Integer()),
  uses: Type.Optional(Type.Integer()),
});

/** The fragments of the page's links: `#reset=<token>`, `#invite=<token>`. */
export const resetPath = (token: string): string => `/ws#reset=${token}`;
export const invitePath = (token: string): string => `/ws#invite=${token}`;
