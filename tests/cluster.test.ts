/**
 * Several instances on one PostgreSQL and one Redis (both real, started by
 * the tests): two teahouse apps in this process, three people on them. What
 * one instance's users do, the other's see, in the same order, once.
 */
import { expect, test } from "bun:test";
import { CloseCode, type ServerFrame } from "../src/protocol";
import type { Config } from "../src/config";
import { Client, signIn, trackApps, type Running, within } from "./helpers";
import { useClusterServices } from "./cluster-services";

const services = useClusterServices();
const { start, connect } = trackApps();
const twoInstances = (overrides: Partial<Config> = {}): Promise<[Running, Running]> =>
  services.twoInstances(start, overrides);

const chats = (frames: ServerFrame[]) =>
  frames.flatMap((frame) => (frame.type === "chat" ? [{ id: frame.id, data: frame.data as string }] : []));

test("two instances, three clients: presence, chat in one order, direct messages, read positions, rooms and sign-out everywhere", async () => {
  const [a, b] = await twoInstances();
  const alice = await signIn(a.base, "alice");
  const bob = await signIn(b.base, "bob");
  const carol = await signIn(b.base, "carol");
  const aliceA = await connect(a, alice.cookie);
  await aliceA.next("list", (f) => f.room === "lobby");
  const bobB = await connect(b, bob.cookie);
  // bob on B is online for alice on A, and alice (on A) is in bob's list on B.
  expect((await aliceA.next("join", (f) => f.user.id === bob.user.id)).room).toBe("lobby");
  const bobList = await bobB.next("list", (f) => f.room === "lobby");
  expect(bobList.data.map((u) => u.name).sort()).toEqual(["alice", "bob"]);
  const carolB = await connect(b, carol.cookie);
  await aliceA.next("join", (f) => f.user.id === carol.user.id);
  await bobB.next("join", (f) => f.user.id === carol.user.id);
  // alice opens a second socket, on B: not news to anyone.
  const aliceB = await connect(b, alice.cookie);
  await aliceB.next("history", (f) => f.room === "lobby");

  // Both instances write at once: every socket sees one order, the ids' order, each message once.
  for (let i = 0; i < 12; i++) {
    aliceA.send({ type: "chat", data: `a${i}`, cid: `a${i}` });
    bobB.send({ type: "chat", data: `b${i}`, cid: `b${i}` });
  }
  const everyone = [aliceA, aliceB, bobB, carolB];
  await within(5000, () => everyone.every((client) => chats(client.frames).length >= 24));
  await Bun.sleep(100);
  for (const sender of [aliceA, bobB]) expect(sender.frames.filter((f) => f.type === "ack").length).toBe(12);
  const seen = everyone.map((client) => chats(client.frames.splice(0)));
  for (const view of seen) {
    expect(view.length).toBe(24);
    expect(view.map((m) => m.id)).toEqual([...view.map((m) => m.id)].sort((x, y) => x - y));
    expect(view).toEqual(seen[0]!);
  }
  // Ids are gapless across instances.
  expect(seen[0]!.at(-1)!.id - seen[0]![0]!.id).toBe(23);
  expect(aliceA.frames.some((f) => f.type === "join" && f.user.id === alice.user.id)).toBe(false);

  // A direct message from A reaches bob on B and alice's own socket on B.
  aliceA.send({ type: "private", to: bob.user.id, data: "psst", cid: "p1" });
  const psst = await bobB.next("private");
  expect(psst.data).toBe("psst");
  expect((await aliceB.next("private")).id).toBe(psst.id);
  expect(carolB.frames.some((f) => f.type === "private")).toBe(false);
  // bob answers from B: alice's direct conversation is known on B too.
  bobB.send({ type: "private", to: alice.user.id, data: "hi", cid: "p2" });
  expect((await aliceA.next("private", (f) => f.data === "hi")).user.id).toBe(bob.user.id);

  // alice reads on A: her socket on B is told.
  aliceA.send({ type: "read", with: bob.user.id, id: psst.id + 1 });
  expect((await aliceB.next("read")).data.unread).toBe(0);

  // alice joins a room on A: her socket on B enters it too, and bob (B) sees it created.
  aliceA.send({ type: "join", room: "dev" });
  await aliceB.next("room", (f) => f.room === "dev" && f.data.event === "joined");
  await aliceB.next("history", (f) => f.room === "dev");
  expect((await bobB.next("room", (f) => f.room === "dev")).data.event).toBe("created");
  bobB.send({ type: "join", room: "dev" });
  await aliceA.next("join", (f) => f.room === "dev" && f.user.id === bob.user.id);
  aliceB.send({ type: "chat", room: "dev", data: "from B" });
  expect((await aliceA.next("chat", (f) => f.room === "dev")).data).toBe("from B");
  aliceB.send({ type: "leave", room: "dev" });
  expect((await aliceA.next("room", (f) => f.room === "dev")).data.event).toBe("left");
  expect((await bobB.next("left", (f) => f.room === "dev")).user.id).toBe(alice.user.id);

  // Sign-out everywhere on A closes alice's sockets on both instances; the others see her leave once.
  await fetch(`${a.base}/wsout?everywhere=1`, { method: "POST", headers: { cookie: alice.cookie } });
  expect((await aliceA.waitClose()).code).toBe(CloseCode.SignedOut);
  expect((await aliceB.waitClose()).code).toBe(CloseCode.SignedOut);
  await carolB.next("left", (f) => f.room === "lobby" && f.user.id === alice.user.id);
  await Bun.sleep(200);
  expect(carolB.frames.filter((f) => f.type === "left" && f.user.id === alice.user.id)).toEqual([]);
  expect((await fetch(`${b.base}/wsme`, { headers: { cookie: alice.cookie } })).status).toBe(401);

  // /metrics: the bus's round trip and the store's latency, and readiness covers both.
  const count = async (name: string) =>
    Number(new RegExp(`^${name}_count (\\d+)`, "m").exec(await (await fetch(`${a.base}/metrics`)).text())?.[1] ?? 0);
  expect(await count("teahouse_bus_latency_seconds")).toBeGreaterThan(0);
  expect(await count("teahouse_store_write_seconds")).toBeGreaterThan(0);
  // The store is probed every second.
  await within(3000, async () => (await count("teahouse_store_probe_seconds")) > 0);
  expect(await (await fetch(`${b.base}/readyz`)).json()).toEqual({ status: "ready" });
}, 30_000);

