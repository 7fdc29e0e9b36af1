/**
 * Room moderation over the socket: `room_settings` (topic, slow mode, privacy), `mute`, `remove`
 * (from a private room), `moderator` (name or unname one) and `invite` (a private room's link).
 * Each asks the policy (domain/policy.ts) with the actor's and the target's standing, changes the
 * store, tells who needs to know (the room, the muted account) on every instance, and is written to
 * the audit log. Refused: `forbidden`, nothing changes.
 */
import { ErrorCode, type ClientFrame } from "../../protocol";
import type { Conversation } from "../../domain/model";
import { TOPIC_MAX_LENGTH } from "../../domain/moderation";
import { allowed, type Action, type Actor, type RoomRole, type Target } from "../../domain/policy";
import type { ChatHub } from "../hub";
import type { OnlineAccount, Socket } from "../registry";
import { conversationTopic } from "../topics";
import { toUser } from "../codec";
import type { ModerationService } from "../../services/moderation";

/**
 * The account's standing in a room, as the policy takes it: its server role read again (an admin
 * demoted by another instance or the command line is one no longer), its room role as known here.
 */
export const actorIn = async (hub: ChatHub, account: OnlineAccount, room: Conversation): Promise<Actor> => {
  account.role = (await hub.deps.store.rolesOf([account.user.id])).get(account.user.id) ?? account.user.type;
  return { id: account.user.id, role: account.role, roomRole: roomRoleOf(hub, room.id, account.user.id) };
};

const roomRoleOf = (hub: ChatHub, roomId: number, accountId: number): RoomRole | undefined =>
  hub.rules.room(roomId)?.ownerId === accountId
    ? "owner"
    : hub.rules.isModerator(roomId, accountId)
      ? "moderator"
      : undefined;

/** Someone acted on, as the policy takes it: their server role and their standing in the room (undefined: no such account). */
export const targetIn = async (hub: ChatHub, roomId: number, accountId: number): Promise<Target | undefined> => {
  const { store } = hub.deps;
  const member = (await store.roomMembers(roomId, [accountId])).get(accountId);
  if (member) return { id: accountId, role: member.role, roomRole: member.roomRole };
  const account = await store.account(accountId);
  return account ? { id: accountId, role: account.role ?? account.kind } : undefined;
};

/**
 * Whether a room's rules hold this frame back: the account is muted there (anything it sends), or
 * `sending` a message under slow mode too soon (moderators excepted). Refused with when to retry.
 */
export const heldBack = (
  hub: ChatHub,
  ws: Socket,
  account: OnlineAccount,
  conversation: Conversation,
  cid: string | undefined,
  sending: boolean,
): boolean => {
  if (conversation.kind !== "room") return false;
  const muted = hub.rules.mutedFor(conversation.id, account.user.id);
  if (muted > 0) {
    hub.refuse(ws, ErrorCode.Muted, "You are muted in this room for now", cid, muted);
    return true;
  }
  if (!sending) return false;
  const wait = hub.rules.slowWait(conversation.id, account.user.id, hub.moderates(account, conversation.id));
  if (wait > 0) {
    hub.refuse(ws, ErrorCode.SlowMode, "Slow mode: wait before your next message here", cid, wait);
    return true;
  }
  return false;
};

const forbidden = (hub: ChatHub, ws: Socket): void =>
  hub.refuse(ws, ErrorCode.Forbidden, "Your role does not allow that here");

/** The room a moderation frame names, among the account's rooms (refused when it is not in it). */
const roomFor = (hub: ChatHub, ws: Socket, account: OnlineAccount, name: string): Conversation | undefined => {
  const room = hub.roomOf(account, name);
  if (!room) hub.refuse(ws, ErrorCode.NotInRoom, `You are not in room "${name}"`);
  return room;
};

const audit = (hub: ChatHub, ...entry: Parameters<ModerationService["recordRoomAction"]>): Promise<void> =>
  hub.deps.moderation?.recordRoomAction(...entry) ?? Promise.resolve();

