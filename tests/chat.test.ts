import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { CloseCode, ErrorCode, type ServerFrame } from "../src/protocol";
import { Client, refusedUpgrade, signIn, startApp, within, type Running } from "./helpers";

let running: Running;
const clients: Client[] = [];
const connect = async (cookie: string) => {
  const client = await Client.connect(running.wsUrl, cookie);
  clients.push(client);
  return client;
};

beforeEach(() => {
  running = startApp();
});
afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await running.stop();
});

describe("presence and chat with three sockets (alice in two tabs, bob)", () => {
  test("join, list, chat and left as the tutorial, one entry per user", async () => {
    const alice = await signIn(running.base, "alice");
    const bob = await signIn(running.base, "bob");

    const a1 = await connect(alice.cookie);
    const join = await a1.next("join");
    expect(join.user).toEqual(alice.user);
    expect(join.room).toBe("lobby");
    const list1 = await a1.next("list");
    expect(list1.data.map((u) => u.name)).toEqual(["alice"]);

    // A second tab of alice: no second join, and the list still has alice once.
    const a2 = await connect(alice.cookie);
    const list2 = await a2.next("list");
    expect(list2.data.map((u) => u.name)).toEqual(["alice"]);
    expect((await a1.drain()).filter((f) => f.type === "join")).toEqual([]);

    const b = await connect(bob.cookie);
    const bobJoin = await a1.next("join");
    expect(bobJoin.user.name).toBe("bob");
    expect((await a2.next("join")).user.name).toBe("bob");
    expect((await b.next("list")).data.map((u) => u.name).sort()).toEqual(["alice", "bob"]);

    // A chat message reaches everyone, the sender's tabs included, trimmed.
    a1.send({ type: "chat", data: "  hello all  " });
    for (const client of [a1, a2, b]) {
      const chat = await client.next("chat");
      expect(chat.data).toBe("hello all");
      expect(chat.user).toEqual(alice.user);
      expect(chat.room).toBe("lobby");
    }

    // Bare text (the tutorial's client) is a chat message, kept verbatim ("007" stays "007").
    b.send("007");
    b.send("{not json");
    b.send('{"no":"type"}');
    for (const text of ["007", "{not json", '{"no":"type"}']) expect((await a2.next("chat")).data).toBe(text);

    // alice leaves only when her last tab closes.
    a1.close();
    expect((await b.drain(200)).filter((f) => f.type === "left")).toEqual([]);
    a2.close();
    const left = await b.next("left");
    expect(left.user).toEqual(alice.user);
  });

  test("a burst with client ids: each message's broadcast reaches the sender before its ack, and each is acked once", async () => {
    const alice = await signIn(running.base, "alice");
    const a = await connect(alice.cookie);
    await a.next("history");
    a.frames.splice(0);
    // 15: within the frame burst a socket may send (20), the history frame above included.
    const cids = Array.from({ length: 15 }, (_, i) => `${Date.now().toString(36)}-${i}`);
    for (const cid of cids) a.send({ type: "chat", data: `burst ${cid}`, cid });
    const acks = () => a.frames.filter((frame) => frame.type === "ack");
    await within(5000, () => acks().length >= cids.length);
    await Bun.sleep(100);
    const order = a.frames.flatMap((frame) =>
      frame.type === "ack" ? [`ack ${frame.data.cid}`] : frame.type === "chat" ? [`chat ${frame.cid}`] : [],
    );
    expect(order.filter((entry) => entry.startsWith("ack")).sort()).toEqual(cids.map((cid) => `ack ${cid}`).sort());
    for (const cid of cids) expect(order.indexOf(`chat ${cid}`)).toBeLessThan(order.indexOf(`ack ${cid}`));
    expect(order.filter((entry) => entry.startsWith("chat"))).toEqual(cids.map((cid) => `chat ${cid}`));
  });

  test("frame ids increase monotonically", async () => {
    const alice = await signIn(running.base, "alice");
    const a = await connect(alice.cookie);
    for (let i = 0; i < 5; i++) a.send(`m${i}`);
    const frames: ServerFrame[] = [await a.next("join"), await a.next("list")];
    for (let i = 0; i < 5; i++) frames.push(await a.next("chat"));
    const ids = frames.map((f) => f.id);
    expect(ids).toEqual([...ids].sort((x, y) => x - y));
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe("one-to-one messages", () => {
  test("reach every tab of the recipient and the sender, and nobody else", async () => {
    const alice = await signIn(running.base, "alice");
    const bob = await signIn(running.base, "bob");
    const carol = await signIn(running.base, "carol");
    const a1 = await connect(alice.cookie);
    const a2 = await connect(alice.cookie);
    const b1 = await connect(bob.cookie);
    const b2 = await connect(bob.cookie);
    const c = await connect(carol.cookie);
    await Bun.sleep(100);
    for (const client of [a1, a2, b1, b2, c]) client.frames.length = 0;

    a1.send({ type: "private", to: bob.user.id, data: "psst", cid: "p1" });
    for (const client of [a1, a2, b1, b2]) {
      const frame = await client.next("private");
      expect(frame.data).toBe("psst");
      expect(frame.user).toEqual(alice.user);
      expect(frame.to).toBe(bob.user.id);
    }
    expect((await c.drain(200)).filter((f) => f.type === "private")).toEqual([]);
  });

  test("a message to someone offline is stored and reaches them, unread, when they come back; an unknown one is refused", async () => {
    const alice = await signIn(running.base, "alice");
    const bob = await signIn(running.base, "bob"); // signed in, never connected
    const a = await connect(alice.cookie);
    a.send({ type: "private", to: bob.user.id, data: "hi while you were away", cid: "p1" });
    const sent = await a.next("private");
    const ack = await a.next("ack");
    expect(sent.id).toBe(ack.data.id);
    a.send({ type: "private", to: 999_999, data: "hi", cid: "p2" });
    expect((await a.next("error")).data).toMatchObject({ code: ErrorCode.UnknownUser, cid: "p2" });

    const b = await connect(bob.cookie);
    const conversations = await b.next("conversations");
    expect(conversations.data).toContainEqual({
      with: alice.user.id,
      user: alice.user,
      unread: 1,
      mentions: 0,
      read: 0,
      last: ack.data.id,
      notify: "all",
    });
    const direct = await b.next("history", (f) => f.room === undefined && f.with === undefined);
    expect(direct.data.map((m) => [m.type, m.data, m.user.name])).toEqual([
      ["private", "hi while you were away", "alice"],
    ]);
  });
});

describe("bad frames get an error and the server carries on", () => {
  test("binary, unknown type, wrong shape, empty and over-long text", async () => {
    const alice = await signIn(running.base, "alice");
    const a = await connect(alice.cookie);
    a.ws.send(new Uint8Array([1, 2, 3]));
    expect((await a.next("error")).data.code).toBe(ErrorCode.BinaryFrame);
    a.send({ type: "dance" });
    expect((await a.next("error")).data.code).toBe(ErrorCode.UnknownType);
    a.send({ type: "chat", data: 42 });
    expect((await a.next("error")).data.code).toBe(ErrorCode.BadFrame);
    a.send({ type: "private", to: "bob", data: "x" });
    expect((await a.next("error")).data.code).toBe(ErrorCode.BadFrame);
    a.send("    ");
    expect((await a.next("error")).data.code).toBe(ErrorCode.EmptyMessage);
    a.send("x".repeat(2001));
    expect((await a.next("error")).data.code).toBe(ErrorCode.TooLong);
    a.send("x".repeat(2000));
    expect((await a.next("chat")).data.length).toBe(2000);
    expect(a.closed).toBeUndefined();
  });

  test("refusals come in the order of the frames (none before `conversations`), a refused message with its cid", async () => {
    const alice = await signIn(running.base, "alice");
    const a = await connect(alice.cookie);
    // Sent at once, before the socket's opening frames went out.
    a.send({ type: "dance" });
    a.send({ type: "chat", data: 42, cid: "bad-1" });
    a.send({ type: "join", room: "dev" });
    a.send({ type: "chat", room: "dev", data: 7, cid: "bad-2" });
    const frames = await a.drain(400);
    const order = frames.map((f) => (f.type === "error" ? `error:${f.data.code}` : f.type));
    expect(order[0]).toBe("conversations");
    const errors = frames.filter((f) => f.type === "error");
    expect(errors.map((f) => [f.data.code, f.data.cid])).toEqual([
      [ErrorCode.UnknownType, undefined],
      [ErrorCode.BadFrame, "bad-1"],
      [ErrorCode.BadFrame, "bad-2"],
    ]);
    // The second bad chat is answered after the join it followed.
    expect(order.indexOf(`error:${ErrorCode.BadFrame}`, order.indexOf("room"))).toBeGreaterThan(order.indexOf("room"));
  });

  test("a frame over the size limit closes with 1009", async () => {
    await running.stop();
    running = startApp({ maxFrameBytes: 1024 });
    const alice = await signIn(running.base, "alice");
    const a = await connect(alice.cookie);
    a.send("y".repeat(2048));
    expect((await a.waitClose()).code).toBe(CloseCode.MessageTooBig);
  });
});

describe("strangers are refused", () => {
  test("no cookie, forged, tampered and unsigned cookies get 401 before the upgrade", async () => {
    const alice = await signIn(running.base, "alice");
    const [name, value] = alice.cookie.split("=") as [string, string];
    const sid = decodeURIComponent(value).split(".")[0]!;
    expect(await refusedUpgrade(running.base, {})).toBe(401);
    expect(await refusedUpgrade(running.base, { cookie: `${name}=${sid}` })).toBe(401); // unsigned
    expect(
      await refusedUpgrade(running.base, { cookie: `${name}=${encodeURIComponent(`${sid}.forgedsignature`)}` }),
    ).toBe(401);
    const tampered = `${crypto.randomUUID()}.${decodeURIComponent(value).split(".").slice(1).join(".")}`;
    expect(await refusedUpgrade(running.base, { cookie: `${name}=${encodeURIComponent(tampered)}` })).toBe(401);
    await expect(Client.connect(running.wsUrl)).rejects.toThrow();
  });

  test("a foreign Origin gets 403; the page's own origin and allowlisted ones get in", async () => {
    await running.stop();
    running = startApp({ allowedOrigins: ["https://chat.example.com"] });
    const alice = await signIn(running.base, "alice");
    expect(await refusedUpgrade(running.base, { cookie: alice.cookie, origin: "https://evil.example" })).toBe(403);
    expect(
      await refusedUpgrade(running.base, { cookie: alice.cookie, origin: "https://chat.example.com.evil.example" }),
    ).toBe(403);
    expect(await refusedUpgrade(running.base, { cookie: alice.cookie, origin: "null" })).toBe(403);
    const own = await connect(alice.cookie.concat(""));
    expect(own.closed).toBeUndefined();
    const host = new URL(running.base).host;
    const same = await Client.connect(running.wsUrl, alice.cookie, { origin: `http://${host}` });
    clients.push(same);
    const listed = await Client.connect(running.wsUrl, alice.cookie, { origin: "https://chat.example.com" });
    clients.push(listed);
    expect((await listed.next("list")).data.length).toBe(1);
  });

  test("sign-out closes every socket of that session with 4002, and the cookie stops working", async () => {
    const alice = await signIn(running.base, "alice");
    const bob = await signIn(running.base, "bob");
    const a1 = await connect(alice.cookie);
    const a2 = await connect(alice.cookie);
    const b = await connect(bob.cookie);
    const response = await fetch(`${running.base}/wsout`, { method: "POST", headers: { cookie: alice.cookie } });
    expect(response.status).toBe(200);
    expect(response.headers.getSetCookie()[0]).toMatch(/session=;|Max-Age=0|Expires=Thu, 01 Jan 1970/);
    expect(await a1.waitClose()).toEqual({ code: CloseCode.SignedOut, reason: "Signed out" });
    expect((await a2.waitClose()).code).toBe(CloseCode.SignedOut);
    expect((await b.next("left")).user.name).toBe("alice");
    expect(b.closed).toBeUndefined();
    expect(await refusedUpgrade(running.base, { cookie: alice.cookie })).toBe(401);
  });
});
