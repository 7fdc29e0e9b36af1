/**
 * Who may do what: the one place the permission rules live, asked by every command (socket frames,
 * HTTP routes, the command line), the way Campfire asks its roles. Pure: the caller finds the facts
 * (the actor's server role and its role in the room, the target's, whether the message is the
 * actor's own) and asks.
 *
 * Server roles, strongest first: the owner (one: the first registered account, or made with
 * `teahouse admin create-owner`), admins, members (registered), guests. Room roles: the room's
 * owner (its creator) and the moderators it names. Nobody acts on someone as strong as themselves
 * or stronger (an admin cannot ban an admin, a moderator cannot mute the room's owner), except on
 * their own messages.
 */

export type ServerRole = "owner" | "admin" | "member" | "guest";
export type RoomRole = "owner" | "moderator";

export const SERVER_ROLES: readonly ServerRole[] = ["owner", "admin", "member", "guest"];

export type Action =
  /** Delete a message (the actor's own, or another's in a room they moderate). */
  | "delete_message"
  /** Edit a message: only one's own, whoever one is. */
  | "edit_message"
  /** Silence a member of a room for a while. */
  | "mute"
  /** Remove a member from a private room. */
  | "remove_member"
  /** One message per N seconds per member of a room. */
  | "slow_mode"
  /** Change a room's topic. */
  | "set_topic"
  /** Make a room public or private. */
  | "set_visibility"
  /** Name or unname a room's moderators. */
  | "name_moderator"
  /** Make an invite link to a private room. */
  | "invite_to_room"
  /** Make an invite link to the server (sign-up when it is invite-only). */
  | "invite_to_server"
  /** Ban or unban an account. */
  | "ban"
  /** Change an account's server role (to admin or member). */
  | "set_role"
  /** Give an account a one-time link to set a new password. */
  | "reset_password"
  /** Change the server's settings (guests, sign-up, default rooms). */
  | "change_settings"
  /** Read the audit log and the reports; resolve reports. */
  | "read_audit"
  /** Report a message to the admins. */
  | "report";

export const ACTIONS: readonly Action[] = [
  "delete_message",
  "edit_message",
  "mute",
  "remove_member",
  "slow_mode",
  "set_topic",
  "set_visibility",
  "name_moderator",
  "invite_to_room",
  "invite_to_server",
  "ban",
  "set_role",
  "reset_password",
  "change_settings",
  "read_audit",
  "report",
];

export interface Actor {
  id: number;
  role: ServerRole;
  /** The actor's role in the room the action is about (none: a plain member, or not a room action). */
  roomRole?: RoomRole | undefined;
}

export interface Target {
  /** The account acted on (a message's author, the member muted, the account banned). */
  id?: number;
  role?: ServerRole;
  roomRole?: RoomRole | undefined;
  /** The role asked for (`set_role`). */
  newRole?: ServerRole;
}

const STRENGTH: Record<ServerRole, number> = { owner: 3, admin: 2, member: 1, guest: 0 };
const isAdmin = (role: ServerRole): boolean => STRENGTH[role] >= STRENGTH.admin;

/** How strong someone is in a room: a server admin above the room's owner, above its moderators, above members. */
const roomStrength = (role: ServerRole, roomRole: RoomRole | undefined): number =>
  isAdmin(role) ? 10 + STRENGTH[role] : roomRole === "owner" ? 2 : roomRole === "moderator" ? 1 : 0;

/** Whether the actor moderates the room: its owner, a moderator, or a server admin. */
const moderates = (actor: Actor): boolean => roomStrength(actor.role, actor.roomRole) > 0;

/** Whether the actor is stronger in the room than the target (never oneself). */
const aboveInRoom = (actor: Actor, target: Target): boolean =>
  target.id !== actor.id &&
  roomStrength(actor.role, actor.roomRole) > roomStrength(target.role ?? "guest", target.roomRole);

const aboveOnServer = (actor: Actor, target: Target): boolean =>
  target.id !== actor.id && STRENGTH[actor.role] > STRENGTH[target.role ?? "guest"];

/** Whether `actor` may do `action` (to `target`, when the action has one). */
export const allowed = (actor: Actor, action: Action, target: Target = {}): boolean => {
  const own = target.id === actor.id;
  switch (action) {
    case "edit_message":
      return own;
    case "delete_message":
      return own || (moderates(actor) && aboveInRoom(actor, target));
    case "mute":
    case "remove_member":
      return moderates(actor) && aboveInRoom(actor, target);
    case "slow_mode":
    case "set_topic":
    case "invite_to_room":
      return moderates(actor);
    case "set_visibility":
    case "name_moderator":
      return isAdmin(actor.role) || actor.roomRole === "owner";
    case "invite_to_server":
    case "change_settings":
    case "read_audit":
      return isAdmin(actor.role);
    case "ban":
    case "reset_password":
      return isAdmin(actor.role) && aboveOnServer(actor, target);
    case "set_role": {
      const to = target.newRole;
      // Admins make members admins; only the owner makes an admin a member again. Nobody makes an
      // owner (that is the command line's), a guest (registered accounts stay registered) or changes one.
      if (!isAdmin(actor.role) || !aboveOnServer(actor, target) || target.role === "guest") return false;
      if (to === "admin") return target.role === "member";
      if (to === "member") return target.role === "member" || actor.role === "owner";
      return false;
    }
    case "report":
      return !own;
  }
};