export const roomSettings = async (
  hub: ChatHub,
  ws: Socket,
  account: OnlineAccount,
  frame: Extract<ClientFrame, { type: "room_settings" }>,
): Promise<void> => {
  const room = roomFor(hub, ws, account, frame.room);
  if (!room) return;
  const actor = await actorIn(hub, account, room);
  if (frame.topic === undefined && frame.slow === undefined && frame.private === undefined)
    return hub.refuse(ws, ErrorCode.InvalidSetting, "Nothing to change: give a topic, slow or private");
  const wanted: Array<[Action, boolean]> = [
    ["set_topic", frame.topic !== undefined],
    ["slow_mode", frame.slow !== undefined],
    ["set_visibility", frame.private !== undefined],
  ];
  if (wanted.some(([action, asked]) => asked && !allowed(actor, action))) return forbidden(hub, ws);
  const topic = frame.topic?.replace(/\s+/g, " ").trim();
  if (topic !== undefined && [...topic].length > TOPIC_MAX_LENGTH)
    return hub.refuse(ws, ErrorCode.InvalidSetting, `A topic has at most ${TOPIC_MAX_LENGTH} characters`);
  const { store } = hub.deps;
  const before = await store.roomSettings(room.id);
  if (room.id === 1 && frame.private === true)
    return hub.refuse(ws, ErrorCode.InvalidSetting, "The lobby is everyone's: it cannot be private");
  await store.setRoomSettings(room.id, {
    ...(topic !== undefined ? { topic } : {}),
    ...(frame.slow !== undefined ? { slowSeconds: frame.slow } : {}),
    ...(frame.private !== undefined ? { private: frame.private } : {}),
  });
  const settings = (await store.roomSettings(room.id))!;
  const state = {
    topic: settings.topic,
    private: settings.private,
    slowSeconds: settings.slowSeconds,
    ownerId: settings.ownerId,
  };
  hub.rules.setRoom(room.id, state);
  hub.peers.publish({ t: "rules", room: room.id, state });
  hub.broadcast(
    conversationTopic(room.id),
    hub.codec.encode({
      type: "room_settings",
      user: account.user,
      data: { topic: settings.topic, slow: settings.slowSeconds, private: settings.private },
      room: room.name!,
    }),
  );
  // The log says what changed, not what was sent again as it was.
  if (settings.topic !== before?.topic)
    await audit(hub, actor.id, "set_topic", { conversationId: room.id, detail: { topic: settings.topic } });
  if (settings.slowSeconds !== before?.slowSeconds)
    await audit(hub, actor.id, "slow_mode", { conversationId: room.id, detail: { slow: settings.slowSeconds } });
  if (settings.private !== before?.private)
    await audit(hub, actor.id, "set_visibility", { conversationId: room.id, detail: { private: settings.private } });
};

export const mute = async (
  hub: ChatHub,
  ws: Socket,
  account: OnlineAccount,
  frame: Extract<ClientFrame, { type: "mute" }>,
): Promise<void> => {
  const room = roomFor(hub, ws, account, frame.room);
  if (!room) return;
  const target = await targetIn(hub, room.id, frame.user);
  if (!target) return hub.refuse(ws, ErrorCode.UnknownUser, "No such account");
  if (!allowed(await actorIn(hub, account, room), "mute", target)) return forbidden(hub, ws);
  const until = frame.seconds === 0 ? 0 : hub.now() + frame.seconds * 1000;
  if (!(await hub.deps.store.setMuted(room.id, frame.user, until)))
    return hub.refuse(ws, ErrorCode.NotAMember, "That account is not in the room");
  hub.rules.setMuted(room.id, frame.user, until);
  hub.peers.publish({ t: "muted", room: room.id, account: frame.user, until });
  const targetAccount = await hub.deps.store.account(frame.user);
  const text = hub.codec.encode({
    type: "muted",
    user: targetAccount ? toUser(targetAccount) : account.user,
    data: { until },
    room: room.name!,
  });
  hub.toAccount(frame.user, text);
  hub.sendTo(ws, text);
  await audit(hub, account.user.id, until === 0 ? "unmute" : "mute", {
    accountId: frame.user,
    conversationId: room.id,
    detail: until === 0 ? {} : { seconds: frame.seconds },
  });
};

