import { describe, expect, test } from "bun:test";
import { ErrorCode, type ServerFrameOf } from "../src/protocol";
import { signIn, trackApps } from "./helpers";

const { start, connect } = trackApps();

const texts = (frame: ServerFrameOf<"history">) => frame.data.map((m) => m.data);

describe("rooms", () => {
  test("a message in one room never reaches a socket only in another; presence is per room", async () => {
    const running = await start();
    const alice = await signIn(running.base, "alice");
    const bob = await signIn(running.base, "bob");
    const carol = await signIn(running.base, "carol");
    const a = await connect(running, alice.cookie);
    const b = await connect(running, bob.cookie);
    const c = await connect(running, carol.cookie);

    // carol moves to "dev" only; alice is in both.
    c.send({ type: "join", room: "dev" });
    const devList = await c.next("list", (f) => f.room === "dev");
    expect(devList.data.map((u) => u.name)).toEqual(["carol"]);
    c.send({ type: "leave", room: "lobby" });
    expect((await b.next("left", (f) => f.room === "lobby")).user.name).toBe("carol");

    a.send({ type: "join", room: "dev" });
    expect((await c.next("join", (f) => f.room === "dev")).user.name).toBe("alice");
    expect((await a.next("list", (f) => f.room === "dev")).data.map((u) => u.name).sort()).toEqual(["alice", "carol"]);

    a.send({ type: "chat", room: "dev", data: "dev only" });
    a.send({ type: "chat", data: "lobby only" });
    expect((await c.next("chat")).data).toBe("dev only");
    expect((await b.next("chat")).data).toBe("lobby only");
    const late = [...(await b.drain(200)), ...(await c.drain(50))].filter((f) => f.type === "chat");
    expect(late).toEqual([]);

    // Not a member: refused, not delivered.
    b.send({ type: "chat", room: "dev", data: "sneaky" });
    expect((await b.next("error")).data.code).toBe(ErrorCode.NotInRoom);
    c.send("bare text goes to the lobby");
    expect((await c.next("error")).data.code).toBe(ErrorCode.NotInRoom);

    // The room list with member counts.
    b.send({ type: "rooms" });
    const rooms = await b.next("rooms");
    expect(rooms.data).toContainEqual({ name: "lobby", members: 2 });
    expect(rooms.data).toContainEqual({ name: "dev", members: 2 });
  });

  test("room names are validated", async () => {
    const running = await start();
    const alice = await signIn(running.base, "alice");
    const a = await connect(running, alice.cookie);
    for (const room of ["   ", "x".repeat(33), "a\u202Eb", "a,b"]) {
      a.send({ type: "join", room });
      expect((await a.next("error")).data.code).toBe(ErrorCode.InvalidRoom);
    }
  });
});

