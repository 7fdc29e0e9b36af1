/**
 * One contract, run against every store: the behaviours every client relies
 * on, with the embedded SQLite store and with a real PostgreSQL (tests/postgres.ts).
 */
import { describe, expect, test } from "bun:test";
import { CloseCode, type ServerFrameOf } from "../src/protocol";
import { signIn, trackApps } from "./helpers";
import { storeFlavours } from "./postgres";

const flavours = storeFlavours();

const texts = (frame: ServerFrameOf<"history">) => frame.data.map((m) => m.data);

describe.each(flavours)("%s", (_name, configure) => {
  const apps = trackApps();
  const start = async () => apps.start(await configure());
  const connect = apps.connect;

  test("fan-out and presence: alice in two tabs and bob join once, chat, leave once", async () => {
    const running = await start();
    const alice = await signIn(running.base, "alice");
    const bob = await signIn(running.base, "bob");
    const a1 = await connect(running, alice.cookie);
    expect((await a1.next("list")).data.map((u) => u.name)).toEqual(["alice"]);
    const a2 = await connect(running, alice.cookie);
    await a2.next("list");
    const b = await connect(running, bob.cookie);
    expect((await b.next("list")).data.map((u) => u.name).sort()).toEqual(["alice", "bob"]);
    expect((await a1.next("join", (f) => f.user.name === "bob")).room).toBe("lobby");

    b.send({ type: "chat", data: "hi all", cid: "b1" });
    for (const client of [a1, a2, b]) expect((await client.next("chat")).data).toBe("hi all");
    expect((await b.next("ack")).data.cid).toBe("b1");
    const joins = (await a2.drain(200)).filter((f) => f.type === "join" && f.user.name === "alice");
    expect(joins).toEqual([]);

    a1.close();
    a2.close();
    expect((await b.next("left")).user.name).toBe("alice");
    expect((await b.drain(200)).filter((f) => f.type === "left")).toEqual([]);
  });

  test("private messages reach both users' sockets and nobody else", async () => {
    const running = await start();
    const alice = await signIn(running.base, "alice");
    const bob = await signIn(running.base, "bob");
    const carol = await signIn(running.base, "carol");
    const a = await connect(running, alice.cookie);
    const b1 = await connect(running, bob.cookie);
    const b2 = await connect(running, bob.cookie);
    const c = await connect(running, carol.cookie);
    await c.next("list");
    a.send({ type: "private", to: bob.user.id, data: "psst" });
    for (const client of [a, b1, b2]) expect((await client.next("private")).data).toBe("psst");
    expect((await c.drain(200)).filter((f) => f.type === "private")).toEqual([]);
  });

  test("history on join, paging, cid dedup and resume without gaps or duplicates", async () => {
    const running = await start();
    const alice = await signIn(running.base, "alice");
    const bob = await signIn(running.base, "bob");
    const a = await connect(running, alice.cookie);
    for (const text of ["one", "two", "three"]) a.send({ type: "chat", data: text, cid: text });
    for (let i = 0; i < 3; i++) await a.next("ack");
    a.send({ type: "chat", data: "two", cid: "two" }); // a resend
    expect((await a.next("ack")).data.cid).toBe("two");

    const b = await connect(running, bob.cookie);
    const lobby = await b.next("history", (f) => f.room === "lobby");
    expect(texts(lobby)).toEqual(["one", "two", "three"]);
    b.send({ type: "history", before: lobby.data[1]!.id });
    expect(texts(await b.next("history", (f) => f.room === "lobby"))).toEqual(["one"]);

    const seen = lobby.data[2]!.id;
    b.close();
    a.send("four");
    a.send("five");
    await a.next("chat", (f) => f.data === "five");
    const back = await connect(running, bob.cookie, `?since=${seen}&rooms=lobby`);
    const missed = await back.next("history", (f) => f.room === "lobby");
    expect(missed.recovered).toBe(true);
    expect(texts(missed)).toEqual(["four", "five"]);
    a.send("six");
    expect((await back.next("chat")).data).toBe("six");
  });

  test("one cid sent from two sockets of an account at once is stored once, acked on both; others unaffected", async () => {
    const running = await start();
    const alice = await signIn(running.base, "alice");
    const bob = await signIn(running.base, "bob");
    const a1 = await connect(running, alice.cookie);
    const a2 = await connect(running, alice.cookie);
    const b = await connect(running, bob.cookie);
    for (const socket of [a1, a2, b]) await socket.next("history", (f) => f.room === undefined);
    for (let round = 0; round < 5; round++) {
      a1.send({ type: "chat", data: `twice ${round}`, cid: `same-${round}` });
      a2.send({ type: "chat", data: `twice ${round}`, cid: `same-${round}` });
      b.send({ type: "chat", data: `bob ${round}`, cid: `bob-${round}` });
      const [ack1, ack2, ackB] = [await a1.next("ack"), await a2.next("ack"), await b.next("ack")];
      expect(ack1.data.id).toBe(ack2.data.id);
      expect(ackB.data.cid).toBe(`bob-${round}`);
    }
    b.send({ type: "history", limit: 50 });
    const page = await b.next("history", (f) => f.room === "lobby" && f.recovered === undefined && f.data.length > 5);
    expect(page.data.filter((m) => m.data.startsWith("twice")).length).toBe(5);
    expect(page.data.filter((m) => m.data.startsWith("bob")).length).toBe(5);
  });

  test("rooms are isolated and listed with member counts", async () => {
    const running = await start();
    const alice = await signIn(running.base, "alice");
    const bob = await signIn(running.base, "bob");
    const a = await connect(running, alice.cookie);
    const b = await connect(running, bob.cookie);
    a.send({ type: "join", room: "dev" });
    await a.next("list", (f) => f.room === "dev");
    b.send({ type: "leave", room: "lobby" });
    a.send({ type: "chat", room: "dev", data: "dev only" });
    expect((await a.next("chat")).room).toBe("dev");
    expect((await b.drain(200)).filter((f) => f.type === "chat")).toEqual([]);
    a.send({ type: "rooms" });
    const rooms = await a.next("rooms");
    expect(rooms.data).toContainEqual({ name: "dev", members: 1 });
    expect(rooms.data).toContainEqual({ name: "lobby", members: 1 });
  });

  test("sign-out closes the session's sockets with 4002 and the cookie stops working", async () => {
    const running = await start();
    const alice = await signIn(running.base, "alice");
    const a = await connect(running, alice.cookie);
    await fetch(`${running.base}/wsout`, { method: "POST", headers: { cookie: alice.cookie } });
    expect((await a.waitClose()).code).toBe(CloseCode.SignedOut);
    expect((await fetch(`${running.base}/wsme`, { headers: { cookie: alice.cookie } })).status).toBe(401);
    // The same browser signing in again as alice is alice again: same account, same history.
    const again = await signIn(running.base, "alice", { device: alice.device });
    expect(again.user.id).toBe(alice.user.id);
  });
});
