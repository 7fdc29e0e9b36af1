/**
 * The chat page in real Chromium: several people (browser contexts with their
 * own cookies) against one in-process server.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import type { Browser } from "playwright-core";
import { startApp, type Running } from "../helpers";
import { launchBrowser, messageWithText, newPerson, say, signInAs, userEntry, type Person } from "./browser";

let browser: Browser;
let running: Running;
const people: Person[] = [];
const person = async (options?: Parameters<typeof newPerson>[1]) => {
  const created = await newPerson(browser, options);
  people.push(created);
  return created;
};

beforeAll(async () => {
  browser = await launchBrowser();
  running = startApp();
});
afterEach(async () => {
  for (const { context } of people.splice(0)) await context.close();
});
afterAll(async () => {
  await browser?.close();
  await running?.stop();
});

describe("chatting", () => {
  test("two people chat both ways; the user list follows join and leave", async () => {
    const alice = await person();
    const bob = await person();
    await signInAs(alice, running.base, "alice");
    await signInAs(bob, running.base, "bob");

    await userEntry(alice.page, "bob").waitFor();
    await say(alice.page, "hello bob");
    await messageWithText(bob.page, "hello bob").waitFor();
    await say(bob.page, "hi alice");
    await messageWithText(alice.page, "hi alice").waitFor();

    // Own messages are marked and confirmed by the server's echo.
    await alice.page.locator("#messages li.message.mine:not(.pending)").filter({ hasText: "hello bob" }).waitFor();
    expect(await messageWithText(alice.page, "hi alice").getAttribute("class")).not.toContain("mine");
    expect(await alice.page.locator("#text").evaluate((node) => node === document.activeElement)).toBe(true);

    await bob.context.close();
    await userEntry(alice.page, "bob").waitFor({ state: "detached" });
    expect(await alice.page.locator("#users li").count()).toBe(1);
    expect(alice.errors).toEqual([]);
  });
});