describe("history", () => {
  test("joining a room sends its latest messages; `before` pages further back", async () => {
    const running = await start({ historyPageSize: 3 });
    const alice = await signIn(running.base, "alice");
    const a = await connect(running, alice.cookie);
    a.send({ type: "join", room: "dev" });
    await a.next("history", (f) => f.room === "dev");
    for (let i = 1; i <= 7; i++) a.send({ type: "chat", room: "dev", data: `m${i}` });
    for (let i = 1; i <= 7; i++) await a.next("chat");

    const bob = await signIn(running.base, "bob");
    const b = await connect(running, bob.cookie);
    b.send({ type: "join", room: "dev" });
    const first = await b.next("history", (f) => f.room === "dev");
    expect(texts(first)).toEqual(["m5", "m6", "m7"]);
    expect(first.more).toBe(true);
    b.send({ type: "history", room: "dev", before: first.data[0]!.id });
    const second = await b.next("history");
    expect(texts(second)).toEqual(["m2", "m3", "m4"]);
    b.send({ type: "history", room: "dev", before: second.data[0]!.id, limit: 2 });
    const third = await b.next("history");
    expect(texts(third)).toEqual(["m1"]);
    expect(third.more).toBe(false);
  });

  test("a private message is in its two users' history and nobody else's", async () => {
    const running = await start();
    const alice = await signIn(running.base, "alice");
    const bob = await signIn(running.base, "bob");
    const carol = await signIn(running.base, "carol");
    const a = await connect(running, alice.cookie);
    const b = await connect(running, bob.cookie);
    a.send({ type: "private", to: bob.user.id, data: "secret" });
    await b.next("private");

    const b2 = await connect(running, bob.cookie);
    const bobPrivate = await b2.next("history", (f) => f.room === undefined);
    expect(texts(bobPrivate)).toEqual(["secret"]);
    b2.send({ type: "history", with: alice.user.id });
    expect(texts(await b2.next("history"))).toEqual(["secret"]);

    const c = await connect(running, carol.cookie);
    const carolPrivate = await c.next("history", (f) => f.room === undefined);
    expect(carolPrivate.data).toEqual([]);
    c.send({ type: "history", with: alice.user.id });
    expect((await c.next("history")).data).toEqual([]);
    c.send({ type: "history", with: bob.user.id });
    expect((await c.next("history")).data).toEqual([]);
    const lobby = await connect(running, carol.cookie);
    expect((await lobby.next("history", (f) => f.room === "lobby")).data).toEqual([]);
  });

  test("a resend with the same cid is stored and broadcast once, and acknowledged each time", async () => {
    const running = await start();
    const alice = await signIn(running.base, "alice");
    const bob = await signIn(running.base, "bob");
    const a = await connect(running, alice.cookie);
    const b = await connect(running, bob.cookie);
    a.send({ type: "chat", data: "once", cid: "c-1" });
    const ack1 = await a.next("ack");
    a.send({ type: "chat", data: "once", cid: "c-1" });
    const ack2 = await a.next("ack");
    expect(ack1.data).toEqual({ cid: "c-1", id: ack2.data.id });
    const delivered = (await b.drain(200)).filter((f) => f.type === "chat");
    expect(delivered.length).toBe(1);
    expect(delivered[0]!.id).toBe(ack1.data.id);
    b.send({ type: "history" });
    expect(texts(await b.next("history"))).toEqual(["once"]);
  });

  test("a resend while the original is still queued is acknowledged after the original's broadcast", async () => {
    const running = await start();
    const alice = await signIn(running.base, "alice");
    const a = await connect(running, alice.cookie);
    await a.next("history", (f) => f.room === undefined);
    a.ws.send(JSON.stringify({ type: "chat", data: "twice", cid: "q-1" }));
    a.ws.send(JSON.stringify({ type: "chat", data: "twice", cid: "q-1" }));
    const order = (await a.drain(300)).filter((f) => f.type === "chat" || f.type === "ack").map((f) => f.type);
    expect(order).toEqual(["chat", "ack", "ack"]);
  });
});

describe("failures inside a handler", () => {
  test("a handler that throws (e.g. a full disk) costs one frame, not the server", async () => {
    const running = await start();
    const alice = await signIn(running.base, "alice");
    const a = await connect(running, alice.cookie);
    await a.next("history", (f) => f.room === undefined);
    running.teahouse.store.room = () => {
      throw new Error("SQLITE_FULL: database or disk is full");
    };
    a.send({ type: "join", room: "dev" });
    expect((await a.next("error")).data.code).toBe(ErrorCode.InternalError);
    a.send("still here");
    expect((await a.next("chat")).data).toBe("still here");
    expect((await fetch(`${running.base}/healthz`)).status).toBe(200);
  });
});

describe("a socket that cannot be set up", () => {
  test("is closed with 1011 (reconnect), never left open swallowing frames", async () => {
    const running = await start();
    const alice = await signIn(running.base, "alice");
    const store = running.teahouse.store;
    const memberships = store.memberships.bind(store);
    store.memberships = () => Promise.reject(new Error("SQLITE_IOERR: disk I/O error"));
    const a = await connect(running, alice.cookie);
    expect((await a.waitClose()).code).toBe(1011);
    store.memberships = memberships;
    const again = await connect(running, alice.cookie);
    again.send({ type: "chat", data: "fine again", cid: "f" });
    expect((await again.next("ack")).data.cid).toBe("f");
  });
});

