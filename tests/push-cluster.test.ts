/**
 * Web Push with two instances on PostgreSQL and Redis: a push is sent once, by the instance that
 * stored the message, and only while none of the account's pages is in front of it on any instance
 * (visibility crosses the bus).
 */
import { afterAll, afterEach, expect, test } from "bun:test";
import { createApp } from "../src/app";
import type { Config } from "../src/config";
import { createLogger } from "../src/log";
import { CHAT_SOCKET_PATH, type PushPayload } from "../src/protocol";
import { Client, signIn, testConfig, within, type Running } from "./helpers";
import { useClusterServices } from "./cluster-services";
import { TestBrowser, TestPushService } from "./push-service";

const services = useClusterServices();
const pushService = new TestPushService();
afterAll(() => pushService.dispose());
const apps: Running[] = [];
const sockets: Client[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.close();
  for (const running of apps.splice(0)) await running.stop();
});

const start = async (overrides: Partial<Config>): Promise<Running> => {
  const config = testConfig({ pushAllowPrivateEndpoints: true, ...overrides });
  const teahouse = createApp(config, { log: createLogger(config.logLevel), pushCa: pushService.ca });
  const server = teahouse.listen();
  const running: Running = {
    teahouse,
    base: `http://127.0.0.1:${server.port}`,
    wsUrl: `ws://127.0.0.1:${server.port}${CHAT_SOCKET_PATH}`,
    stop: () => teahouse.stop(),
  };
  apps.push(running);
  await teahouse.started;
  return running;
};

test("a page in front on one instance holds back pushes for messages stored on the other; hidden, each is pushed once", async () => {
  const [a, b] = await services.twoInstances(start);
  const alice = await signIn(a.base, "alice");
  const bob = await signIn(b.base, "bob");
  const browser = new TestBrowser(pushService, "bob");
  const subscribed = await fetch(`${b.base}/push/subscribe`, {
    method: "POST",
    headers: { "content-type": "application/json", cookie: bob.cookie },
    body: JSON.stringify(browser.subscription),
  });
  expect(subscribed.status).toBe(201);
  const aliceA = await Client.connect(a.wsUrl, alice.cookie);
  const bobB = await Client.connect(b.wsUrl, bob.cookie);
  sockets.push(aliceA, bobB);
  await aliceA.next("join", (f) => f.user.id === bob.user.id);
  const say = async (data: string, cid: string) => {
    aliceA.send({ type: "chat", data, cid });
    await aliceA.next("ack", (f) => f.data.cid === cid);
    await bobB.next("chat", (f) => f.data === data);
    await Promise.all([a.teahouse.push!.settled(), b.teahouse.push!.settled()]);
  };
  await say("@bob seen on B", "1");
  expect(pushService.at(browser.path)).toHaveLength(0);
  bobB.send({ type: "visibility", visible: false });
  await within(3000, () => !a.teahouse.hub.visible(bob.user.id));
  await say("@bob hidden on B", "2");
  await within(3000, () => pushService.at(browser.path).length >= 1);
  await Bun.sleep(200);
  await Promise.all([a.teahouse.push!.settled(), b.teahouse.push!.settled()]);
  const pushes = pushService.at(browser.path).map((push) => browser.read(push) as PushPayload);
  expect(pushes).toHaveLength(1);
  expect(pushes[0]).toMatchObject({ text: "@bob hidden on B", from: "alice", mention: true });
  // In front again on B: A knows within a moment.
  bobB.send({ type: "visibility", visible: true });
  await within(3000, () => a.teahouse.hub.visible(bob.user.id));
});