test("a rename on one instance shows on the other; sockets per account hold across instances", async () => {
  const [a, b] = await twoInstances();
  const guest = await signIn(a.base, "dora");
  const watcher = await signIn(b.base, "eve");
  const eve = await connect(b, watcher.cookie);
  await eve.next("list");
  const dora = await connect(a, guest.cookie);
  await eve.next("join", (f) => f.user.id === guest.user.id);
  // Registering the name (on B, where dora has no socket) is seen on both.
  const registered = await fetch(`${b.base}/signup`, {
    method: "POST",
    headers: { "content-type": "application/json", cookie: guest.cookie },
    body: JSON.stringify({ name: "dora", password: "correct horse battery" }),
  });
  expect(registered.status).toBe(200);
  expect((await eve.next("join", (f) => f.user.id === guest.user.id)).user.type).toBe("member");
  expect((await dora.next("list", (f) => f.user.type === "member")).data.map((u) => u.name)).toContain("dora");

  // The socket limit counts the account's sockets on every instance.
  const limit = a.teahouse.guards.gate;
  const max = 3;
  (limit as unknown as { limits: { maxSocketsPerUser: number } }).limits.maxSocketsPerUser = max;
  (b.teahouse.guards.gate as unknown as { limits: { maxSocketsPerUser: number } }).limits.maxSocketsPerUser = max;
  await connect(b, guest.cookie);
  await connect(b, guest.cookie);
  await within(3000, () => a.teahouse.cluster!.sockets(guest.user.id) === 2);
  await expect(Client.connect(a.wsUrl, guest.cookie)).rejects.toThrow();
}, 30_000);

