/**
 * Administration over HTTP, on both stores: every route refused signed out (401), cross-site (403)
 * and to guests and members (403 `forbidden`); roles as the policy says; a ban closes the account's
 * socket with 4403 and refuses its sign-in (by password, by a guest's name); reset links work once;
 * settings take effect (guests off, sign-up closed or by invite: expired, used-up and unknown invites
 * refused; default rooms joined); the audit log names who did what to whom; reports filed, listed with
 * the message, resolved; every room listed with its facts.
 */
import { describe, expect, test } from "bun:test";
import type { AdminRoom, AdminUser, AuditLine, ReportLine } from "../src/admin/protocol";
import { nameKey } from "../src/domain/names";
import { CloseCode } from "../src/protocol";
import { Client, signIn, trackApps, type Running, type SignedIn } from "./helpers";
import { storeFlavours } from "./postgres";

const flavours = storeFlavours();
const PASSWORD = "correct horse battery";

interface Answer {
  status: number;
  body: Record<string, unknown> & { code: number; data: unknown; error?: string; next?: number };
}

/** One request: `who` signed in (or nobody), JSON body, same-origin unless `origin` says otherwise. */
const call = async (
  running: Running,
  who: SignedIn | undefined,
  method: string,
  path: string,
  body?: unknown,
  origin?: string,
): Promise<Answer> => {
  const response = await fetch(`${running.base}${path}`, {
    method,
    headers: {
      ...(who ? { cookie: who.cookie } : {}),
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...(origin ? { origin } : {}),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as Answer["body"] };
};

const signUp = (running: Running, name: string, options: { device?: string } = {}) =>
  signIn(running.base, name, { password: PASSWORD, path: "/signup", ...options });

/** A message sent on a socket: its id. */
const say = async (socket: Client, data: string, room?: string): Promise<number> => {
  const cid = crypto.randomUUID();
  socket.send({ type: "chat", data, cid, ...(room ? { room } : {}) });
  return (await socket.next("ack", (f) => f.data.cid === cid)).data.id;
};

describe.each(flavours)("%s", (_name, configure) => {
  const apps = trackApps();
  const start = async () => apps.start({ ...(await configure()), signInPerMinute: 100_000 });

  /** The owner (first sign-up), an admin, a member and a guest. */
  const people = async (running: Running) => {
    const owner = await signUp(running, "olive");
    const admin = await signUp(running, "ada");
    const member = await signUp(running, "mia");
    const guest = await signIn(running.base, "gus");
    expect((await call(running, owner, "POST", `/admin/users/${admin.user.id}/role`, { role: "admin" })).status).toBe(
      200,
    );
    return { owner, admin, member, guest };
  };

  test("every admin route: 401 signed out, 403 to guests and members, 403 cross-site; admins and the owner pass", async () => {
    const running = await start();
    const { owner, admin, member, guest } = await people(running);
    const target = (await signUp(running, "tara")).user.id;
    const routes: Array<[string, string, unknown?]> = [
      ["GET", "/admin/users"],
      ["POST", `/admin/users/${target}/role`, { role: "member" }],
      ["POST", `/admin/users/${target}/ban`, { reason: "spam" }],
      ["DELETE", `/admin/users/${target}/ban`],
      ["POST", `/admin/users/${target}/reset-password`],
      ["GET", "/admin/settings"],
      ["PUT", "/admin/settings", { guests: true }],
      ["GET", "/admin/rooms"],
      ["GET", "/admin/audit"],
      ["GET", "/admin/reports"],
      ["POST", "/admin/reports/1/resolve"],
      ["POST", "/admin/invites", {}],
    ];
    for (const [method, path, body] of routes) {
      const label = `${method} ${path}`;
      expect([label, (await call(running, undefined, method, path, body)).status]).toEqual([label, 401]);
      for (const who of [guest, member]) {
        const answer = await call(running, who, method, path, body);
        expect([label, answer.status, answer.body.error]).toEqual([label, 403, "forbidden"]);
      }
      if (method !== "GET") {
        const answer = await call(running, admin, method, path, body, "http://evil.example");
        expect([label, answer.status, answer.body.error]).toEqual([label, 403, "forbidden_origin"]);
      }
    }
    // Admins and the owner get through (in this order the ban is lifted again, and no report is open).
    for (const who of [admin, owner])
      for (const [method, path, body] of routes) {
        const answer = await call(running, who, method, path, body);
        const expected = path.endsWith("/resolve") ? 404 : path === "/admin/invites" ? 201 : 200;
        expect([`${method} ${path}`, answer.status]).toEqual([`${method} ${path}`, expected]);
      }
    // Reports and resets have their own doors: signed in for one, same-origin for both.
    expect((await call(running, undefined, "POST", "/reports", { message: 1, reason: "x" })).status).toBe(401);
    const crossSite = await call(
      running,
      member,
      "POST",
      "/reports",
      { message: 1, reason: "x" },
      "http://evil.example",
    );
    expect(crossSite.status).toBe(403);
    const resetCrossSite = await call(
      running,
      undefined,
      "POST",
      "/reset",
      { token: "x", password: PASSWORD },
      "http://evil.example",
    );
    expect(resetCrossSite.status).toBe(403);
  });

  test("/wsme tells the role; roles change as the policy says", async () => {
    const running = await start();
    const { owner, admin, member, guest } = await people(running);
    const role = async (who: SignedIn) => (await call(running, who, "GET", "/wsme")).body.role;
    expect([await role(owner), await role(admin), await role(member), await role(guest)]).toEqual([
      "owner",
      "admin",
      "member",
      "guest",
    ]);
    const setRole = (who: SignedIn, id: number, to: string) =>
      call(running, who, "POST", `/admin/users/${id}/role`, { role: to });
    const mia = member.user.id;
    // An admin makes a member an admin, but cannot make an admin a member again: the owner can.
    expect((await setRole(admin, mia, "admin")).body).toMatchObject({ code: 0, role: "admin" });
    expect(await role(member)).toBe("admin");
    expect((await setRole(admin, mia, "member")).status).toBe(403);
    expect((await setRole(owner, mia, "member")).status).toBe(200);
    expect(await role(member)).toBe("member");
    // Nobody changes the owner, a guest's role or their own; unknown accounts and roles are refused.
    expect((await setRole(admin, owner.user.id, "member")).status).toBe(403);
    expect((await setRole(owner, owner.user.id, "member")).status).toBe(403);
    expect((await setRole(owner, guest.user.id, "admin")).status).toBe(403);
    expect((await setRole(owner, 999_999, "admin")).status).toBe(404);
    expect((await setRole(owner, mia, "owner")).status).toBe(400);
    expect((await call(running, owner, "POST", "/admin/users/abc/role", { role: "admin" })).status).toBe(404);
  });

  test("users: search by name prefix, pages of 50", async () => {
    const running = await start();
    const { owner } = await people(running);
    for (let i = 0; i < 52; i++) await signIn(running.base, `visitor ${i}`);
    const first = await call(running, owner, "GET", "/admin/users");
    const page = first.body.data as AdminUser[];
    expect(page.length).toBe(50);
    expect(page.slice(0, 4).map((u) => [u.name, u.role, u.kind, u.banned])).toEqual([
      ["olive", "owner", "member", false],
      ["ada", "admin", "member", false],
      ["mia", "member", "member", false],
      ["gus", "guest", "guest", false],
    ]);
    const second = await call(running, owner, "GET", `/admin/users?after=${first.body.next}`);
    expect((second.body.data as AdminUser[]).length).toBe(6);
    expect(second.body.next).toBeUndefined();
    const found = await call(running, owner, "GET", `/admin/users?q=${encodeURIComponent("visitor 1")}`);
    expect((found.body.data as AdminUser[]).map((u) => u.name).sort()).toEqual(
      ["visitor 1", ...Array.from({ length: 10 }, (_, i) => `visitor 1${i}`)].sort(),
    );
    expect((await call(running, owner, "GET", "/admin/users?q=MI")).body.data).toMatchObject([{ name: "mia" }]);
    expect((await call(running, owner, "GET", "/admin/users?after=x")).status).toBe(400);
  });

  test("a ban closes the account's socket with 4403 and refuses its sign-in; unban lets it back", async () => {
    const running = await start();
    const { owner, admin, member, guest } = await people(running);
    const socket = await apps.connect(running, member.cookie);
    await socket.next("history", (f) => f.room === "lobby");
    const banned = await call(running, admin, "POST", `/admin/users/${member.user.id}/ban`, {
      reason: "spam",
      addresses: ["203.0.113.9"],
    });
    expect(banned.body).toMatchObject({ code: 0, sessions: 1 });
    expect((await socket.waitClose()).code).toBe(CloseCode.Banned);
    expect((await call(running, member, "GET", "/wsme")).status).toBe(401);
    const again = await fetch(`${running.base}/wsin`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "mia", password: PASSWORD }),
    });
    expect([again.status, ((await again.json()) as { error: string }).error]).toEqual([403, "banned"]);
    const listed = (await call(running, admin, "GET", "/admin/users?q=mia")).body.data as AdminUser[];
    expect(listed[0]!.banned).toBe(true);
    // Admins cannot ban each other or the owner; bad addresses are refused.
    expect((await call(running, admin, "POST", `/admin/users/${owner.user.id}/ban`, {})).status).toBe(403);
    expect((await call(running, owner, "POST", `/admin/users/${owner.user.id}/ban`, {})).status).toBe(403);
    const bad = await call(running, owner, "POST", `/admin/users/${guest.user.id}/ban`, { addresses: ["not an ip"] });
    expect([bad.status, bad.body.error]).toEqual([400, "invalid_address"]);
    expect((await call(running, owner, "POST", "/admin/users/999999/ban", {})).status).toBe(404);
    // A banned guest's name stays blocked, from another browser too.
    expect((await call(running, admin, "POST", `/admin/users/${guest.user.id}/ban`)).status).toBe(200);
    const guestAgain = await fetch(`${running.base}/wsin`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "gus" }),
    });
    expect(guestAgain.status).toBe(403);
    // Unbanned: signs in again; a second unban has nothing to lift.
    expect((await call(running, admin, "DELETE", `/admin/users/${member.user.id}/ban`)).status).toBe(200);
    await signIn(running.base, "mia", { password: PASSWORD });
    const twice = await call(running, admin, "DELETE", `/admin/users/${member.user.id}/ban`);
    expect([twice.status, twice.body.error]).toEqual([404, "not_banned"]);
  });

  test("a reset link sets a new password once and ends the account's sessions", async () => {
    const running = await start();
    const { admin, member, guest } = await people(running);
    const socket = await apps.connect(running, member.cookie);
    await socket.next("history", (f) => f.room === "lobby");
    const link = await call(running, admin, "POST", `/admin/users/${member.user.id}/reset-password`);
    expect(link.status).toBe(200);
    const token = link.body.token as string;
    expect(link.body.url).toBe(`/ws#reset=${token}`);
    expect(link.body.expiresAt).toBeGreaterThan(Date.now());
    // Too short a password: refused, and the link still works.
    const short = await call(running, undefined, "POST", "/reset", { token, password: "short" });
    expect([short.status, short.body.error]).toEqual([400, "invalid_password"]);
    const done = await call(running, undefined, "POST", "/reset", { token, password: "a brand new secret" });
    expect(done.body).toMatchObject({ code: 0, name: "mia" });
    expect((await socket.waitClose()).code).toBe(CloseCode.SignedOut);
    expect((await call(running, member, "GET", "/wsme")).status).toBe(401);
    await expect(signIn(running.base, "mia", { password: PASSWORD })).rejects.toThrow("401");
    await signIn(running.base, "mia", { password: "a brand new secret" });
    const reused = await call(running, undefined, "POST", "/reset", { token, password: "yet another secret" });
    expect([reused.status, reused.body.error]).toEqual([400, "invalid_reset"]);
    const unknown = await call(running, undefined, "POST", "/reset", { token: "nope", password: "yet another secret" });
    expect(unknown.status).toBe(400);
    // A guest has no password to reset.
    const forGuest = await call(running, admin, "POST", `/admin/users/${guest.user.id}/reset-password`);
    expect([forGuest.status, forGuest.body.error]).toEqual([400, "not_registered"]);
  });

  test("settings: bad values refused with a reason; guests off, sign-up closed or by invite, default rooms", async () => {
    const running = await start();
    const { admin } = await people(running);
    expect((await call(running, admin, "GET", "/admin/settings")).body.data).toEqual({
      guests: true,
      signup: "open",
      defaultRooms: [],
    });
    for (const body of [
      { signup: "maybe" },
      { guests: "yes" },
      { colour: "red" },
      { defaultRooms: "news" },
      { defaultRooms: Array.from({ length: 21 }, (_, i) => `room${i}`) },
    ]) {
      const answer = await call(running, admin, "PUT", "/admin/settings", body);
      expect([JSON.stringify(body), answer.status, answer.body.error]).toEqual([
        JSON.stringify(body),
        400,
        "invalid_settings",
      ]);
      expect(typeof answer.body.data).toBe("string");
    }
    const unknownRoom = await call(running, admin, "PUT", "/admin/settings", { defaultRooms: ["news"] });
    expect([unknownRoom.status, unknownRoom.body.error]).toEqual([400, "unknown_room"]);
    const badRoom = await call(running, admin, "PUT", "/admin/settings", { defaultRooms: ["bad\u0007name"] });
    expect([badRoom.status, badRoom.body.error]).toEqual([400, "invalid_room"]);

    // Default rooms: new accounts join them.
    const socket = await apps.connect(running, admin.cookie);
    socket.send({ type: "join", room: "news" });
    await socket.next("history", (f) => f.room === "news");
    expect((await call(running, admin, "PUT", "/admin/settings", { defaultRooms: ["news"] })).body.data).toEqual({
      guests: true,
      signup: "open",
      defaultRooms: ["news"],
    });
    const newcomer = await signIn(running.base, "newcomer");
    const rooms = (await running.teahouse.store.memberships(newcomer.user.id)).map((m) => m.conversation.name);
    expect(rooms.sort()).toEqual(["lobby", "news"]);

    // Guests off.
    await call(running, admin, "PUT", "/admin/settings", { guests: false });
    const guestTry = await fetch(`${running.base}/wsin`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "late guest" }),
    });
    expect([guestTry.status, ((await guestTry.json()) as { error: string }).error]).toEqual([403, "guests_disabled"]);

    const signUpWith = async (name: string, invite?: string) => {
      const response = await fetch(`${running.base}/signup`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name, password: PASSWORD, ...(invite === undefined ? {} : { invite }) }),
      });
      return [response.status, ((await response.json()) as { error?: string }).error];
    };
    // Closed.
    await call(running, admin, "PUT", "/admin/settings", { signup: "closed" });
    expect(await signUpWith("closed out")).toEqual([403, "signup_closed"]);
    // By invite: one with a use left gets in once; used up, expired and unknown ones do not.
    await call(running, admin, "PUT", "/admin/settings", { signup: "invite" });
    expect(await signUpWith("no invite")).toEqual([403, "invite_required"]);
    const invite = await call(running, admin, "POST", "/admin/invites", { uses: 1, expiresInSeconds: 3600 });
    expect(invite.status).toBe(201);
    expect(invite.body.url).toBe(`/ws#invite=${invite.body.token}`);
    expect(invite.body.expiresAt).toBeGreaterThan(Date.now());
    expect(await signUpWith("invited", invite.body.token as string)).toEqual([200, undefined]);
    expect(await signUpWith("second", invite.body.token as string)).toEqual([403, "invalid_invite"]);
    await running.teahouse.store.createInvite({
      token: "expired-token",
      conversationId: null,
      createdBy: admin.user.id,
      createdAt: Date.now() - 10_000,
      expiresAt: Date.now() - 1,
      usesLeft: null,
    });
    expect(await signUpWith("late", "expired-token")).toEqual([403, "invalid_invite"]);
    expect(await signUpWith("forger", "made-up-token")).toEqual([403, "invalid_invite"]);
    for (const body of [{ uses: 0 }, { expiresInSeconds: -5 }, { expiresInSeconds: 400 * 24 * 3600 }]) {
      const answer = await call(running, admin, "POST", "/admin/invites", body);
      expect([JSON.stringify(body), answer.status]).toEqual([JSON.stringify(body), 400]);
    }
  });

  test("reports: filed by any account for a message it can see, listed with the message, resolved", async () => {
    const running = await start();
    const { admin, member, guest } = await people(running);
    const mia = await apps.connect(running, member.cookie);
    await mia.next("history", (f) => f.room === "lobby");
    const gus = await apps.connect(running, guest.cookie);
    await gus.next("history", (f) => f.room === "lobby");
    const rude = await say(mia, "buy cheap pills");
    gus.send({ type: "join", room: "secret" });
    await gus.next("history", (f) => f.room === "secret");
    const hidden = await say(gus, "in the secret room", "secret");
    const report = (who: SignedIn, message: number, reason: string) =>
      call(running, who, "POST", "/reports", { message, reason });

    expect((await report(guest, rude, "  spam  ")).status).toBe(201);
    const twice = await report(guest, rude, "spam again");
    expect([twice.status, twice.body.error]).toEqual([409, "already_reported"]);
    const own = await report(member, rude, "me");
    expect([own.status, own.body.error]).toEqual([400, "own_message"]);
    const empty = await report(admin, rude, "   ");
    expect([empty.status, empty.body.error]).toEqual([400, "invalid_reason"]);
    // A message of a room mia is not in, and one that does not exist: the same answer.
    for (const id of [hidden, 987_654]) {
      const answer = await report(member, id, "curious");
      expect([answer.status, answer.body.error]).toEqual([404, "message_not_found"]);
    }
    expect((await report(admin, rude, "offensive")).status).toBe(201);

    const open = await call(running, admin, "GET", "/admin/reports");
    const lines = open.body.data as ReportLine[];
    expect(lines.map((line) => [line.reporter.name, line.reason, line.room?.name, line.message?.text])).toEqual([
      ["ada", "offensive", "lobby", "buy cheap pills"],
      ["gus", "spam", "lobby", "buy cheap pills"],
    ]);
    expect(lines[0]!.message!.author).toEqual({ id: member.user.id, name: "mia" });
    expect(lines[0]!.resolved).toBeNull();
    expect((await call(running, admin, "POST", `/admin/reports/${lines[1]!.id}/resolve`)).status).toBe(200);
    const resolvedTwice = await call(running, admin, "POST", `/admin/reports/${lines[1]!.id}/resolve`);
    expect(resolvedTwice.status).toBe(404);
    expect(((await call(running, admin, "GET", "/admin/reports")).body.data as ReportLine[]).length).toBe(1);
    const all = (await call(running, admin, "GET", "/admin/reports?all=1")).body.data as ReportLine[];
    expect(all.length).toBe(2);
    expect(all[1]!.resolved).toMatchObject({ by: { id: admin.user.id, name: "ada" } });

    // Rate-limited per account: every attempt counts.
    let limited: Answer | undefined;
    for (let i = 0; i < 12 && !limited; i++) {
      const answer = await report(member, 987_000 + i, "probe");
      if (answer.status === 429) limited = answer;
    }
    expect(limited?.body.error).toBe("rate_limited");
  });

  test("the audit log names who did what to whom; every room is listed, private ones too", async () => {
    const running = await start();
    const { owner, admin, member } = await people(running);
    const mia = member.user.id;
    await call(running, admin, "POST", `/admin/users/${mia}/ban`, { reason: "spam" });
    await call(running, admin, "DELETE", `/admin/users/${mia}/ban`);
    await call(running, admin, "POST", `/admin/users/${mia}/reset-password`);
    await call(running, admin, "PUT", "/admin/settings", { guests: false });
    await call(running, admin, "POST", "/admin/invites", {});
    const log = (await call(running, owner, "GET", "/admin/audit")).body.data as AuditLine[];
    expect(log.map((line) => [line.action, line.actor?.name, line.account?.name ?? null])).toEqual([
      ["invite", "ada", null],
      ["change_settings", "ada", null],
      ["reset_password", "ada", "mia"],
      ["unban", "ada", "mia"],
      ["ban", "ada", "mia"],
      ["set_role", "olive", "ada"],
    ]);
    expect(log.every((line) => line.at > Date.now() - 60_000)).toBe(true);
    const older = await call(running, owner, "GET", `/admin/audit?before=${log[2]!.id}`);
    expect((older.body.data as AuditLine[]).map((line) => line.action)).toEqual(["unban", "ban", "set_role"]);

    // mia's sessions ended with the ban: she signs in again.
    const again = await signIn(running.base, "mia", { password: PASSWORD });
    const socket = await apps.connect(running, again.cookie);
    socket.send({ type: "join", room: "hideout" });
    const room = (await socket.next("history", (f) => f.room === "hideout")).room!;
    const hideout = (await running.teahouse.store.room(nameKey("hideout")))!;
    await running.teahouse.store.setRoomSettings(hideout.id, { private: true, topic: "members only" });
    const rooms = (await call(running, admin, "GET", "/admin/rooms")).body.data as AdminRoom[];
    expect(rooms.map((r) => [r.name, r.members, r.private, r.topic, r.owner?.name ?? null])).toEqual([
      ["lobby", 4, false, "", null],
      [room, 1, true, "members only", "mia"],
    ]);
  });
});
