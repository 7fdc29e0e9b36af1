/**
 * Presence that costs O(changes): small rooms keep `join`/`left`/`list`;
 * bigger ones get one batched `presence` frame a second; big ones send who
 * came and went only to sockets that asked for the member list, which is
 * paged. A reload within the grace is neither a leave nor a join. Whatever
 * the sequence, what a client rebuilds from the frames is who is online.
 */
import { expect, test } from "bun:test";
import type { ServerFrame } from "../src/protocol";
import { PRESENCE_INTERVAL_MS } from "../src/chat/hub";
import { Client, signIn, trackApps, type Running, type SignedIn } from "./helpers";
import { RawSocket } from "./raw";
import { OpenPacer } from "../src/security/pacer";

const { start, connect } = trackApps();

/** Who is online in the lobby, as a client rebuilds it from the frames it got. */
class View {
  readonly online = new Map<number, string>();
  count = 0;
  frames: ServerFrame[] = [];
  apply(frames: ServerFrame[]): void {
    for (const frame of frames) {
      this.frames.push(frame);
      if (frame.type === "list" && frame.room === "lobby") {
        this.count = frame.count ?? frame.data.length;
        if (!frame.more) {
          this.online.clear();
          for (const user of frame.data) this.online.set(user.id, user.name);
        }
      } else if (frame.type === "join" && frame.room === "lobby") this.online.set(frame.user.id, frame.user.name);
      else if (frame.type === "left" && frame.room === "lobby") this.online.delete(frame.user.id);
      else if (frame.type === "presence" && frame.room === "lobby") {
        this.count = frame.data.count;
        for (const user of frame.data.joined ?? []) this.online.set(user.id, user.name);
        for (const id of frame.data.left ?? []) this.online.delete(id);
      } else if (frame.type === "members" && frame.room === "lobby")
        for (const user of frame.data) this.online.set(user.id, user.name);
    }
  }
}

const people = async (running: Running, n: number, prefix: string): Promise<SignedIn[]> => {
  const out: SignedIn[] = [];
  for (let i = 0; i < n; i++) out.push(await signIn(running.base, `${prefix}${i}`));
  return out;
};

test("a reload or reconnect within the grace is neither a leave nor a join; gone for good, a left after it", async () => {
  const running = await start({ presenceGraceMs: 800 });
  const [watcher, alice] = await people(running, 2, "p");
  const eve = await connect(running, watcher!.cookie);
  await eve.next("history");
  const first = await connect(running, alice!.cookie);
  await eve.next("join", (f) => f.user.id === alice!.user.id);
  first.close();
  await Bun.sleep(200);
  const second = await connect(running, alice!.cookie);
  await second.next("history");
  await Bun.sleep(1000);
  expect(eve.frames.filter((f) => f.type === "join" || f.type === "left")).toEqual([]);
  second.close();
  const closedAt = Date.now();
  await eve.next("left", (f) => f.user.id === alice!.user.id, 3000);
  expect(Date.now() - closedAt).toBeGreaterThanOrEqual(700);
});