test("a message the bus lost is delivered from the store within a second", async () => {
  const [a, b] = await twoInstances();
  const alice = await signIn(a.base, "alice");
  const bob = await signIn(b.base, "bob");
  const aliceA = await connect(a, alice.cookie);
  const bobB = await connect(b, bob.cookie);
  await bobB.next("history");
  // B stops hearing A's message announcements (as if Redis dropped them).
  const cluster = b.teahouse.hub.tail as unknown as { remote: (items: unknown[]) => void };
  const remote = cluster.remote.bind(cluster);
  cluster.remote = () => {};
  aliceA.send({ type: "chat", data: "lost on the bus", cid: "x1" });
  await aliceA.next("ack");
  const started = Date.now();
  expect((await bobB.next("chat", () => true, 3000)).data).toBe("lost on the bus");
  expect(Date.now() - started).toBeLessThan(2500);
  cluster.remote = remote;
}, 30_000);

test("limits hold across instances: password attempts per account, sign-ins per address, rooms per account", async () => {
  const [a, b] = await twoInstances({ passwordAttemptsPerMinute: 3, signInPerMinute: 8, roomCreationsPerHour: 2 });
  const dora = await signIn(a.base, "dora");
  await fetch(`${a.base}/signup`, {
    method: "POST",
    headers: { "content-type": "application/json", cookie: dora.cookie },
    body: JSON.stringify({ name: "dora", password: "correct horse battery" }),
  });
  const attempt = (base: string) =>
    fetch(`${base}/wsin`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "dora", password: "wrong guess" }),
    }).then((response) => response.status);
  // Three wrong passwords, split between the instances, use up the account's minute.
  expect([await attempt(a.base), await attempt(b.base), await attempt(a.base)]).toEqual([401, 401, 401]);
  expect(await attempt(b.base)).toBe(429);
  // Eight sign-in and sign-up requests from this address in all (six above), then 429 on either instance.
  const statuses = [];
  for (let i = 0; i < 4; i++)
    statuses.push(
      (
        await fetch(`${i % 2 ? a.base : b.base}/wsin`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ name: `guest${i}` }),
        })
      ).status,
    );
  expect(statuses.slice(0, 2)).toEqual([200, 200]);
  expect(statuses.slice(2)).toEqual([429, 429]);
  // Two rooms per hour per account, whichever instance creates them.
  const onA = await connect(a, dora.cookie);
  const onB = await connect(b, dora.cookie);
  onA.send({ type: "join", room: "one" });
  await onA.next("room", (f) => f.room === "one" && f.data.event === "joined");
  onB.send({ type: "join", room: "two" });
  await onB.next("room", (f) => f.room === "two" && f.data.event === "joined");
  onA.send({ type: "join", room: "three" });
  expect((await onA.next("error")).data.code).toBe("room_creation_limited");
}, 30_000);

test("a guest's name is held while it has a socket on any instance", async () => {
  const [a, b] = await twoInstances({ guestNameGraceMs: 0 });
  const fay = await signIn(a.base, "fay");
  const socket = await connect(a, fay.cookie);
  await socket.next("history");
  await within(3000, () => b.teahouse.cluster!.sockets(fay.user.id) === 1);
  // Another browser on B cannot take the name while fay is online on A.
  const taken = await fetch(`${b.base}/wsin`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: "fay" }),
  });
  expect(taken.status).toBe(409);
  socket.close();
  await within(3000, () => b.teahouse.cluster!.sockets(fay.user.id) === 0);
  expect((await signIn(b.base, "fay")).user.id).not.toBe(fay.user.id);
}, 30_000);

test("with history off on PostgreSQL, messages are still delivered on every instance", async () => {
  const [a, b] = await twoInstances({ history: false });
  const alice = await signIn(a.base, "alice");
  const bob = await signIn(b.base, "bob");
  const aliceA = await connect(a, alice.cookie);
  const bobB = await connect(b, bob.cookie);
  await aliceA.next("list");
  await bobB.next("list");
  aliceA.send({ type: "chat", data: "not stored", cid: "n1" });
  expect((await aliceA.next("chat")).data).toBe("not stored");
  expect((await bobB.next("chat")).data).toBe("not stored");
  expect((await aliceA.next("ack")).data.cid).toBe("n1");
}, 30_000);

