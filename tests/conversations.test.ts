/**
 * Conversations as users meet them, over real sockets: memberships that
 * outlive tabs, sessions and restarts; read positions shared by every tab;
 * rooms announced when created; direct messages kept for someone offline.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ErrorCode } from "../src/protocol";
import { signIn, trackApps } from "./helpers";

const { start, connect, forget } = trackApps();

describe("memberships belong to the account", () => {
  test("signing out and back in (same browser) keeps your id, your rooms and your history", async () => {
    const running = await start();
    const alice = await signIn(running.base, "alice");
    const a = await connect(running, alice.cookie);
    a.send({ type: "join", room: "dev" });
    await a.next("history", (f) => f.room === "dev");
    a.send({ type: "chat", room: "dev", data: "mine", cid: "m1" });
    await a.next("ack");
    await fetch(`${running.base}/wsout`, { method: "POST", headers: { cookie: alice.cookie } });
    await a.waitClose();

    const again = await signIn(running.base, "alice", { device: alice.device });
    expect(again.user.id).toBe(alice.user.id);
    const back = await connect(running, again.cookie);
    const conversations = await back.next("conversations");
    expect(conversations.data.map((c) => c.room)).toEqual(["lobby", "dev"]);
    const dev = await back.next("history", (f) => f.room === "dev");
    expect(dev.data.map((m) => [m.data, m.user.id])).toEqual([["mine", alice.user.id]]);
  });

  test("a room joined in one tab is joined in every tab; leaving in one leaves in all", async () => {
    const running = await start();
    const alice = await signIn(running.base, "alice");
    const tab1 = await connect(running, alice.cookie);
    const tab2 = await connect(running, alice.cookie);
    await tab2.next("history", (f) => f.room === undefined);
    tab1.send({ type: "join", room: "dev" });
    expect((await tab2.next("room", (f) => f.data.event === "joined")).data).toEqual({
      name: "dev",
      event: "joined",
      // Its creator owns and moderates it.
      moderates: true,
      owns: true,
    });
    await tab2.next("history", (f) => f.room === "dev");
    tab2.send({ type: "chat", room: "dev", data: "from tab 2" });
    expect((await tab1.next("chat")).data).toBe("from tab 2");
    tab2.send({ type: "leave", room: "dev" });
    expect((await tab1.next("room", (f) => f.data.event === "left")).room).toBe("dev");
    tab1.send({ type: "chat", room: "dev", data: "gone" });
    expect((await tab1.next("error")).data.code).toBe(ErrorCode.NotInRoom);
  });

  test("a reload keeps your rooms and your unread counts; reading in one tab clears it in the others", async () => {
    const running = await start();
    const alice = await signIn(running.base, "alice");
    const bob = await signIn(running.base, "bob");
    const a = await connect(running, alice.cookie);
    a.send({ type: "join", room: "dev" });
    await a.next("history", (f) => f.room === "dev");
    a.close();
    const b = await connect(running, bob.cookie);
    b.send({ type: "join", room: "dev" });
    await b.next("history", (f) => f.room === "dev");
    for (const text of ["one", "two", "three"]) b.send({ type: "chat", room: "dev", data: text });
    const third = await b.next("chat", (f) => f.data === "three");
    b.send("in the lobby");
    await b.next("chat", (f) => f.data === "in the lobby");

    // alice comes back (a reload): still in dev, with three unread there and one in the lobby.
    const tab1 = await connect(running, alice.cookie);
    const tab2 = await connect(running, alice.cookie);
    const seen = await tab1.next("conversations");
    const unread = Object.fromEntries(seen.data.map((c) => [c.room, c.unread]));
    expect(unread).toEqual({ lobby: 1, dev: 3 });
    tab1.send({ type: "read", room: "dev", id: third.id });
    expect((await tab2.next("read")).data).toEqual({ id: third.id, unread: 0, mentions: 0 });
    const reloaded = await connect(running, alice.cookie);
    const after = await reloaded.next("conversations");
    expect(after.data.find((c) => c.room === "dev")).toMatchObject({ unread: 0, read: third.id, last: third.id });
    // A conversation the account is not in: refused, nothing moves.
    tab1.send({ type: "read", room: "nowhere", id: 1 });
    expect((await tab1.next("error")).data.code).toBe(ErrorCode.NotAMember);
  });
});

describe("rooms", () => {
  test("a new room is announced to everyone at once; rooms with no member are not listed", async () => {
    const running = await start();
    const alice = await signIn(running.base, "alice");
    const bob = await signIn(running.base, "bob");
    const a = await connect(running, alice.cookie);
    const b = await connect(running, bob.cookie);
    await b.next("history", (f) => f.room === undefined);
    a.send({ type: "join", room: "garden" });
    const announced = await b.next("room");
    expect(announced).toMatchObject({ room: "garden", data: { name: "garden", event: "created" } });
    expect(announced.user.id).toBe(alice.user.id);
    b.send({ type: "rooms" });
    expect((await b.next("rooms")).data).toContainEqual({ name: "garden", members: 1 });
    a.send({ type: "leave", room: "garden" });
    await a.next("room", (f) => f.data.event === "left");
    b.send({ type: "rooms" });
    expect((await b.next("rooms")).data.map((r) => r.name)).not.toContain("garden");
  });

  test("creating rooms is rate-limited per account; joining existing ones is not", async () => {
    const running = await start({ roomCreationsPerHour: 2, maxRoomsPerUser: 50 });
    const alice = await signIn(running.base, "alice");
    const bob = await signIn(running.base, "bob");
    const a = await connect(running, alice.cookie);
    for (const room of ["r1", "r2"]) {
      a.send({ type: "join", room });
      await a.next("list", (f) => f.room === room);
    }
    a.send({ type: "join", room: "r3" });
    const refused = await a.next("error");
    expect(refused.data.code).toBe(ErrorCode.RoomCreationLimited);
    expect(refused.data.retryMs).toBeGreaterThan(0);
    const b = await connect(running, bob.cookie);
    for (const room of ["r1", "r2"]) {
      b.send({ type: "join", room });
      await b.next("list", (f) => f.room === room);
    }
  });

  test("a look-alike of an existing room is that room; look-alikes of the lobby are refused", async () => {
    const running = await start();
    const alice = await signIn(running.base, "alice");
    const a = await connect(running, alice.cookie);
    a.send({ type: "join", room: "Dev" });
    await a.next("list", (f) => f.room === "Dev");
    a.send({ type: "join", room: "dev" }); // the same room: its list again, no second room
    await a.next("list", (f) => f.room === "Dev");
    for (const room of ["LOBBY", "ⅼobby", "1obby"]) {
      a.send({ type: "join", room });
      expect((await a.next("error")).data.code).toBe(ErrorCode.InvalidRoom);
    }
  });
});

describe("direct conversations", () => {
  test("a message to someone offline survives a restart and reaches them when they sign in", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "teahouse-direct-"));
    try {
      const first = await start({ dataDir });
      const alice = await signIn(first.base, "alice");
      const bob = await signIn(first.base, "bob", { path: "/signup", password: "bob's password" });
      const a = await connect(first, alice.cookie);
      a.send({ type: "private", to: bob.user.id, data: "see you tomorrow", cid: "d1" });
      await a.next("ack");
      await first.stop();
      forget(first);

      const second = await start({ dataDir });
      const bobAgain = await signIn(second.base, "bob", { password: "bob's password" });
      const b = await connect(second, bobAgain.cookie);
      const conversations = await b.next("conversations");
      expect(conversations.data.find((c) => c.with === alice.user.id)).toMatchObject({ unread: 1, user: alice.user });
      const direct = await b.next("history", (f) => f.room === undefined && f.with === undefined);
      expect(direct.data.map((m) => m.data)).toEqual(["see you tomorrow"]);
      b.send({ type: "history", with: alice.user.id });
      expect((await b.next("history", (f) => f.with === alice.user.id)).data.map((m) => m.data)).toEqual([
        "see you tomorrow",
      ]);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe("renames", () => {
  test("a guest who registers or renames shows the new name at once, to its other tabs and to the room", async () => {
    const running = await start();
    const alice = await signIn(running.base, "alice");
    const bob = await signIn(running.base, "bob");
    const tab1 = await connect(running, alice.cookie);
    const tab2 = await connect(running, alice.cookie);
    const b = await connect(running, bob.cookie);
    await b.next("history", (f) => f.room === undefined);
    await tab2.next("history", (f) => f.room === undefined);
    const response = await fetch(`${running.base}/signup`, {
      method: "POST",
      headers: { "content-type": "application/json", cookie: alice.cookie },
      body: JSON.stringify({ name: "Alice", password: "a good password" }),
    });
    expect(response.status).toBe(200);
    const member = { ...alice.user, type: "member" as const, name: "Alice" };
    expect((await tab2.next("list", (f) => f.user.type === "member")).user).toEqual(member);
    expect((await b.next("join", (f) => f.user.id === alice.user.id)).user).toEqual(member);
    b.send({ type: "join", room: "lobby" }); // its list again: alice under her new name
    expect((await b.next("list")).data).toContainEqual(member);
    tab1.send("hello as Alice");
    expect((await b.next("chat")).user).toEqual(member);
  });
});

describe("a released guest name taken by someone else", () => {
  test("the first holder's messages show as theirs (alice#id), never as the new alice's", async () => {
    const running = await start({ guestNameGraceMs: 0 });
    const first = await signIn(running.base, "alice");
    const a = await connect(running, first.cookie);
    a.send({ type: "chat", data: "the first alice", cid: "f" });
    await a.next("ack");
    a.close();
    await a.waitClose();
    await Bun.sleep(50);
    const second = await signIn(running.base, "alice"); // another browser, after the grace
    expect(second.user.id).not.toBe(first.user.id);
    const b = await connect(running, second.cookie);
    const lobby = await b.next("history", (f) => f.room === "lobby");
    expect(lobby.data.map((m) => [m.data, m.user.id, m.user.name])).toEqual([
      ["the first alice", first.user.id, `alice#${first.user.id}`],
    ]);
    b.send({ type: "chat", data: "the new alice", cid: "n" });
    expect((await b.next("chat", (f) => f.data === "the new alice")).user.name).toBe("alice");
  });
});