test("above the full size, arrivals and departures come batched, at most one frame a second; the picture stays right", async () => {
  const running = await start({ presenceFullRoomSize: 3, presenceBigRoomSize: 1000, signInPerMinute: 1000 });
  const [watcher, ...rest] = await people(running, 9, "q");
  const eve = await connect(running, watcher!.cookie);
  await eve.next("history");
  // eve watches the member list: who comes and goes reaches her (the room gets the counts).
  eve.send({ type: "members", watch: true });
  await eve.next("members");
  const view = new View();
  const sockets: Client[] = [];
  for (const person of rest) {
    const socket = await connect(running, person.cookie);
    await socket.next("history");
    sockets.push(socket);
  }
  // Some go, one comes back on a second tab, one opens two tabs and closes one.
  sockets[0]!.close();
  sockets[1]!.close();
  const again = await connect(running, rest[1]!.cookie);
  await again.next("history");
  const extra = await connect(running, rest[2]!.cookie);
  await extra.next("history");
  extra.close();
  await Bun.sleep(PRESENCE_INTERVAL_MS + 300);
  view.apply(eve.frames.splice(0));
  const joins = view.frames.filter((f) => f.type === "join");
  const toRoom = view.frames.filter((f) => f.type === "presence" && !f.data.listOnly);
  // Two arrivals one by one (the room had 1, then 2, then 3), the rest in batches: small ones to the
  // room (counts), the names to the list's watcher.
  expect(joins.length).toBe(2);
  expect(toRoom.length).toBeGreaterThanOrEqual(1);
  expect(toRoom.length).toBeLessThanOrEqual(3);
  for (const frame of toRoom) if (frame.type === "presence") expect(frame.data.joined).toBeUndefined();
  const arrived = toRoom.reduce((sum, f) => sum + (f.type === "presence" ? (f.data.arrived ?? 0) : 0), 0);
  expect(arrived).toBeGreaterThanOrEqual(6);
  const truth = [watcher!, ...rest.slice(1)].map((p) => p.user.id).sort((a, b) => a - b);
  view.online.set(watcher!.user.id, watcher!.user.name);
  expect([...view.online.keys()].sort((a, b) => a - b)).toEqual(truth);
  expect(view.count).toBe(truth.length);
  // A newcomer's list says how many, and that the members come page by page.
  const late = await signIn(running.base, "late");
  const newcomer = await connect(running, late.cookie);
  const list = await newcomer.next("list");
  expect(list).toMatchObject({ data: [], count: truth.length + 1, more: true });
});

test("a big room: the count for everyone, who came and went for those who asked; members paged", async () => {
  const running = await start({ presenceFullRoomSize: 2, presenceBigRoomSize: 4, signInPerMinute: 1000 });
  const [quiet, curious, ...rest] = await people(running, 8, "r");
  const q = await connect(running, quiet!.cookie);
  const c = await connect(running, curious!.cookie);
  await q.next("history");
  await c.next("history");
  for (const person of rest.slice(0, 4)) await (await connect(running, person.cookie)).next("history");
  await Bun.sleep(PRESENCE_INTERVAL_MS + 300);
  // Six online: big. The curious one asks for the members, page by page (100 a page: one page here).
  c.send({ type: "members", watch: true });
  const page = await c.next("members");
  expect(page.count).toBe(6);
  expect(page.data.map((u) => u.id)).toEqual(
    [quiet!, curious!, ...rest.slice(0, 4)].map((p) => p.user.id).sort((a, b) => a - b),
  );
  expect(page.next).toBeUndefined();
  c.send({ type: "members", after: page.data[2]!.id });
  expect((await c.next("members")).data.map((u) => u.id)).toEqual(page.data.slice(3).map((u) => u.id));
  q.frames.splice(0);
  c.frames.splice(0);
  // Two more arrive.
  for (const person of rest.slice(4)) await (await connect(running, person.cookie)).next("history");
  await Bun.sleep(PRESENCE_INTERVAL_MS + 300);
  const quietFrames = q.frames.filter((f) => f.type === "presence");
  expect(quietFrames.map((f) => f.data)).toEqual([{ count: 8 }]);
  const curiousFrames = c.frames.filter((f) => f.type === "presence");
  const joined = curiousFrames.flatMap((f) => (f.type === "presence" ? (f.data.joined ?? []) : [])).map((u) => u.id);
  expect(joined.sort((a, b) => a - b)).toEqual(rest.slice(4).map((p) => p.user.id));
  // Nobody got a join or left frame per person.
  expect([...q.frames, ...c.frames].some((f) => f.type === "join" || f.type === "left")).toBe(false);
});