test("an instance taken for gone (a stall) is asked for its presence when heard again: its users come back", async () => {
  const [a, b] = await twoInstances();
  const bob = await signIn(b.base, "bob");
  const alice = await signIn(a.base, "alice");
  const aliceA = await connect(a, alice.cookie);
  await aliceA.next("history");
  const bobB = await connect(b, bob.cookie);
  await aliceA.next("join", (f) => f.user.id === bob.user.id);
  // A forgets B as if B had been silent past the expiry (a stall), as its expiry would.
  (a.teahouse.cluster as unknown as { forget(from: string): void }).forget(b.teahouse.bus!.instance);
  expect((await aliceA.next("left", (f) => f.user.id === bob.user.id)).room).toBe("lobby");
  // B's next heartbeat makes A ask for B's state: bob is back for alice, and his sockets count again.
  expect((await aliceA.next("join", (f) => f.user.id === bob.user.id, 5000)).room).toBe("lobby");
  expect(a.teahouse.cluster!.sockets(bob.user.id)).toBe(1);
  bobB.close();
}, 30_000);

test("a sign-out whose news the bus lost still closes the session's sockets on the other instance", async () => {
  const [a, b] = await twoInstances();
  const alice = await signIn(a.base, "alice");
  const aliceB = await connect(b, alice.cookie);
  await aliceB.next("history");
  // The news is lost (as when the bus was down on A): only the store knows.
  const [sid] = b.teahouse.hub.registry.sessionIds();
  await a.teahouse.store.endSession(sid!);
  expect((await aliceB.waitClose(8000)).code).toBe(CloseCode.SignedOut);
}, 30_000);

test("within the grace, a room left on another instance is departed when the account comes back here", async () => {
  const [a, b] = await twoInstances({ presenceGraceMs: 800 });
  const alice = await signIn(a.base, "alice");
  const bob = await signIn(b.base, "bob");
  const laptop = await connect(a, alice.cookie);
  await laptop.next("history");
  laptop.send({ type: "join", room: "why" });
  await laptop.next("history", (f) => f.room === "why");
  const phone = await connect(b, alice.cookie);
  await phone.next("history", (f) => f.room === "why");
  const bobB = await connect(b, bob.cookie);
  bobB.send({ type: "join", room: "why" });
  await bobB.next("list", (f) => f.room === "why");
  // The laptop goes (grace), she leaves on the phone, and the laptop comes back and goes again.
  laptop.close();
  await Bun.sleep(100);
  phone.send({ type: "leave", room: "why" });
  await phone.next("room", (f) => f.room === "why" && f.data.event === "left");
  const back = await connect(a, alice.cookie);
  await back.next("history");
  back.close();
  expect((await bobB.next("left", (f) => f.room === "why" && f.user.id === alice.user.id, 3000)).room).toBe("why");
}, 30_000);

test("socket opens per account are counted across instances: 429 at the upgrade on either", async () => {
  const [a, b] = await twoInstances({ socketOpensPerMinute: 3 });
  const someone = await signIn(a.base, "opener");
  for (const running of [a, b, a]) (await connect(running, someone.cookie)).close();
  const upgrade = await fetch(`${b.base}/ws/chat`, {
    headers: {
      cookie: someone.cookie,
      connection: "Upgrade",
      upgrade: "websocket",
      "sec-websocket-version": "13",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
    },
  });
  expect(upgrade.status).toBe(429);
}, 30_000);

