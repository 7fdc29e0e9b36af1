/**
 * Several instances behind one real Redis: fan-out, one user list, private
 * messages, sessions and sign-out across instances, resume on another
 * instance, an instance killed with SIGKILL, and Redis restarting.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { RedisClient } from "bun";
import { CloseCode } from "../src/protocol";
import { HEARTBEAT_INTERVAL_MS, HEARTBEAT_TTL_MS, KEY_PREFIX, type RedisBroker } from "../src/broker/redis";
import { signIn, trackApps } from "./helpers";
import { spawnServer, waitUntilServing, type ServerProcess } from "./process";
import { TestRedis } from "./redis";

const SECRET = "cluster-shared-secret-0123456789";
const redis = new TestRedis();
beforeAll(() => redis.start());
afterAll(() => redis.dispose());

const procs: ServerProcess[] = [];
const apps = trackApps();
const instance = () => apps.start({ redisUrl: redis.url, secrets: [SECRET] });
const connect = apps.connect;
afterEach(async () => {
  for (const server of procs.splice(0)) server.proc.kill("SIGKILL");
  const client = new RedisClient(redis.url);
  await client.send("FLUSHALL", []);
  client.close();
});

/** Two instances: alice connected to the first, bob to the second, both past their `list`. */
const aliceOnOneBobOnTwo = async () => {
  const [one, two] = [await instance(), await instance()];
  const alice = await signIn(one.base, "alice");
  const bob = await signIn(two.base, "bob");
  const a = await connect(one, alice.cookie);
  await a.next("list");
  const b = await connect(two, bob.cookie);
  await b.next("list");
  return { one, two, alice, bob, a, b };
};

describe("two instances, one Redis", () => {
  test("clients on different instances chat, share one user list and exchange private messages", async () => {
    const [one, two] = [await instance(), await instance()];
    const alice = await signIn(one.base, "alice");
    const bob = await signIn(two.base, "bob");
    // The name is taken cluster-wide.
    expect(
      (await fetch(`${two.base}/wsin`, { method: "POST", body: new URLSearchParams({ name: "alice" }) })).status,
    ).toBe(409);

    const a = await connect(one, alice.cookie);
    await a.next("list");
    const b = await connect(two, bob.cookie);
    expect((await b.next("list")).data.map((u) => u.name).sort()).toEqual(["alice", "bob"]);
    // Through Redis, alice's own join may reach her after her list: wait for bob's.
    expect((await a.next("join", (f) => f.user.name === "bob")).room).toBe("lobby");
    // alice opens a second tab on the other instance: no second join.
    const a2 = await connect(two, alice.cookie);
    expect((await a2.next("list")).data.map((u) => u.name).sort()).toEqual(["alice", "bob"]);

    a.send("from one");
    b.send("from two");
    for (const client of [a, a2, b]) {
      const got = [(await client.next("chat")).data, (await client.next("chat")).data];
      expect(got.sort()).toEqual(["from one", "from two"]);
    }
    expect((await b.drain(200)).filter((f) => f.type === "join" || f.type === "chat")).toEqual([]);

    b.send({ type: "private", to: alice.user.id, data: "psst" });
    expect((await a.next("private")).data).toBe("psst");
    expect((await a2.next("private")).data).toBe("psst");
    expect((await b.next("private")).data).toBe("psst");

    // alice leaves only when her last tab, on either instance, closes.
    a.close();
    expect((await b.drain(300)).filter((f) => f.type === "left")).toEqual([]);
    a2.close();
    expect((await b.next("left")).user.name).toBe("alice");
  });

  test("a session made on one instance works on the other, and sign-out there closes sockets everywhere", async () => {
    const [one, two] = [await instance(), await instance()];
    const alice = await signIn(one.base, "alice");
    const me = await fetch(`${two.base}/wsme`, { headers: { cookie: alice.cookie } });
    expect(((await me.json()) as { user: { id: number } }).user.id).toBe(alice.user.id);
    const onOne = await connect(one, alice.cookie);
    const onTwo = await connect(two, alice.cookie);
    await fetch(`${two.base}/wsout`, { method: "POST", headers: { cookie: alice.cookie } });
    expect((await onOne.waitClose()).code).toBe(CloseCode.SignedOut);
    expect((await onTwo.waitClose()).code).toBe(CloseCode.SignedOut);
    expect((await fetch(`${one.base}/wsme`, { headers: { cookie: alice.cookie } })).status).toBe(401);
  });

  test("a client resumes on a different instance without gaps or duplicates", async () => {
    const [one, two] = [await instance(), await instance()];
    const alice = await signIn(one.base, "alice");
    const bob = await signIn(one.base, "bob");
    const a = await connect(one, alice.cookie);
    const b = await connect(one, bob.cookie);
    b.send("before");
    const seen = await a.next("chat");
    a.close();
    for (const text of ["m1", "m2", "m3"]) b.send(text);
    await b.next("chat", (f) => f.data === "m3");
    const back = await connect(two, alice.cookie, `?since=${seen.id}&rooms=lobby`);
    const missed = await back.next("history", (f) => f.room === "lobby");
    expect(missed.recovered).toBe(true);
    expect(missed.data.map((m) => m.data)).toEqual(["m1", "m2", "m3"]);
    b.send("live");
    expect((await back.next("chat")).data).toBe("live");
    expect((await back.drain(200)).filter((f) => f.type === "chat")).toEqual([]);
  });
});