test("an open's history stays within its byte budget: the rest comes empty with recovered: false, and paging brings it", async () => {
  const running = await start({
    openBudgetBytes: 64 * 1024,
    maxRoomsPerUser: 20,
    ratePerSecond: 1000,
    rateBurst: 1000,
    userRatePerSecond: 1000,
    userRateBurst: 1000,
  });
  const writer = await signIn(running.base, "writer");
  const w = await connect(running, writer.cookie);
  await w.next("history");
  const long = "x".repeat(1500);
  // Five rooms of 40 long messages: about 300 KiB of history in all.
  for (const room of ["a1", "a2", "a3", "a4", "a5"]) {
    w.send({ type: "join", room });
    await w.next("history", (f) => f.room === room);
    for (let i = 0; i < 40; i++) w.send({ type: "chat", room, data: `${room} ${i} ${long}`, cid: `${room}-${i}` });
    for (let i = 0; i < 40; i++) await w.next("ack");
  }
  w.close();
  await w.waitClose();
  const back = await connect(running, writer.cookie, "?since=0");
  const frames: ServerFrame[] = [];
  while (frames.filter((f) => f.type === "history").length < 7) frames.push(await back.next("history"));
  const bytes = frames.reduce((sum, f) => sum + JSON.stringify(f).length, 0);
  expect(bytes).toBeLessThan(64 * 1024 + 4096);
  const rooms = frames.filter((f) => f.type === "history" && f.room?.startsWith("a"));
  expect(rooms.length).toBe(5);
  const empty = rooms.filter((f) => f.type === "history" && f.data.length === 0);
  expect(empty.length).toBeGreaterThan(0);
  for (const f of empty) expect(f).toMatchObject({ recovered: false, more: true });
  // Paging back brings an emptied room's messages.
  const emptied = empty[0]!.type === "history" ? empty[0]!.room! : "";
  back.send({ type: "history", room: emptied });
  const page = await back.next("history", (f) => f.room === emptied && f.data.length > 0);
  expect(page.data.at(-1)!.data).toStartWith(`${emptied} 39 `);
});

test("socket opens are rate-limited per account: 429 at the upgrade, with Retry-After", async () => {
  const running = await start({ socketOpensPerMinute: 3 });
  const someone = await signIn(running.base, "opener");
  for (let i = 0; i < 3; i++) (await connect(running, someone.cookie)).close();
  const refused = await fetch(`${running.base}/ws/chat`, {
    headers: {
      cookie: someone.cookie,
      connection: "Upgrade",
      upgrade: "websocket",
      "sec-websocket-version": "13",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
    },
  });
  expect(refused.status).toBe(429);
  expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
  expect(((await refused.json()) as { error: string }).error).toBe("rate_limited");
});

test("opens take at most their budget of an event-loop turn; the next turn has a fresh one", async () => {
  let now = 0;
  const pacer = new OpenPacer(20, () => now);
  expect(pacer.admit()).toBe(true);
  now = 19;
  expect(pacer.admit()).toBe(true);
  now = 20;
  expect(pacer.admit()).toBe(false);
  await new Promise((resolve) => setImmediate(resolve));
  expect(pacer.admit()).toBe(true);
  expect(new OpenPacer(0, () => now).admit()).toBe(true);
});