export const remove = async (
  hub: ChatHub,
  ws: Socket,
  account: OnlineAccount,
  frame: Extract<ClientFrame, { type: "remove" }>,
): Promise<void> => {
  const room = roomFor(hub, ws, account, frame.room);
  if (!room) return;
  if (!hub.rules.room(room.id)?.private)
    return hub.refuse(
      ws,
      ErrorCode.InvalidSetting,
      "Only private rooms have members removed (anyone may join a public one)",
    );
  const target = await targetIn(hub, room.id, frame.user);
  if (!target) return hub.refuse(ws, ErrorCode.UnknownUser, "No such account");
  if (!allowed(await actorIn(hub, account, room), "remove_member", target)) return forbidden(hub, ws);
  if (!(await hub.deps.store.removeMember(room.id, frame.user, hub.now())))
    return hub.refuse(ws, ErrorCode.NotAMember, "That account is not in the room");
  const removed = hub.registry.get(frame.user);
  if (removed && removed.conversations.has(room.id)) hub.leaveRoom(removed, room, true, "removed");
  else hub.peers.publish({ t: "left", account: frame.user, room: room.id });
  await audit(hub, account.user.id, "remove_member", { accountId: frame.user, conversationId: room.id });
};

export const moderator = async (
  hub: ChatHub,
  ws: Socket,
  account: OnlineAccount,
  frame: Extract<ClientFrame, { type: "moderator" }>,
): Promise<void> => {
  const room = roomFor(hub, ws, account, frame.room);
  if (!room) return;
  const target = await targetIn(hub, room.id, frame.user);
  if (!target) return hub.refuse(ws, ErrorCode.UnknownUser, "No such account");
  if (!allowed(await actorIn(hub, account, room), "name_moderator", target)) return forbidden(hub, ws);
  if (!(await hub.deps.store.setModerator(room.id, frame.user, frame.on)))
    return hub.refuse(ws, ErrorCode.NotAMember, "That account is not in the room");
  hub.rules.setModerator(room.id, frame.user, frame.on);
  hub.peers.publish({ t: "moderator", room: room.id, account: frame.user, on: frame.on });
  const named = await hub.deps.store.account(frame.user);
  hub.broadcast(
    conversationTopic(room.id),
    hub.codec.encode({
      type: "moderator",
      user: named ? toUser(named) : account.user,
      data: { on: frame.on },
      room: room.name!,
    }),
  );
  await audit(hub, account.user.id, "name_moderator", {
    accountId: frame.user,
    conversationId: room.id,
    detail: { on: frame.on },
  });
};

export const invite = async (
  hub: ChatHub,
  ws: Socket,
  account: OnlineAccount,
  frame: Extract<ClientFrame, { type: "invite" }>,
): Promise<void> => {
  const room = roomFor(hub, ws, account, frame.room);
  if (!room) return;
  if (!hub.rules.room(room.id)?.private)
    return hub.refuse(ws, ErrorCode.InvalidSetting, "A public room needs no invite: anyone may join it");
  const moderation = hub.deps.moderation;
  if (!moderation) return forbidden(hub, ws);
  const outcome = await moderation.invite(await actorIn(hub, account, room), room.id, {
    ...(frame.expiresInSeconds !== undefined ? { expiresInSeconds: frame.expiresInSeconds } : {}),
    ...(frame.uses !== undefined ? { uses: frame.uses } : {}),
  });
  if (!outcome.ok) return forbidden(hub, ws);
  const { token, expiresAt, usesLeft } = outcome.invite;
  hub.sendTo(
    ws,
    hub.codec.encode({ type: "invite", user: null, data: { token, expiresAt, uses: usesLeft }, room: room.name! }),
  );
};
