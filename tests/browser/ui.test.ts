/**
 * The chat page in real Chromium: several people (browser contexts with their
 * own cookies) against one in-process server.
 */
import { join } from "node:path";
import { tmpdir } from "node:os";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import type { Browser } from "playwright-core";
import { startApp, type Running } from "../helpers";
import { launchBrowser, messageWithText, newPerson, say, signInAs, userEntry, type Person } from "./browser";

/** Generous: the machine is shared, and each test drives several browser contexts. */
const TEST_TIMEOUT_MS = 60_000;

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
}, TEST_TIMEOUT_MS);
afterEach(async () => {
  for (const { context } of people.splice(0)) await context.close();
});
afterAll(async () => {
  await browser?.close();
  await running?.stop();
});

describe("chatting", () => {
  test(
    "two people chat both ways; the user list follows join and leave",
    async () => {
      const alice = await person();
      const bob = await person();
      await signInAs(alice, running.base, "ann");
      await signInAs(bob, running.base, "ben");

      await userEntry(alice.page, "ben").waitFor();
      await say(alice.page, "hello ben");
      await messageWithText(bob.page, "hello ben").waitFor();
      await say(bob.page, "hi ann");
      await messageWithText(alice.page, "hi ann").waitFor();

      // Own messages are marked and confirmed by the server's echo.
      await alice.page.locator("#messages li.message.mine:not(.pending)").filter({ hasText: "hello ben" }).waitFor();
      expect(await messageWithText(alice.page, "hi ann").getAttribute("class")).not.toContain("mine");
      expect(await alice.page.locator("#text").evaluate((node) => node === document.activeElement)).toBe(true);

      await bob.context.close();
      await userEntry(alice.page, "ben").waitFor({ state: "detached" });
      expect(await alice.page.locator("#users li").count()).toBe(1);
      expect(alice.errors).toEqual([]);
    },
    TEST_TIMEOUT_MS,
  );
});

/** Screenshots go to docs/ (committed, shown in the README) with SCREENSHOTS=1, else to a temporary folder. */
const SCREENSHOT_DIR = Bun.env.SCREENSHOTS === "1" ? join(import.meta.dir, "..", "..", "docs") : tmpdir();

describe("languages", () => {
  const scenes = [
    {
      lang: "zh",
      locale: "zh-CN",
      names: ["小明", "小红", "老王"],
      lines: [
        "大家好！第一次来茶馆 👋",
        "欢迎欢迎～今天想聊点什么？",
        "聊聊 Bun 和 Elysia 吧，\n用它们写个聊天室真的很快。",
      ],
      expect: { signOut: "退出", send: "发送" },
    },
    {
      lang: "en",
      locale: "en-US",
      names: ["alice", "bob", "carol"],
      lines: [
        "Hi all! First time in the teahouse 👋",
        "Welcome! What shall we talk about?",
        "Bun and Elysia —\na chat room in an afternoon.",
      ],
      expect: { signOut: "Sign out", send: "Send" },
    },
  ] as const;

  for (const scene of scenes)
    test(
      `the room in ${scene.lang}, from Accept-Language, with a screenshot`,
      async () => {
        const [me, second, third] = await Promise.all(scene.names.map(() => person({ locale: scene.locale })));
        await signInAs(me!, running.base, scene.names[0]);
        await signInAs(second!, running.base, scene.names[1]);
        await signInAs(third!, running.base, scene.names[2]);
        await say(me!.page, scene.lines[0]);
        await messageWithText(second!.page, scene.lines[0]).waitFor();
        await say(second!.page, scene.lines[1]);
        await messageWithText(third!.page, scene.lines[1]).waitFor();
        await say(third!.page, scene.lines[2]);
        await messageWithText(me!.page, scene.lines[2]).waitFor();
        // Typing is throttled (and the server drops one within a second of the last): keep typing a while.
        await second!.page.locator("#text").pressSequentially("👍👍👍👍👍👍", { delay: 500 });
        await me!.page.locator("#typing").filter({ hasText: scene.names[1] }).waitFor();

        const page = me!.page;
        expect(await page.locator("#signout").textContent()).toBe(scene.expect.signOut);
        expect(await page.locator("#composer button").textContent()).toBe(scene.expect.send);
        expect(await page.locator("html").getAttribute("lang")).toBe(scene.lang === "zh" ? "zh-CN" : "en");
        await page.screenshot({ path: join(SCREENSHOT_DIR, `screenshot-${scene.lang}.png`) });

        // The switch flips every label at once, and is remembered for the next page.
        await page.locator("#room-view .lang-switch").click();
        const other = scene.lang === "zh" ? scenes[1] : scenes[0];
        expect(await page.locator("#signout").textContent()).toBe(other.expect.signOut);
        await page.reload();
        await page.locator("#users li.self").waitFor();
        expect(await page.locator("#signout").textContent()).toBe(other.expect.signOut);
      },
      TEST_TIMEOUT_MS,
    );
});