test("a storm of upgrades in one turn: past the turn's budget, 503 busy with Retry-After; those come back and get in", async () => {
  const running = await start({ openTurnBudgetMs: 1, signInPerMinute: 1000, socketOpensPerIpPerMinute: 1000 });
  const crowd = await people(running, 60, "storm");
  // Every connection made first, then every upgrade request written at once: they arrive together.
  const port = Number(new URL(running.base).port);
  const sockets = await Promise.all(crowd.map(() => RawSocket.connect(port)));
  sockets.forEach((raw, i) =>
    raw.write(
      `GET /ws/chat HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\nupgrade: websocket\r\nconnection: Upgrade\r\n` +
        `sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\ncookie: ${crowd[i]!.cookie}\r\n\r\n`,
    ),
  );
  const heads = await Promise.all(sockets.map((raw) => raw.readHead(10_000)));
  const status = (head: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
  const busy = heads.flatMap((head, i) => (status(head) === 503 ? [i] : []));
  expect(busy.length).toBeGreaterThan(0);
  expect(heads.every((head) => status(head) === 101 || status(head) === 503)).toBe(true);
  for (const i of busy) expect(heads[i]!.toLowerCase()).toContain("retry-after: 1");
  // Counted for the operator.
  const metrics = await (await fetch(`${running.base}/metrics`)).text();
  expect(Number(/^teahouse_socket_opens_busy_total (\d+)$/m.exec(metrics)?.[1])).toBe(busy.length);
  for (const raw of sockets) raw.socket.destroy();
  // One at a time, each refused one gets in.
  for (const i of busy) {
    const client = await connect(running, crowd[i]!.cookie);
    expect((await client.next("conversations")).type).toBe("conversations");
    client.close();
  }
});

test("rooms in all are capped: one more is refused with room_limit_reached, joining existing ones still works", async () => {
  const running = await start({ maxRooms: 3, roomCreationsPerHour: 100 });
  const maker = await signIn(running.base, "maker");
  const m = await connect(running, maker.cookie);
  await m.next("history");
  for (const room of ["one", "two"]) {
    m.send({ type: "join", room });
    await m.next("history", (f) => f.room === room);
  }
  m.send({ type: "join", room: "three" });
  expect((await m.next("error")).data.code).toBe("room_limit_reached");
  const other = await signIn(running.base, "other");
  const o = await connect(running, other.cookie);
  o.send({ type: "join", room: "one" });
  expect((await o.next("history", (f) => f.room === "one")).room).toBe("one");
});

test("a spent budget still says recovered: true for conversations that missed nothing", async () => {
  const running = await start({
    openBudgetBytes: 64 * 1024,
    ratePerSecond: 1000,
    rateBurst: 1000,
    userRatePerSecond: 1000,
    userRateBurst: 1000,
  });
  const writer = await signIn(running.base, "writer2");
  const w = await connect(running, writer.cookie);
  await w.next("history");
  const long = "x".repeat(1500);
  let firstRoomLast = 0;
  for (const room of ["b1", "b2", "b3", "b4"]) {
    w.send({ type: "join", room });
    await w.next("history", (f) => f.room === room);
    for (let i = 0; i < 40; i++) w.send({ type: "chat", room, data: `${room} ${i} ${long}`, cid: `${room}-${i}` });
    for (let i = 0; i < 40; i++) {
      const ack = await w.next("ack");
      if (room === "b1") firstRoomLast = ack.data.id;
    }
  }
  w.close();
  await w.waitClose();
  // Resuming after b1: b2..b4 missed far more than the budget; the lobby, b1 and the direct messages missed nothing.
  const back = await connect(running, writer.cookie, `?since=${firstRoomLast}`);
  const frames: ServerFrame[] = [];
  while (frames.length < 6) frames.push(await back.next("history"));
  const byRoom = new Map(frames.map((f) => [f.type === "history" ? (f.room ?? "direct") : "", f]));
  for (const quiet of ["lobby", "b1", "direct"]) expect(byRoom.get(quiet)).toMatchObject({ recovered: true });
  expect(frames.some((f) => f.type === "history" && f.recovered === false)).toBe(true);
});

test("a name registered while within the grace (no socket open) is announced when the account comes back", async () => {
  const running = await start({ presenceGraceMs: 1500 });
  const watcher = await signIn(running.base, "watch");
  const w = await connect(running, watcher.cookie);
  await w.next("history");
  const guest = await signIn(running.base, "dora");
  const first = await connect(running, guest.cookie);
  await first.next("history");
  await w.next("join", (f) => f.user.name === "dora");
  first.close();
  await first.waitClose();
  const registered = await fetch(`${running.base}/signup`, {
    method: "POST",
    headers: { "content-type": "application/json", cookie: guest.cookie },
    body: JSON.stringify({ name: "dora", password: "correct horse battery" }),
  });
  expect(registered.status).toBe(200);
  const second = await connect(running, guest.cookie);
  await second.next("history");
  expect((await w.next("join", (f) => f.user.id === guest.user.id, 2000)).user.type).toBe("member");
});
