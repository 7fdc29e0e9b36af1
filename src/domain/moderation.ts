/**
 * The records moderation and administration keep: the server's settings, a room's own settings,
 * bans, the audit log, reports and invite links. The rules of who may change them are policy.ts's.
 */
import type { RoomRole, ServerRole } from "./policy";

/** Who may sign up: anyone, only with a server invite link, or nobody (admins make accounts). */
export type SignupMode = "open" | "invite" | "closed";

export interface ServerSettings {
  /** Guests (no password) may sign in. */
  guests: boolean;
  signup: SignupMode;
  /** Rooms every new account joins besides the lobby (names). */
  defaultRooms: string[];
}

export const DEFAULT_SETTINGS: ServerSettings = { guests: true, signup: "open", defaultRooms: [] };

/** Longest room topic (characters). */
export const TOPIC_MAX_LENGTH = 200;
/** Invite links kept per room (and for the server): making one more drops the oldest, and expired or used-up ones go. */
export const MAX_INVITES = 100;
/** Lines the audit log keeps (the oldest go in housekeeping). */
export const AUDIT_KEEP = 100_000;
/** Longest report reason (characters). */
export const REPORT_REASON_MAX_LENGTH = 500;

/** A room's own settings (the lobby's too). */
export interface RoomSettings {
  topic: string;
  /** Hidden from the room list; joined only with an invite (members stay). */
  private: boolean;
  /** One message per this many seconds per member (moderators excepted); 0: off. */
  slowSeconds: number;
  /** Its creator (null: the lobby, or made before rooms had owners). */
  ownerId: number | null;
}

/** An account as the admin page lists it. */
export interface AccountListing {
  id: number;
  name: string;
  kind: "guest" | "member";
  role: ServerRole;
  banned: boolean;
  createdAt: number;
  lastActive: number;
}

/** A member of a room with its room role and mute, as moderation needs it. */
export interface RoomMember {
  accountId: number;
  role: ServerRole;
  roomRole: RoomRole | undefined;
  /** Muted in the room until then (ms; 0: not muted). */
  mutedUntil: number;
}

export interface BanRecord {
  accountId: number;
  /** The name's key, blocked for sign-in and sign-up (a guest's name stays taken). */
  nameKey: string | null;
  /** The browser it last signed in from (its device cookie). */
  device: string | null;
  /** Client addresses also refused (optional). */
  addresses: string[];
  reason: string;
  byId: number | null;
  at: number;
}

export type AuditAction =
  | "delete_message"
  | "mute"
  | "unmute"
  | "remove_member"
  | "slow_mode"
  | "set_topic"
  | "set_visibility"
  | "name_moderator"
  | "invite"
  | "ban"
  | "unban"
  | "set_role"
  | "reset_password"
  | "change_settings"
  | "resolve_report"
  | "create_owner"
  | "complete_reset"
  | "report";

/** One line of the audit log: who did what to whom, when. */
export interface AuditEntry {
  id: number;
  at: number;
  /** null: the command line. */
  actorId: number | null;
  action: AuditAction;
  accountId: number | null;
  conversationId: number | null;
  messageId: number | null;
  /** What else there is to know (a role, a duration, a reason). */
  detail: Record<string, unknown>;
}

export interface Report {
  id: number;
  messageId: number;
  conversationId: number;
  reporterId: number;
  reason: string;
  at: number;
  resolvedBy: number | null;
  resolvedAt: number | null;
}

export interface Invite {
  token: string;
  /** A private room's invite (null: the server's, for sign-up). */
  conversationId: number | null;
  createdBy: number;
  createdAt: number;
  expiresAt: number | null;
  usesLeft: number | null;
}

/** What using an invite came to. */
export type InviteUse = "ok" | "unknown" | "expired" | "used_up" | "wrong_room" | "revoked";
