/**
 * The chat page in real Chromium against two instances on one PostgreSQL and
 * one Redis: people on different instances see one room, one user list and
 * one conversation, and a reload onto the other instance keeps everything.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Browser } from "playwright-core";
import { startApp, within, type Running } from "../helpers";
import { TestPostgres } from "../postgres";
import { TestRedis } from "../redis";
import { launchBrowser, messageWithText, newPerson, privateEntry, say, signInAs, userEntry } from "./browser";

const postgres = new TestPostgres();
const redis = new TestRedis();
let browser: Browser;
let a: Running;
let b: Running;

beforeAll(async () => {
  await Promise.all([postgres.start(), redis.start()]);
  browser = await launchBrowser();
  const options = {
    databaseUrl: await postgres.database(),
    redisUrl: redis.url,
    secrets: ["browser-cluster-secret-long-enough"],
    signInPerMinute: 1000,
  };
  a = startApp(options);
  b = startApp(options);
  await Promise.all([a.teahouse.started, b.teahouse.started]);
  await within(5000, () => a.teahouse.cluster!.peerCount === 1 && b.teahouse.cluster!.peerCount === 1);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await a?.stop();
  await b?.stop();
  await Promise.all([postgres.dispose(), redis.dispose()]);
});

test("people on two instances share one room, one user list and direct messages; a reload onto the other instance keeps them", async () => {
  const alice = await newPerson(browser, { locale: "en-US" });
  const bob = await newPerson(browser, { locale: "en-US" });
  const carol = await newPerson(browser, { locale: "en-US" });
  await signInAs(alice, a.base, "alice");
  await signInAs(bob, b.base, "bob");
  await signInAs(carol, a.base, "carol");
  for (const person of [alice, bob, carol])
    for (const name of ["alice", "bob", "carol"]) await userEntry(person.page, name).waitFor();

  await say(alice.page, "hello from A");
  await say(bob.page, "hello from B");
  for (const person of [alice, bob, carol]) {
    await messageWithText(person.page, "hello from A").waitFor();
    await messageWithText(person.page, "hello from B").waitFor();
    // One order everywhere: A's message first.
    const texts = await person.page.locator("#messages li.message .text").allTextContents();
    expect(texts.indexOf("hello from A")).toBeLessThan(texts.indexOf("hello from B"));
  }
  // bob (on B) arrived once: alice's page (on A) shows one line for him, not one per instance.
  const joined = await alice.page.locator("#messages li.system").allTextContents();
  expect(joined.filter((line) => line.includes("bob")).length).toBe(1);

  // A direct message from B to alice on A.
  await userEntry(bob.page, "alice").click();
  await say(bob.page, "psst, alice");
  await privateEntry(alice.page, "bob").click();
  await messageWithText(alice.page, "psst, alice").waitFor();
  // Seen, so read: the badge goes, and stays gone after the reload below (the read is in PostgreSQL).
  await privateEntry(alice.page, "bob").locator(".badge").waitFor({ state: "hidden" });
  await alice.page.screenshot({ path: "/tmp/teahouse-cluster-alice.png" });
  await bob.page.screenshot({ path: "/tmp/teahouse-cluster-bob.png" });

  // bob reloads onto instance A: same account, same conversations, same messages, and nobody saw him leave.
  await bob.page.goto(a.base);
  await bob.page.locator("#room-view").waitFor({ state: "visible" });
  await privateEntry(bob.page, "alice").waitFor();
  await messageWithText(bob.page, "hello from A").waitFor();
  await within(3000, async () => (await userEntry(alice.page, "bob").count()) === 1);
  await alice.page.reload();
  await privateEntry(alice.page, "bob").waitFor();
  expect(await privateEntry(alice.page, "bob").locator(".badge").isHidden()).toBe(true);
  expect(alice.errors.concat(bob.errors, carol.errors)).toEqual([]);
  for (const person of [alice, bob, carol]) await person.context.close();
}, 90_000);