test("edits, deletions and reactions on one instance reach the other's clients in log order, interleaved with messages", async () => {
  const [a, b] = await twoInstances();
  const alice = await signIn(a.base, "alice");
  const bob = await signIn(b.base, "bob");
  const aliceA = await connect(a, alice.cookie);
  await aliceA.next("history", (f) => f.room === "lobby");
  const bobB = await connect(b, bob.cookie);
  await bobB.next("history", (f) => f.room === "lobby");
  aliceA.send({ type: "chat", data: "draft", cid: "x1" });
  const draft = await bobB.next("chat", (f) => f.data === "draft");
  // On A an edit, then a message; on B a reaction: every socket sees them in the log's order.
  aliceA.send({ type: "edit", id: draft.id, data: "final" });
  aliceA.send({ type: "chat", data: "after the edit", cid: "x2" });
  bobB.send({ type: "react", id: draft.id, emoji: "👍" });
  const kinds = new Set(["chat", "edit", "react"]);
  const logOf = (client: Client) => client.frames.filter((f) => kinds.has(f.type) && f.id > draft.id);
  await within(5000, () => logOf(aliceA).length >= 3 && logOf(bobB).length >= 3);
  const views = [aliceA, bobB].map((client) => logOf(client).map((f) => [f.type, f.id]));
  expect(views[0]).toEqual(views[1]!);
  const ids = views[0]!.map(([, id]) => id as number);
  expect(ids).toEqual([...ids].sort((x, y) => x - y));
  expect(bobB.frames.find((f) => f.type === "edit")!.data).toMatchObject({ id: draft.id, text: "final" });
  aliceA.send({ type: "delete", id: draft.id });
  expect((await bobB.next("delete")).data.id).toBe(draft.id);
  // bob, back on the other instance, resumes: the tombstone, not the text.
  const position = Math.max(...ids);
  bobB.close();
  const back = await connect(a, bob.cookie, `?since=${draft.id - 1}`);
  const missed = await back.next("history", (f) => f.room === "lobby");
  expect(missed.recovered).toBe(true);
  expect(missed.data.find((m) => m.id === draft.id)).toMatchObject({ data: "", deletedAt: expect.any(Number) });
  expect(missed.position.offset).toBeGreaterThan(position);
});

test("moderation crosses instances: a mute and slow mode set on A hold messages on B; a ban on A closes B's sockets with 4403", async () => {
  const [a, b] = await twoInstances();
  const admin = await signIn(a.base, "adam", { password: "correct horse", path: "/signup" });
  const guest = await signIn(b.base, "gus");
  const adminA = await connect(a, admin.cookie);
  await adminA.next("history", (f) => f.room === "lobby");
  const guestB = await connect(b, guest.cookie);
  await guestB.next("history", (f) => f.room === "lobby");
  const answer = async (client: Client, data: string) => {
    const cid = `c${Math.random().toString(36).slice(2)}`;
    client.send({ type: "chat", data, cid });
    await within(3000, () =>
      client.frames.some((f) => (f.type === "ack" || f.type === "error") && (f.data as { cid?: string }).cid === cid),
    );
    return client.frames.find(
      (f) => (f.type === "ack" || f.type === "error") && (f.data as { cid?: string }).cid === cid,
    )!;
  };
  adminA.send({ type: "mute", room: "lobby", user: guest.user.id, seconds: 60 });
  expect((await guestB.next("muted")).data.until).toBeGreaterThan(Date.now());
  const muted = await answer(guestB, "from B while muted");
  expect(muted.type === "error" && muted.data.code).toBe("muted");
  adminA.send({ type: "mute", room: "lobby", user: guest.user.id, seconds: 0 });
  await guestB.next("muted", (f) => f.data.until === 0);
  expect((await answer(guestB, "free")).type).toBe("ack");
  adminA.send({ type: "room_settings", room: "lobby", slow: 30 });
  expect((await guestB.next("room_settings")).data.slow).toBe(30);
  expect((await answer(guestB, "one")).type).toBe("ack");
  const slowed = await answer(guestB, "two");
  expect(slowed.type === "error" && slowed.data.code).toBe("slow_mode");
  const moderation = a.teahouse.moderation;
  await moderation.ban(await moderation.actorOf({ id: admin.user.id, kind: "member" }), guest.user.id);
  expect((await guestB.waitClose()).code).toBe(CloseCode.Banned);
});
