/**
 * The compose deployment's shape, with real processes: nginx (deploy/nginx.conf,
 * its upstream listing two instances) in front of two teahouse instances on
 * one PostgreSQL and one Redis. People signing in through nginx land on
 * either instance and talk as if there were one; when an instance stops,
 * nginx sends the reconnecting clients to the other, and they resume.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { CHAT_SOCKET_PATH, CloseCode } from "../src/protocol";
import { Client, signIn, within } from "./helpers";
import { startNginx, type TestNginx } from "./nginx";
import { TestPostgres } from "./postgres";
import { TestRedis } from "./redis";
import { spawnServer, type ServerProcess } from "./process";

const postgres = new TestPostgres();
const redis = new TestRedis();
let nginx: TestNginx;
let instances: ServerProcess[] = [];

beforeAll(async () => {
  await Promise.all([postgres.start(), redis.start()]);
  const env = {
    DATABASE_URL: await postgres.database(),
    REDIS_URL: redis.url,
    SECRET: "nginx-cluster-secret-that-is-long-enough",
    TRUST_PROXY: "127.0.0.1",
  };
  // Both at once on the empty database: the migrations' lock lets one migrate and the other wait.
  instances = await Promise.all([spawnServer([], { env }), spawnServer([], { env })]);
  nginx = await startNginx(instances.map((instance) => instance.port));
}, 60_000);

afterAll(async () => {
  await nginx?.stop();
  for (const instance of instances) instance.proc.kill("SIGTERM");
  await Promise.all(instances.map((instance) => instance.proc.exited));
  await Promise.all([postgres.dispose(), redis.dispose()]);
});

/** Sockets open on one instance (its /metrics, asked directly, not through nginx). */
const socketsOn = async (instance: ServerProcess): Promise<number> => {
  const text = await (await fetch(`${instance.base}/metrics`)).text();
  return Number(/^teahouse_connections (\d+)/m.exec(text)?.[1] ?? 0);
};

test("through nginx, people on two instances talk as on one; an instance stopping sends its clients to the other", async () => {
  const ws = `${nginx.base.replace("http", "ws")}${CHAT_SOCKET_PATH}`;
  const people = await Promise.all(["alice", "bob", "carol", "dan"].map((name) => signIn(nginx.base, name)));
  const clients: Client[] = [];
  for (const person of people) {
    const client = await Client.connect(ws, person.cookie);
    await client.next("history");
    clients.push(client);
  }
  // nginx spreads them (round robin): both instances serve some.
  await within(3000, async () => (await socketsOn(instances[0]!)) > 0 && (await socketsOn(instances[1]!)) > 0);
  // Whichever instance a new socket lands on, its list has everyone.
  await Bun.sleep(300);
  const fifth = await Client.connect(ws, people[0]!.cookie);
  expect((await fifth.next("list")).data.map((user) => user.name).sort()).toEqual(["alice", "bob", "carol", "dan"]);
  clients.push(fifth);
  clients[1]!.send({ type: "chat", data: "hello everyone", cid: "h1" });
  for (const client of clients) expect((await client.next("chat", () => true, 5000)).data).toBe("hello everyone");

  // One instance stops (SIGTERM): its sockets get 1001; through nginx they come back to the other.
  const [first, second] = instances;
  const on = await socketsOn(first!);
  first!.proc.kill("SIGTERM");
  await first!.proc.exited;
  await within(5000, () => clients.filter((client) => client.closed).length === on);
  const dropped = clients.filter((client) => client.closed);
  for (const client of dropped) expect(client.closed!.code).toBe(CloseCode.GoingAway);
  const again = await Client.connect(ws, people[0]!.cookie);
  expect((await again.next("history", (f) => f.room === "lobby")).data.map((m) => m.data)).toEqual(["hello everyone"]);
  expect(await socketsOn(second!)).toBe(clients.length - on + 1);
  instances = [second!];
  for (const client of [...clients, again]) client.close();
}, 60_000);