describe("joining while messages flow", () => {
  test("history on join and live messages never overlap (no message twice)", async () => {
    const lifted = { ratePerSecond: 100_000, rateBurst: 100_000, userRatePerSecond: 100_000, userRateBurst: 100_000 };
    const one = await apps.start({ redisUrl: redis.url, secrets: [SECRET], ...lifted });
    const bob = await signIn(one.base, "bob");
    const alice = await signIn(one.base, "alice");
    const b = await connect(one, bob.cookie);
    await b.next("list");
    let streaming = true;
    const stream = (async () => {
      for (let i = 0; streaming && i < 3000; i++) {
        b.send(`m${i}`);
        if (i % 20 === 0) await Bun.sleep(1);
      }
    })();
    for (let round = 0; round < 8; round++) {
      const a = await connect(one, alice.cookie);
      const frames = await a.drain(150); // everything, live messages before the history frame included
      const history = frames.find((f) => f.type === "history" && f.room === "lobby");
      if (history?.type !== "history") throw new Error("no lobby history");
      const seen = new Set(history.data.map((m) => m.id));
      const live = frames.filter((f) => f.type === "chat").map((f) => f.id);
      expect(live.filter((id) => seen.has(id))).toEqual([]);
      a.close();
    }
    streaming = false;
    await stream;
  }, 30_000);
});