describe("recovery after reconnect", () => {
  test("a client that was away gets exactly the messages it missed, in order, with recovered: true", async () => {
    const running = await start();
    const alice = await signIn(running.base, "alice");
    const bob = await signIn(running.base, "bob");
    const a = await connect(running, alice.cookie);
    const b = await connect(running, bob.cookie);
    a.send({ type: "join", room: "dev" });
    await a.next("history", (f) => f.room === "dev");
    b.send({ type: "join", room: "dev" });
    b.send("before");
    const seen = await a.next("chat");
    a.close();
    await b.next("left");

    b.send("missed 1");
    b.send({ type: "chat", room: "dev", data: "missed in dev" });
    b.send({ type: "private", to: alice.user.id, data: "x" }); // alice offline: stored for her
    b.send("missed 2");
    await b.next("chat", (f) => f.data === "missed 2"); // after the three before it, in order

    const back = await connect(running, alice.cookie, `?since=${seen.id}&rooms=lobby,dev`);
    const lobby = await back.next("history", (f) => f.room === "lobby");
    expect(lobby.recovered).toBe(true);
    expect(texts(lobby)).toEqual(["missed 1", "missed 2"]);
    const dev = await back.next("history", (f) => f.room === "dev");
    expect(dev.recovered).toBe(true);
    expect(texts(dev)).toEqual(["missed in dev"]);
    const direct = await back.next("history", (f) => f.room === undefined && f.with === undefined);
    expect(direct.recovered).toBe(true);
    expect(texts(direct)).toEqual(["x"]);
    // Live again: nothing twice.
    b.send("after");
    expect((await back.next("chat")).data).toBe("after");
  });

  test("a position of another epoch, or beyond the end, is never taken for recovered: true", async () => {
    const running = await start();
    const alice = await signIn(running.base, "alice");
    const a = await connect(running, alice.cookie);
    a.send("one");
    a.send("two");
    const two = await a.next("chat", (f) => f.data === "two");
    const position = (await connect(running, alice.cookie).then((c) => c.next("conversations"))).position;
    expect(position.offset).toBe(two.id);
    // The same position, this epoch: nothing missed.
    const same = await connect(running, alice.cookie, `?since=${two.id}&epoch=${position.epoch}`);
    expect(await same.next("history", (f) => f.room === "lobby")).toMatchObject({ recovered: true, data: [] });
    // Another epoch (a reset store): the latest page, recovered: false.
    const other = await connect(running, alice.cookie, `?since=${two.id}&epoch=zz${position.epoch}`);
    const reset = await other.next("history", (f) => f.room === "lobby");
    expect(reset.recovered).toBe(false);
    expect(texts(reset)).toEqual(["one", "two"]);
    // Beyond the end (ids that this log never gave out): the latest page too.
    const ahead = await connect(running, alice.cookie, `?since=${two.id + 80}`);
    expect(await ahead.next("history", (f) => f.room === "lobby")).toMatchObject({ recovered: false });
  });

  test("a gap beyond what history keeps gives recovered: false and the latest page", async () => {
    const running = await start({ historyMaxPerRoom: 2, historyPageSize: 2 });
    const alice = await signIn(running.base, "alice");
    const a = await connect(running, alice.cookie);
    a.send("first");
    const first = await a.next("chat");
    for (const text of ["2", "3", "4", "5"]) a.send(text);
    for (let i = 0; i < 4; i++) await a.next("chat");
    await running.teahouse.housekeeping();
    const back = await connect(running, alice.cookie, `?since=${first.id}&rooms=lobby`);
    const lobby = await back.next("history", (f) => f.room === "lobby");
    expect(lobby.recovered).toBe(false);
    expect(texts(lobby)).toEqual(["4", "5"]);
  });
});
