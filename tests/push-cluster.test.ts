/**
 * Web Push with two instances on PostgreSQL and Redis: a push is sent once, by the instance that
 * stored the message, and only while none of the account's pages is in front of it on any instance
 * (visibility crosses the bus).
 */
import { afterAll, expect, test } from "bun:test";
import type { Config } from "../src/config";
import type { PushPayload } from "../src/protocol";
import { signIn, trackApps, within, type Running } from "./helpers";
import { useClusterServices } from "./cluster-services";
import { TestBrowser, TestPushService } from "./push-service";

const services = useClusterServices();
const pushService = new TestPushService();
afterAll(() => pushService.dispose());
const apps = trackApps();
const start = (overrides: Partial<Config>): Promise<Running> =>
  apps.start({ pushAllowPrivateEndpoints: true, ...overrides }, { pushCa: pushService.ca });

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
  const aliceA = await apps.connect(a, alice.cookie);
  const bobB = await apps.connect(b, bob.cookie);
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