describe("failures", () => {
  test("an instance that loses Redis and comes back announces its users' left (they did not return)", async () => {
    const { one, alice, a, b } = await aliceOnOneBobOnTwo();
    // Cut only instance one's connections to Redis.
    const id = (one.teahouse.broker as RedisBroker).instanceId;
    const client = new RedisClient(redis.url);
    const list = (await client.send("CLIENT", ["LIST"])) as string;
    const ids = list
      .split("\n")
      .filter((line) => line.includes(`name=teahouse-${id}`))
      .map((line) => /(?:^| )id=(\d+)/.exec(line)![1]!);
    expect(ids.length).toBe(2);
    for (const clientId of ids) await client.send("CLIENT", ["KILL", "ID", clientId]);
    client.close();
    expect((await a.waitClose(5000)).code).toBe(CloseCode.TryAgainLater);
    // alice does not come back: once instance one is connected again, bob learns she left.
    expect((await b.next("left", (f) => f.user.name === "alice", 10_000)).room).toBe("lobby");
  }, 30_000);

  test("an instance taken for dead (missed heartbeats) closes its sockets with 1013 so clients register again", async () => {
    const { one, alice, a, b } = await aliceOnOneBobOnTwo();
    const id = (one.teahouse.broker as RedisBroker).instanceId;
    const client = new RedisClient(redis.url);
    // Make instance one look dead until another instance has reaped it.
    const deadline = Date.now() + 10_000;
    while ((await client.send("SISMEMBER", [`${KEY_PREFIX}instances`, id])) === 1 && Date.now() < deadline) {
      await client.send("DEL", [`${KEY_PREFIX}instance:${id}:alive`]);
      await Bun.sleep(20);
    }
    client.close();
    expect((await b.next("left", (f) => f.user.name === "alice", 5000)).room).toBe("lobby");
    expect((await a.waitClose(HEARTBEAT_INTERVAL_MS * 3)).code).toBe(CloseCode.TryAgainLater);
    // alice comes back and is present again for bob.
    const again = await connect(one, alice.cookie);
    await again.next("list");
    expect((await b.next("join", (f) => f.user.name === "alice")).room).toBe("lobby");
  }, 30_000);

  test("a Redis that lost its script cache (SCRIPT FLUSH) still takes messages", async () => {
    const one = await instance();
    const alice = await signIn(one.base, "alice");
    const a = await connect(one, alice.cookie);
    await a.next("list");
    const client = new RedisClient(redis.url);
    await client.send("SCRIPT", ["FLUSH"]);
    client.close();
    a.send({ type: "chat", data: "after flush", cid: "f1" });
    expect((await a.next("chat")).data).toBe("after flush");
    expect((await a.next("ack")).data.cid).toBe("f1");
  });

  test("an instance killed with SIGKILL: its users leave within the heartbeat bound", async () => {
    const one = await instance();
    const doomed = await spawnServer(["--redis-url", redis.url, "--secret", SECRET, "--data-dir", ":memory:"], {
      env: { LOG_LEVEL: "info" },
    });
    procs.push(doomed);
    await waitUntilServing(doomed.base);
    const alice = await signIn(doomed.base, "alice");
    const bob = await signIn(one.base, "bob");
    const b = await connect(one, bob.cookie);
    await b.next("list");
    await connect(doomed, alice.cookie);
    expect((await b.next("join")).user.name).toBe("alice");

    const killedAt = Date.now();
    doomed.proc.kill("SIGKILL");
    const bound = HEARTBEAT_TTL_MS + 2 * HEARTBEAT_INTERVAL_MS;
    const left = await b.next("left", () => true, bound + 2000);
    expect(left.user.name).toBe("alice");
    expect(Date.now() - killedAt).toBeLessThanOrEqual(bound + 1000);
    b.send({ type: "rooms" });
    expect((await b.next("rooms")).data).toContainEqual({ name: "lobby", members: 1 });
  }, 30_000);

  test("Redis stopping closes sockets with 1013 and not-ready; when it returns, instances recover by themselves", async () => {
    const one = await instance();
    const alice = await signIn(one.base, "alice");
    const a = await connect(one, alice.cookie);
    await a.next("list");
    await redis.stop();
    expect((await a.waitClose(5000)).code).toBe(CloseCode.TryAgainLater);
    expect(one.teahouse.broker.ready()).toBe(false);
    await redis.start();
    const deadline = Date.now() + 10_000;
    while (!one.teahouse.broker.ready() && Date.now() < deadline) await Bun.sleep(100);
    expect(one.teahouse.broker.ready()).toBe(true);
    // The session was kept (Redis persistence); chat works again.
    const again = await connect(one, alice.cookie);
    expect((await again.next("list")).data.map((u) => u.name)).toEqual(["alice"]);
    again.send("back");
    expect((await again.next("chat")).data).toBe("back");
  }, 30_000);
});
