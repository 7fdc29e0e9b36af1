/**
 * Moderation over real sockets, on both stores: who may delete others' messages, mute, slow a room,
 * change its topic and privacy, name moderators, invite to and remove from a private room; what the
 * muted and the slowed are told; bans (close code 4403, sign-in refused by account, name and
 * browser, lifted by unban; a ban written by another process closes sockets within seconds); the
 * server's settings at sign-in; the audit log. Each refusal changes nothing.
 */
import { describe, expect, test } from "bun:test";
import { CloseCode, type ServerFrame } from "../src/protocol";
import { Client, signIn, trackApps, within, type Running, type SignedIn } from "./helpers";
import { storeFlavours } from "./postgres";
import { upload } from "./uploads";
import { MAX_INVITES } from "../src/domain/moderation";

const flavours = storeFlavours();

describe.each(flavours)("%s", (_name, configure) => {
  const apps = trackApps();
  const fast = { ratePerSecond: 1000, rateBurst: 1000, userRatePerSecond: 1000, userRateBurst: 1000 };
  const start = async () => apps.start({ ...(await configure()), ...fast });

  const connect = async (running: Running, who: SignedIn): Promise<Client> => {
    const socket = await apps.connect(running, who.cookie);
    await socket.next("history", (f) => f.room === "lobby");
    return socket;
  };
  const answerTo = async (socket: Client, cid: string) => {
    await within(3000, () =>
      socket.frames.some((f) => (f.type === "ack" || f.type === "error") && (f.data as { cid?: string }).cid === cid),
    );
    return socket.frames.find(
      (f) => (f.type === "ack" || f.type === "error") && (f.data as { cid?: string }).cid === cid,
    )! as ServerFrame;
  };
  const say = async (socket: Client, data: string, room = "lobby") => {
    const cid = `c${Math.random().toString(36).slice(2)}`;
    socket.send({ type: "chat", room, data, cid });
    return answerTo(socket, cid);
  };
  const errorAfter = async (socket: Client, frame: Record<string, unknown>) => {
    const before = socket.frames.length;
    socket.send(frame);
    await within(3000, () => socket.frames.slice(before).some((f) => f.type === "error"));
    return socket.frames.slice(before).find((f) => f.type === "error")!.data as {
      code: string;
      retryMs?: number;
      message: string;
    };
  };

  /** An owner (the first sign-up), an admin, a member and a guest, each with a socket. */
  const people = async (running: Running) => {
    const owner = await signIn(running.base, "olga", { password: "correct horse", path: "/signup" });
    const admin = await signIn(running.base, "adam", { password: "correct horse", path: "/signup" });
    const member = await signIn(running.base, "mia", { password: "correct horse", path: "/signup" });
    const guest = await signIn(running.base, "gus");
    await running.teahouse.store.setRole(admin.user.id, "admin");
    const sockets = {
      owner: await connect(running, owner),
      admin: await connect(running, admin),
      member: await connect(running, member),
      guest: await connect(running, guest),
    };
    return { owner, admin, member, guest, sockets };
  };

  test("the first registered account owns the server; others are members", async () => {
    const running = await start();
    const { owner, member, guest } = await people(running);
    const roles = await running.teahouse.store.rolesOf([owner.user.id, member.user.id, guest.user.id]);
    expect(roles.get(owner.user.id)).toBe("owner");
    expect(roles.has(member.user.id)).toBe(false);
    expect(roles.has(guest.user.id)).toBe(false);
  });

  test("deleting others' messages: admins and the owner may, members and guests may not, nobody an equal's; audited", async () => {
    const running = await start();
    const { owner, admin, member, guest, sockets } = await people(running);
    const byGuest = (await say(sockets.guest, "spam from gus")).data as { id: number };
    const byAdmin = (await say(sockets.admin, "admin speaking")).data as { id: number };
    // A member and a guest: not theirs.
    expect((await errorAfter(sockets.member, { type: "delete", id: byGuest.id })).code).toBe("not_yours");
    expect((await errorAfter(sockets.guest, { type: "delete", id: byAdmin.id })).code).toBe("not_yours");
    // An admin deletes a guest's message: everyone sees the tombstone.
    sockets.admin.send({ type: "delete", id: byGuest.id });
    const gone = await sockets.member.next("delete", (f) => f.data.id === byGuest.id);
    expect(gone.data.deletedAt).toBeGreaterThan(0);
    // An admin cannot delete another admin's; the owner can.
    const second = await signIn(running.base, "abe", { password: "correct horse", path: "/signup" });
    await running.teahouse.store.setRole(second.user.id, "admin");
    const abe = await connect(running, second);
    expect((await errorAfter(abe, { type: "delete", id: byAdmin.id })).code).toBe("not_yours");
    sockets.owner.send({ type: "delete", id: byAdmin.id });
    await sockets.member.next("delete", (f) => f.data.id === byAdmin.id);
    const log = await running.teahouse.store.auditLog(Number.MAX_SAFE_INTEGER, 10);
    expect(log.filter((e) => e.action === "delete_message").map((e) => [e.actorId, e.accountId, e.messageId])).toEqual([
      [owner.user.id, admin.user.id, byAdmin.id],
      [admin.user.id, guest.user.id, byGuest.id],
    ]);
    void member;
  });

  test("mute: the muted member's messages, edits and reactions are refused until it ends; told so; unmute; members cannot mute", async () => {
    const running = await start();
    const { admin, member, guest, sockets } = await people(running);
    const earlier = (await say(sockets.guest, "before the mute")).data as { id: number };
    expect(
      (await errorAfter(sockets.member, { type: "mute", room: "lobby", user: guest.user.id, seconds: 60 })).code,
    ).toBe("forbidden");
    sockets.admin.send({ type: "mute", room: "lobby", user: guest.user.id, seconds: 60 });
    const told = await sockets.guest.next("muted");
    expect(told.room).toBe("lobby");
    expect(told.data.until).toBeGreaterThan(Date.now() + 50_000);
    const refused = (await say(sockets.guest, "let me speak")) as Extract<ServerFrame, { type: "error" }>;
    expect(refused.type).toBe("error");
    expect(refused.data.code).toBe("muted");
    expect(refused.data.retryMs).toBeGreaterThan(50_000);
    expect((await errorAfter(sockets.guest, { type: "edit", id: earlier.id, data: "changed" })).code).toBe("muted");
    expect((await errorAfter(sockets.guest, { type: "react", id: earlier.id, emoji: "👍" })).code).toBe("muted");
    // Nor a file, even uploaded without a socket.
    const file = await upload(running, guest, "room=lobby", "just a text file", "notes.txt");
    expect({ status: file.status, error: file.body.error }).toEqual({ status: 429, error: "muted" });
    expect(Number(file.headers.get("retry-after"))).toBeGreaterThan(50);
    // Still muted after a reconnect (it is kept with the membership).
    sockets.guest.close();
    const again = await apps.connect(running, guest.cookie);
    const conversations = await again.next("conversations");
    await again.next("history", (f) => f.room === "lobby");
    expect(conversations.data[0]!.mutedUntil).toBe(told.data.until);
    expect(((await say(again, "now?")) as Extract<ServerFrame, { type: "error" }>).data.code).toBe("muted");
    // Direct messages are not the room's business.
    again.send({ type: "private", to: member.user.id, data: "hello in private", cid: "dm" });
    expect((await answerTo(again, "dm")).type).toBe("ack");
    sockets.admin.send({ type: "mute", room: "lobby", user: guest.user.id, seconds: 0 });
    expect((await again.next("muted", (f) => f.data.until === 0)).data.until).toBe(0);
    expect((await say(again, "free again")).type).toBe("ack");
    // Demoted elsewhere (the command line, another instance): its open socket has the power no more.
    await running.teahouse.store.setRole(admin.user.id, null);
    expect(
      (await errorAfter(sockets.admin, { type: "mute", room: "lobby", user: guest.user.id, seconds: 60 })).code,
    ).toBe("forbidden");
  });

  test("slow mode: one message per interval per member, moderators excepted; everyone is told; off again", async () => {
    const running = await start();
    const { member, sockets } = await people(running);
    expect((await errorAfter(sockets.member, { type: "room_settings", room: "lobby", slow: 2 })).code).toBe(
      "forbidden",
    );
    sockets.admin.send({ type: "room_settings", room: "lobby", slow: 2 });
    const told = await sockets.member.next("room_settings");
    expect(told.data).toMatchObject({ slow: 2 });
    expect((await say(sockets.member, "one")).type).toBe("ack");
    const second = (await say(sockets.member, "two")) as Extract<ServerFrame, { type: "error" }>;
    expect(second.data.code).toBe("slow_mode");
    expect(second.data.retryMs).toBeGreaterThan(1000);
    expect(second.data.retryMs).toBeLessThanOrEqual(2000);
    // Moderators are not slowed.
    expect((await say(sockets.admin, "a1")).type).toBe("ack");
    expect((await say(sockets.admin, "a2")).type).toBe("ack");
    await Bun.sleep(second.data.retryMs! + 50);
    expect((await say(sockets.member, "two, later")).type).toBe("ack");
    // Made an admin while online: its open socket is a moderator's at once (not slowed).
    const owner = await running.teahouse.moderation.actorOf({
      id: (await running.teahouse.store.ownerId())!,
      kind: "member",
    });
    expect((await running.teahouse.moderation.setRole(owner, member.user.id, "admin")).ok).toBe(true);
    expect((await say(sockets.member, "as an admin 1")).type).toBe("ack");
    expect((await say(sockets.member, "as an admin 2")).type).toBe("ack");
    sockets.admin.send({ type: "room_settings", room: "lobby", slow: 0 });
    await sockets.member.next("room_settings", (f) => f.data.slow === 0);
    expect((await say(sockets.guest, "three")).type).toBe("ack");
    expect((await say(sockets.guest, "four")).type).toBe("ack");
  });

  test("a private room: its owner sets the topic and privacy, invites (expired, used up, another room's refused), names a moderator who removes a member", async () => {
    const running = await start();
    const { member, guest, sockets } = await people(running);
    const carl = await signIn(running.base, "carl");
    const carlSocket = await connect(running, carl);
    // mia creates "den" and owns it.
    sockets.member.send({ type: "join", room: "den" });
    await sockets.member.next("history", (f) => f.room === "den");
    sockets.member.send({ type: "room_settings", room: "den", topic: "  tea   and talk ", private: true });
    const settings = await sockets.member.next("room_settings", (f) => f.room === "den");
    expect(settings.data).toEqual({ topic: "tea and talk", slow: 0, private: true });
    // The log has what changed (topic, privacy), not the slow mode sent again as it was.
    sockets.member.send({ type: "room_settings", room: "den", topic: "tea and talk", slow: 0 });
    await sockets.member.next("room_settings", (f) => f.room === "den");
    const logged = (await running.teahouse.store.auditLog(Number.MAX_SAFE_INTEGER, 10)).map((e) => e.action);
    expect(logged.sort()).toEqual(["set_topic", "set_visibility"]);
    // Unlisted, and not joined without an invite.
    sockets.guest.send({ type: "rooms" });
    expect((await sockets.guest.next("rooms")).data.map((r) => r.name)).not.toContain("den");
    expect((await errorAfter(sockets.guest, { type: "join", room: "den" })).code).toBe("private_room");
    // A guest cannot invite (not in it), a member that owns it can; a use-once invite.
    sockets.member.send({ type: "invite", room: "den", uses: 1 });
    const once = (await sockets.member.next("invite")).data.token;
    sockets.member.send({ type: "invite", room: "den", expiresInSeconds: 1 });
    const brief = (await sockets.member.next("invite")).data.token;
    sockets.member.send({ type: "join", room: "nook" });
    await sockets.member.next("history", (f) => f.room === "nook");
    sockets.member.send({ type: "room_settings", room: "nook", private: true });
    await sockets.member.next("room_settings", (f) => f.room === "nook");
    sockets.member.send({ type: "invite", room: "nook" });
    const elsewhere = (await sockets.member.next("invite", (f) => f.room === "nook")).data.token;
    expect((await errorAfter(sockets.guest, { type: "join", room: "den", invite: elsewhere })).message).toContain(
      "not for",
    );
    sockets.guest.send({ type: "join", room: "den", invite: once });
    await sockets.guest.next("history", (f) => f.room === "den");
    expect((await errorAfter(carlSocket, { type: "join", room: "den", invite: once })).message).toContain("used up");
    await Bun.sleep(1100);
    expect((await errorAfter(carlSocket, { type: "join", room: "den", invite: brief })).message).toContain("expired");
    expect((await errorAfter(carlSocket, { type: "join", room: "den", invite: "nonsense" })).message).toContain(
      "not valid",
    );
    // The owner names gus a moderator: gus cannot remove the owner, but removes carl once he is in.
    sockets.member.send({ type: "moderator", room: "den", user: guest.user.id, on: true });
    expect((await sockets.guest.next("moderator", (f) => f.room === "den")).data.on).toBe(true);
    sockets.member.send({ type: "invite", room: "den" });
    const open = (await sockets.member.next("invite", (f) => f.room === "den")).data.token;
    carlSocket.send({ type: "join", room: "den", invite: open });
    await carlSocket.next("history", (f) => f.room === "den");
    expect((await errorAfter(sockets.guest, { type: "remove", room: "den", user: member.user.id })).code).toBe(
      "forbidden",
    );
    sockets.guest.send({ type: "remove", room: "den", user: carl.user.id });
    expect((await carlSocket.next("room", (f) => f.room === "den")).data.event).toBe("removed");
    expect((await errorAfter(carlSocket, { type: "chat", room: "den", data: "still here?" })).code).toBe("not_in_room");
    expect((await errorAfter(carlSocket, { type: "join", room: "den" })).code).toBe("private_room");
    // The link he came in with no longer lets him back; a new one does.
    expect((await errorAfter(carlSocket, { type: "join", room: "den", invite: open })).message).toContain("removed");
    await Bun.sleep(5);
    sockets.member.send({ type: "invite", room: "den" });
    const fresh = (await sockets.member.next("invite", (f) => f.room === "den")).data.token;
    carlSocket.send({ type: "join", room: "den", invite: fresh });
    await carlSocket.next("history", (f) => f.room === "den");
    // Nobody but its moderators makes links; a moderator of one room has no say in another.
    expect((await errorAfter(carlSocket, { type: "invite", room: "den" })).code).toBe("forbidden");
    expect(
      (await errorAfter(sockets.guest, { type: "mute", room: "lobby", user: carl.user.id, seconds: 60 })).code,
    ).toBe("forbidden");
    expect((await errorAfter(sockets.guest, { type: "room_settings", room: "den" })).code).toBe("invalid_setting");
    // A mute outlives leaving and joining again.
    sockets.guest.send({ type: "mute", room: "den", user: carl.user.id, seconds: 600 });
    await carlSocket.next("muted", (f) => f.room === "den");
    carlSocket.send({ type: "leave", room: "den" });
    await carlSocket.next("room", (f) => f.room === "den" && f.data.event === "left");
    sockets.member.send({ type: "invite", room: "den" });
    const third = (await sockets.member.next("invite", (f) => f.room === "den")).data.token;
    carlSocket.send({ type: "join", room: "den", invite: third });
    await carlSocket.next("history", (f) => f.room === "den");
    expect((await errorAfter(carlSocket, { type: "chat", room: "den", data: "back, unmuted?" })).code).toBe("muted");
    // Created private: never announced to everyone.
    const before = sockets.admin.frames.length;
    sockets.member.send({ type: "join", room: "attic", private: true });
    await sockets.member.next("history", (f) => f.room === "attic");
    await Bun.sleep(100);
    expect(sockets.admin.frames.slice(before).some((f) => f.type === "room" && f.room === "attic")).toBe(false);
    expect((await errorAfter(sockets.admin, { type: "join", room: "attic" })).code).toBe("private_room");
    // A public room has no removals and needs no invites; the lobby is never private.
    expect((await errorAfter(sockets.admin, { type: "remove", room: "lobby", user: carl.user.id })).code).toBe(
      "invalid_setting",
    );
    expect((await errorAfter(sockets.admin, { type: "room_settings", room: "lobby", private: true })).code).toBe(
      "invalid_setting",
    );
    expect(
      (await errorAfter(sockets.admin, { type: "room_settings", room: "lobby", topic: "x".repeat(201) })).code,
    ).toBe("invalid_setting");
  });

  test("a ban closes the account's sockets with 4403 and keeps it out by account, name and browser; unban lets it back", async () => {
    const running = await start();
    const { admin, member, guest, sockets } = await people(running);
    const moderation = running.teahouse.moderation;
    const adminActor = await moderation.actorOf({ id: admin.user.id, kind: "member" });
    const ownerId = (await running.teahouse.store.ownerId())!;
    expect((await moderation.ban(adminActor, ownerId)).ok).toBe(false);
    expect(await running.teahouse.store.isBanned({ accountId: ownerId })).toBe(false);
    // A member cannot ban; an admin cannot ban the owner.
    expect(
      (await moderation.ban(await moderation.actorOf({ id: member.user.id, kind: "member" }), guest.user.id)).ok,
    ).toBe(false);
    const banned = await moderation.ban(adminActor, guest.user.id, { reason: "spam" });
    expect(banned.ok).toBe(true);
    expect((await sockets.guest.waitClose()).code).toBe(CloseCode.Banned);
    // The session is gone; the name and the browser are refused, also as a new guest elsewhere.
    expect((await fetch(`${running.base}/wsme`, { headers: { cookie: guest.cookie } })).status).toBe(401);
    const again = await fetch(`${running.base}/wsin`, {
      method: "POST",
      headers: { "content-type": "application/json", cookie: guest.device },
      body: JSON.stringify({ name: "someone new" }),
    });
    expect(again.status).toBe(403);
    expect(((await again.json()) as { error: string }).error).toBe("banned");
    const byName = await fetch(`${running.base}/wsin`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "gus" }),
    });
    expect(byName.status).toBe(403);
    // A member banned by password sign-in too.
    await moderation.ban(adminActor, member.user.id);
    expect((await sockets.member.waitClose()).code).toBe(CloseCode.Banned);
    const password = await fetch(`${running.base}/wsin`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "mia", password: "correct horse" }),
    });
    expect(password.status).toBe(403);
    expect((await moderation.unban(adminActor, member.user.id)).ok).toBe(true);
    expect((await signIn(running.base, "mia", { password: "correct horse" })).user.id).toBe(member.user.id);
    const log = await running.teahouse.store.auditLog(Number.MAX_SAFE_INTEGER, 10);
    expect(log.map((e) => e.action).slice(0, 3)).toEqual(["unban", "ban", "ban"]);
  });

  test("create-owner refuses a guest's name; on a member it ends its sessions; an IPv6 ban covers its /64 however written", async () => {
    const running = await start();
    const { owner, member, guest, sockets } = await people(running);
    const moderation = running.teahouse.moderation;
    const squatted = await moderation.createOwner("gus", "a new password");
    expect(squatted.ok === false && squatted.error).toBe("not_registered");
    const made = await moderation.createOwner("mia", "a new password");
    expect(made.ok).toBe(true);
    expect((await sockets.member.waitClose()).code).toBe(CloseCode.SignedOut);
    expect(await running.teahouse.store.ownerId()).toBe(member.user.id);
    expect((await running.teahouse.store.rolesOf([owner.user.id])).get(owner.user.id)).toBe("admin");
    await moderation.ban(null, guest.user.id, { addresses: ["2001:DB8:0:0:1::5", "::ffff:203.0.113.7"] });
    const { store } = running.teahouse;
    const { limitKey } = await import("../src/security/client-ip");
    expect(await store.isBanned({ address: limitKey("2001:db8::1:0:0:9") })).toBe(true);
    expect(await store.isBanned({ address: limitKey("203.0.113.7") })).toBe(true);
    expect(await store.isBanned({ address: limitKey("2001:db8:0:1::5") })).toBe(false);
    const entry = (await store.auditLog(Number.MAX_SAFE_INTEGER, 1))[0]!;
    expect(entry.detail).toEqual({ reason: "", addresses: ["2001:db8:0:0::/64", "203.0.113.7"] });
  });

  test("nothing a moderator makes piles up: invites past MAX_INVITES drop the oldest, expired ones go; the audit log keeps its newest", async () => {
    const running = await start();
    const { store } = running.teahouse;
    const invite = (token: string, createdAt: number, expiresAt: number | null = null) =>
      store.createInvite({ token, conversationId: null, createdBy: 1, createdAt, expiresAt, usesLeft: null });
    await invite("brief", 1, 2);
    for (let i = 0; i <= MAX_INVITES; i++) await invite(`t${i}`, 10 + i);
    expect(await store.useInvite("brief", null, 5)).toBe("unknown");
    expect(await store.useInvite("t0", null, 5)).toBe("unknown");
    expect(await store.useInvite("t1", null, 5)).toBe("ok");
    expect(await store.useInvite(`t${MAX_INVITES}`, null, 5)).toBe("ok");
    for (let i = 0; i < 5; i++)
      await store.audit({
        at: i,
        actorId: null,
        action: "unban",
        accountId: i,
        conversationId: null,
        messageId: null,
        detail: {},
      });
    expect(await store.trimAudit(2)).toBe(3);
    expect((await store.auditLog(Number.MAX_SAFE_INTEGER, 10)).map((e) => e.accountId)).toEqual([4, 3]);
  });

  test("a ban written straight to the store (the command line, another instance) closes the sockets within seconds", async () => {
    const running = await start();
    const { guest, sockets } = await people(running);
    const account = (await running.teahouse.store.account(guest.user.id))!;
    await running.teahouse.store.ban({
      accountId: guest.user.id,
      nameKey: account.nameKey,
      device: account.device,
      addresses: ["203.0.113.9"],
      reason: "",
      byId: null,
      at: Date.now(),
    });
    const startedAt = Date.now();
    expect((await sockets.guest.waitClose(6000)).code).toBe(CloseCode.Banned);
    expect(Date.now() - startedAt).toBeLessThan(5000);
    expect(await running.teahouse.store.isBanned({ address: "203.0.113.9" })).toBe(true);
    expect(await running.teahouse.store.isBanned({ address: "203.0.113.10" })).toBe(false);
  });

  test("server settings at sign-in: guests off; sign-up closed; invite-only needs a good invite, once", async () => {
    const running = await start();
    const { store } = running.teahouse;
    const post = (path: string, body: unknown) =>
      fetch(`${running.base}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      }).then(async (r) => ({ status: r.status, error: ((await r.json()) as { error?: string }).error }));
    await store.saveServerSettings({ guests: false, signup: "closed", defaultRooms: [] });
    expect(await post("/wsin", { name: "gus" })).toEqual({ status: 403, error: "guests_disabled" });
    expect(await post("/signup", { name: "nia", password: "correct horse" })).toEqual({
      status: 403,
      error: "signup_closed",
    });
    await store.saveServerSettings({ guests: false, signup: "invite", defaultRooms: [] });
    expect(await post("/signup", { name: "nia", password: "correct horse" })).toEqual({
      status: 403,
      error: "invite_required",
    });
    await store.createInvite({
      token: "good1",
      conversationId: null,
      createdBy: 1,
      createdAt: 0,
      expiresAt: null,
      usesLeft: 1,
    });
    expect(await post("/signup", { name: "nia", password: "correct horse", invite: "bad" })).toEqual({
      status: 403,
      error: "invalid_invite",
    });
    expect((await post("/signup", { name: "nia", password: "correct horse", invite: "good1" })).status).toBe(200);
    expect(await post("/signup", { name: "ned", password: "correct horse", invite: "good1" })).toEqual({
      status: 403,
      error: "invalid_invite",
    });
  });
});
