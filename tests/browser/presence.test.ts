/**
 * The page in a room too big for per-person presence: arrivals collapse into
 * one line, the sidebar shows the count, and the members come when asked.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Browser } from "playwright-core";
import { Client, signIn, startApp, type Running } from "../helpers";
import { launchBrowser, messageWithText, newPerson, say, signInAs, userEntry } from "./browser";

let browser: Browser;
let running: Running;
const bots: Client[] = [];

beforeAll(async () => {
  browser = await launchBrowser();
  running = startApp({ presenceFullRoomSize: 2, presenceBigRoomSize: 1000, signInPerMinute: 1000 });
  await running.teahouse.started;
}, 60_000);

afterAll(async () => {
  for (const bot of bots) bot.close();
  await browser?.close();
  await running?.stop();
});

test("a crowd arriving at once is one line; the list shows the count and loads the members on request", async () => {
  const alice = await newPerson(browser, { locale: "en-US" });
  await signInAs(alice, running.base, "alice");
  const names = ["ben", "cai", "dan", "eli", "fay"];
  for (const name of names) {
    const bot = await Client.connect(running.wsUrl, (await signIn(running.base, name)).cookie);
    await bot.next("history");
    bots.push(bot);
  }
  const page = alice.page;
  // The first arrival is news of its own (the room had 1); the rest come as one collapsed line.
  await page.locator("#messages li.system", { hasText: "ben joined" }).waitFor();
  await page.locator("#messages li.system", { hasText: "4 joined" }).waitFor();
  expect(await page.locator("#messages li.system").count()).toBe(2);
  await page.locator("#online-count", { hasText: "6 online" }).waitFor();
  await page.screenshot({ path: "/tmp/teahouse-crowd-before.png" });

  // A newcomer in a room this size gets the count and a button, not the whole list.
  const late = await newPerson(browser, { locale: "en-US" });
  await late.page.goto(running.base);
  await late.page.locator("#name").fill("gus");
  await late.page.locator("#name").press("Enter");
  await late.page.locator("#online-count", { hasText: "7 online" }).waitFor();
  expect(await late.page.locator("#users li.user").count()).toBeLessThan(7);
  await late.page.locator("#users .more-members", { hasText: "Show members" }).click();
  for (const name of ["alice", ...names]) await userEntry(late.page, name).waitFor();
  await late.page.screenshot({ path: "/tmp/teahouse-crowd-after.png" });
  // Watching the list now: someone leaving goes from it.
  bots.shift()!.close();
  await userEntry(late.page, "ben").waitFor({ state: "detached", timeout: 5000 });
  expect(alice.errors.concat(late.errors)).toEqual([]);
  await alice.context.close();
  await late.context.close();
}, 60_000);

test("a joined line stays where it happened: above the messages sent after it", async () => {
  // A server of its own: the room above is too big for per-person lines.
  const small = startApp({ signInPerMinute: 1000 });
  await small.teahouse.started;
  const alice = await newPerson(browser, { locale: "en-US" });
  const bob = await newPerson(browser, { locale: "en-US" });
  await signInAs(alice, small.base, "hana");
  await signInAs(bob, small.base, "ivo");
  await alice.page.locator("#messages li.system", { hasText: "ivo joined" }).waitFor();
  await say(bob.page, "said after joining");
  await messageWithText(alice.page, "said after joining").waitFor();
  const items = await alice.page.locator("#messages li").allTextContents();
  const line = items.findIndex((text) => text.includes("ivo joined"));
  const message = items.findIndex((text) => text.includes("said after joining"));
  expect(line).toBeGreaterThanOrEqual(0);
  expect(line).toBeLessThan(message);
  await alice.context.close();
  await bob.context.close();
  await small.stop();
}, 60_000);
