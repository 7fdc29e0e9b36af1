/**
 * The page against a server that keeps accounts: memberships, unread counts
 * and read positions belong to the account (every tab and device shows the
 * same, a reload forgets nothing), messages are never lost to the rate limit
 * or a dropped connection, and signing in, registering and signing out work
 * from the page. Each test has a server of its own (rooms created are
 * announced to everyone, so tests would see each other's).
 */
import { join } from "node:path";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import type { Browser, Page } from "playwright-core";
import { startApp, type Running } from "../helpers";
import type { Config } from "../../src/config";
import { STRINGS } from "../../src/web/i18n";
import {
  confirmedMine,
  launchBrowser,
  messageWithText,
  newPerson,
  privateEntry,
  roomEntry,
  say,
  setHidden,
  signInAs,
  signOutVia,
  userEntry,
  type Person,
} from "./browser";

const TEST_TIMEOUT_MS = 60_000;
const en = STRINGS.en;

let browser: Browser;
const people: Person[] = [];
const servers: Running[] = [];

/** Someone with a browser profile of their own, in English (the strings below are the English ones). */
const person = async (options: Parameters<typeof newPerson>[1] = {}) => {
  const created = await newPerson(browser, { locale: "en-US", ...options });
  people.push(created);
  return created;
};

/** A fresh server for one test (stopped after it). */
const server = async (overrides: Partial<Config> = {}): Promise<Running> => {
  const running = startApp({ signInPerMinute: 1000, ...overrides });
  servers.push(running);
  await running.teahouse.started;
  return running;
};

beforeAll(async () => {
  browser = await launchBrowser();
}, TEST_TIMEOUT_MS);
afterEach(async () => {
  for (const { context } of people.splice(0)) await context.close();
  for (const running of servers.splice(0)) await running.stop();
});
afterAll(async () => {
  await browser?.close();
});

/** Creates (or joins) a room through the sidebar's form and waits until it is open. */
const openRoom = async (page: Page, name: string): Promise<void> => {
  await page.locator("#room-name").fill(name);
  await page.locator("#room-name").press("Enter");
  await page.locator("#conv-title", { hasText: `# ${name}` }).waitFor();
  await roomEntry(page, name).and(page.locator(":not(.not-joined)")).waitFor();
};

const openLobby = async (page: Page): Promise<void> => {
  await roomEntry(page, "lobby").click();
  await page.locator("#conv-title", { hasText: en.lobbyTitle }).waitFor();
};

/** The unread badge of a sidebar entry (visible only when there is something unread). */
const badgeOf = (entry: ReturnType<typeof roomEntry>) => entry.locator(".badge");

/** Waits for the page's socket after a reload (our own entry in the user list comes with `list`). */
const reloaded = async (page: Page): Promise<void> => {
  await page.reload();
  await page.locator("#users li.self").waitFor({ state: "attached" });
};

describe("delivery", () => {
  test(
    "messages sent faster than the rate limit are all delivered, in order; none is stuck or lost",
    async () => {
      // Three frames in a burst, then ten a second: 40 messages at once are far over it.
      const stage = await server({ rateBurst: 3, ratePerSecond: 10 });
      const [ann, ben] = await Promise.all([person(), person()]);
      await signInAs(ann, stage.base, "ann");
      await signInAs(ben, stage.base, "ben");
      const texts = Array.from({ length: 40 }, (_, i) => `burst ${i + 1}`);
      // Written as fast as a script can: each submit of the composer is one message.
      await ann.page.evaluate(
        `(() => {
          const text = document.getElementById("text");
          const form = document.getElementById("composer");
          for (const line of ${JSON.stringify(texts)}) {
            text.value = line;
            form.requestSubmit();
          }
        })()`,
      );
      await confirmedMine(ann.page, "burst 40").waitFor({ timeout: 30_000 });
      const mine = ann.page.locator("#messages li.message.mine");
      expect(await mine.count()).toBe(40);
      expect(await ann.page.locator("#messages li.message.pending, #messages li.message.failed").count()).toBe(0);
      expect(await mine.locator(".text").allTextContents()).toEqual(texts);
      // Everyone else got each one once, in the order written.
      await messageWithText(ben.page, "burst 40").waitFor();
      expect(await ben.page.locator("#messages li.message .text").allTextContents()).toEqual(texts);
      // Paced, not cut off for abuse (a 4008 would show the banner).
      expect(await ann.page.locator("#banner").isHidden()).toBe(true);
    },
    TEST_TIMEOUT_MS,
  );

  test("messages written while the connection is down are sent by themselves when it is back, once each", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "teahouse-outbox-"));
    const config = { dataDir, secrets: ["browser-outbox-test-secret"], signInPerMinute: 1000 };
    let stage = startApp(config);
    await stage.teahouse.started;
    const port = Number(new URL(stage.base).port);
    try {
      const [jo, kim] = await Promise.all([person(), person()]);
      await signInAs(jo, stage.base, "jo");
      await signInAs(kim, stage.base, "kim");
      await say(jo.page, "before");
      await messageWithText(kim.page, "before").waitFor();

      await stage.stop();
      await jo.page.locator("#banner").waitFor({ state: "visible" });
      await say(jo.page, "while down 1");
      await say(jo.page, "while down 2");
      // Waiting, not refused: no "not sent", no retry button to press.
      const waiting = jo.page.locator("#messages li.message.pending");
      await expect(waiting.count()).resolves.toBe(2);
      expect(await jo.page.locator("#messages li.message.failed").count()).toBe(0);
      expect(await waiting.first().locator(".status").textContent()).toBe(en.waiting);

      stage = startApp({ ...config, port });
      await stage.teahouse.started;
      await jo.page.locator("#banner").waitFor({ state: "hidden", timeout: 40_000 });
      await confirmedMine(jo.page, "while down 2").waitFor();
      await confirmedMine(jo.page, "while down 1").waitFor();
      await messageWithText(kim.page, "while down 2").waitFor({ timeout: 40_000 });
      for (const page of [jo.page, kim.page])
        expect(await page.locator("#messages li.message .text").allTextContents()).toEqual([
          "before",
          "while down 1",
          "while down 2",
        ]);
    } finally {
      await stage.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 90_000);

  test(
    "a message to an offline user arrives when they sign in, with its unread badge",
    async () => {
      const stage = await server();
      const [ann, ben] = await Promise.all([person(), person()]);
      await signInAs(ann, stage.base, "ann");
      await signInAs(ben, stage.base, "ben");
      await userEntry(ann.page, "ben").locator("button").click();
      await ann.page.locator("#conv-title", { hasText: "ben" }).waitFor();

      await signOutVia(ben.page);
      await userEntry(ann.page, "ben").waitFor({ state: "detached" });
      await say(ann.page, "for when you are back");
      // Stored for them: confirmed, not refused.
      await confirmedMine(ann.page, "for when you are back").waitFor();
      expect(await ann.page.locator("#messages li.message.failed").count()).toBe(0);
      // The conversation is listed though ben is offline, after a reload too (from `conversations`).
      await reloaded(ann.page);
      await privateEntry(ann.page, "ben").and(ann.page.locator(".offline")).waitFor();

      await ben.page.locator("#name").fill("ben");
      await ben.page.locator("#name").press("Enter");
      await ben.page.locator("#users li.self").waitFor({ state: "attached" });
      const fromAnn = privateEntry(ben.page, "ann");
      await badgeOf(fromAnn).filter({ hasText: /^1$/ }).waitFor();
      await fromAnn.click();
      await messageWithText(ben.page, "for when you are back").waitFor();
      await badgeOf(fromAnn).waitFor({ state: "hidden" });
      // Read on the server: a reload shows no badge.
      await reloaded(ben.page);
      await privateEntry(ben.page, "ann").waitFor();
      expect(await badgeOf(privateEntry(ben.page, "ann")).isHidden()).toBe(true);
    },
    TEST_TIMEOUT_MS,
  );
});

describe("rooms and unread counts", () => {
  test(
    "a room created by someone else appears without a reload; joining and leaving on one tab does it on all",
    async () => {
      const stage = await server();
      const [ann, ben] = await Promise.all([person(), person()]);
      await signInAs(ann, stage.base, "ann");
      const second = await ann.context.newPage();
      await second.goto(stage.base);
      await second.locator("#users li.self").waitFor({ state: "attached" });
      await signInAs(ben, stage.base, "ben");

      await openRoom(ben.page, "books");
      // Announced to everyone: both of ann's tabs list it, not joined.
      for (const page of [ann.page, second]) await roomEntry(page, "books").and(page.locator(".not-joined")).waitFor();
      await say(ben.page, "welcome to books");

      await roomEntry(ann.page, "books").click();
      await messageWithText(ann.page, "welcome to books").waitFor();
      // The other tab is in it too, with its history, without asking.
      await roomEntry(second, "books").and(second.locator(":not(.not-joined)")).waitFor();
      await roomEntry(second, "books").click();
      await messageWithText(second, "welcome to books").waitFor();

      await ann.page.locator("#leave-room").click();
      await ann.page.locator("#conv-title", { hasText: en.lobbyTitle }).waitFor();
      // Left everywhere: the other tab, which had it open, is back in the lobby.
      await second.locator("#conv-title", { hasText: en.lobbyTitle }).waitFor();
      await roomEntry(second, "books").and(second.locator(".not-joined")).waitFor();
      await reloaded(second);
      await roomEntry(second, "books").and(second.locator(".not-joined")).waitFor();
      expect(ann.errors).toEqual([]);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "a reload keeps your rooms and unread counts; reading on one tab clears the badge on the others",
    async () => {
      const stage = await server();
      const [ann, ben] = await Promise.all([person(), person()]);
      await signInAs(ann, stage.base, "ann");
      await signInAs(ben, stage.base, "ben");
      await openRoom(ann.page, "dev");
      await openRoom(ben.page, "dev");
      await openLobby(ann.page);

      await say(ben.page, "dev one");
      await say(ben.page, "dev two");
      await confirmedMine(ben.page, "dev two").waitFor();
      await badgeOf(roomEntry(ann.page, "dev")).filter({ hasText: /^2$/ }).waitFor();
      // Seen as it arrives: the open lobby gets no badge.
      await openLobby(ben.page);
      await say(ben.page, "lobby one");
      await messageWithText(ann.page, "lobby one").waitFor();

      await reloaded(ann.page);
      await roomEntry(ann.page, "dev").and(ann.page.locator(":not(.not-joined)")).waitFor();
      await badgeOf(roomEntry(ann.page, "dev")).filter({ hasText: /^2$/ }).waitFor();
      await badgeOf(roomEntry(ann.page, "lobby")).waitFor({ state: "hidden" });
      expect(await ann.page.locator("#drawer-badge").textContent()).toBe("2");

      // A second tab shows the same.
      const second = await ann.context.newPage();
      await second.goto(stage.base);
      await second.locator("#users li.self").waitFor({ state: "attached" });
      await badgeOf(roomEntry(second, "dev")).filter({ hasText: /^2$/ }).waitFor();

      await roomEntry(ann.page, "dev").click();
      await messageWithText(ann.page, "dev two").waitFor();
      await badgeOf(roomEntry(ann.page, "dev")).waitFor({ state: "hidden" });
      await badgeOf(roomEntry(second, "dev")).waitFor({ state: "hidden" });
      await reloaded(second);
      await roomEntry(second, "dev").waitFor();
      expect(await badgeOf(roomEntry(second, "dev")).isHidden()).toBe(true);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "a hidden tab counts in its title and sends no read until it is seen",
    async () => {
      const stage = await server();
      const [ann, ben] = await Promise.all([person(), person()]);
      await signInAs(ann, stage.base, "ann");
      await signInAs(ben, stage.base, "ben");
      await setHidden(ann.page, true);
      await say(ben.page, "while you look away");
      await messageWithText(ann.page, "while you look away").waitFor();
      expect(await ann.page.title()).toBe(`(1) ${en.appName}`);
      // The open conversation, but not seen: unread, after a reload too.
      await badgeOf(roomEntry(ann.page, "lobby")).filter({ hasText: /^1$/ }).waitFor();
      await ann.page.waitForTimeout(1000);
      // Another tab, in the background from the start (so it reads nothing itself), shows the count.
      const other = await ann.context.newPage();
      await other.addInitScript("Object.defineProperty(document, 'hidden', { configurable: true, get: () => true })");
      await other.goto(stage.base);
      await badgeOf(roomEntry(other, "lobby")).filter({ hasText: /^1$/ }).waitFor();
      await other.close();

      await setHidden(ann.page, false);
      expect(await ann.page.title()).toBe(en.appName);
      await badgeOf(roomEntry(ann.page, "lobby")).waitFor({ state: "hidden" });
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "too many new rooms: the page says when to try again and does not list the room",
    async () => {
      const stage = await server({ roomCreationsPerHour: 1 });
      const ann = await person();
      await signInAs(ann, stage.base, "ann");
      await openRoom(ann.page, "first");
      await ann.page.locator("#room-name").fill("second");
      await ann.page.locator("#room-name").press("Enter");
      await ann.page.locator("#messages li.system", { hasText: /Too many new rooms; try again in \d+ min/ }).waitFor();
      expect(await roomEntry(ann.page, "second").count()).toBe(0);
      expect(await ann.page.locator("#conv-title").textContent()).not.toContain("second");
    },
    TEST_TIMEOUT_MS,
  );
});

describe("accounts", () => {
  test(
    "sign out and back in (same browser, guest name) keeps your history and your rooms; the name field holds the name only",
    async () => {
      const stage = await server();
      const [bob, cat] = await Promise.all([person(), person()]);
      await signInAs(bob, stage.base, "bob");
      await signInAs(cat, stage.base, "cat");
      await openRoom(bob.page, "garden");
      await say(bob.page, "in the garden");
      await openLobby(bob.page);
      await say(bob.page, "in the lobby");
      await userEntry(bob.page, "cat").locator("button").click();
      await say(bob.page, "psst cat");
      await confirmedMine(bob.page, "psst cat").waitFor();

      await signOutVia(bob.page);
      // The name, not the avatar's letter in front of it ("Bbob").
      expect(await bob.page.locator("#name").inputValue()).toBe("bob");
      await bob.page.locator("#name").press("Enter");
      await bob.page.locator("#users li.self").waitFor({ state: "attached" });

      await confirmedMine(bob.page, "in the lobby").waitFor();
      await roomEntry(bob.page, "garden").and(bob.page.locator(":not(.not-joined)")).waitFor();
      await roomEntry(bob.page, "garden").click();
      await confirmedMine(bob.page, "in the garden").waitFor();
      await privateEntry(bob.page, "cat").click();
      await confirmedMine(bob.page, "psst cat").waitFor();
      // Still the same account for the others: cat's conversation with bob goes on.
      await say(cat.page, "hello again");
      await privateEntry(cat.page, "bob").click();
      await say(cat.page, "welcome back bob");
      await messageWithText(bob.page, "welcome back bob").waitFor();
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "a guest registers its name; elsewhere it needs the password; sign-in view registration; sign out everywhere",
    async () => {
      const stage = await server();
      const [cleo, other, dora] = await Promise.all([person(), person(), person()]);
      await signInAs(cleo, stage.base, "cleo");
      await say(cleo.page, "said as a guest");
      await confirmedMine(cleo.page, "said as a guest").waitFor();

      const page = cleo.page;
      await page.locator("#account-toggle").click();
      expect(await page.locator("#account-kind").textContent()).toBe(en.accountGuest);
      expect(await page.locator("#register-prompt").textContent()).toBe(en.registerPrompt.replace("{name}", "cleo"));
      await page.locator("#register-password").fill("short");
      await page.locator("#register-password").press("Enter");
      await page.locator("#register-error", { hasText: en.err_invalid_password }).waitFor();
      await page.locator("#register-password").fill("correct horse battery");
      await page.locator("#register-password").press("Enter");
      await page.locator("#register-done").waitFor({ state: "visible" });
      expect(await page.locator("#account-kind").textContent()).toBe(en.accountMember);
      expect(await page.locator("#register-form").isHidden()).toBe(true);
      await page.keyboard.press("Escape");
      await page.locator("#account-menu").waitFor({ state: "hidden" });

      // Another browser: the name is registered now.
      await other.page.goto(stage.base);
      await other.page.locator("#name").fill("cleo");
      await other.page.locator("#name").press("Enter");
      await other.page.locator("#signin-error", { hasText: en.err_name_registered }).waitFor();
      expect(await other.page.evaluate("document.activeElement.id")).toBe("password");
      await other.page.locator("#password").fill("wrong password");
      await other.page.locator("#password").press("Enter");
      await other.page.locator("#signin-error", { hasText: en.err_bad_credentials }).waitFor();
      await other.page.locator("#password").fill("correct horse battery");
      await other.page.locator("#password").press("Enter");
      await other.page.locator("#users li.self").waitFor({ state: "attached" });
      // The same account: what it said as a guest is its own.
      await confirmedMine(other.page, "said as a guest").waitFor();
      expect(await other.page.locator("#me").textContent()).toContain("cleo");
      await other.page.locator("#account-toggle").click();
      expect(await other.page.locator("#account-kind").textContent()).toBe(en.accountMember);
      await other.page.keyboard.press("Escape");

      // Registering from the sign-in view.
      await dora.page.goto(stage.base);
      await dora.page.locator("#name").fill("dora");
      await dora.page.locator("#password").fill("dora's long password");
      await dora.page.locator("#register").click();
      await dora.page.locator("#users li.self").waitFor({ state: "attached" });
      await dora.page.locator("#account-toggle").click();
      expect(await dora.page.locator("#account-kind").textContent()).toBe(en.accountMember);
      await dora.page.keyboard.press("Escape");
      // A taken name cannot be registered.
      await signOutVia(dora.page);
      await dora.page.locator("#name").fill("cleo");
      await dora.page.locator("#password").fill("another long password");
      await dora.page.locator("#register").click();
      await dora.page.locator("#signin-error", { hasText: en.err_name_taken }).waitFor();

      // Sign out everywhere: cleo's first browser is signed out too.
      await signOutVia(other.page, true);
      await cleo.page.locator("#signin-view").waitFor({ state: "visible" });
      expect(await cleo.page.locator("#name").inputValue()).toBe("cleo");
      await cleo.page.reload();
      expect(await cleo.page.locator("#signin-view").isVisible()).toBe(true);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "a sign-out the server could not record says so and keeps you in; the room picker suggests rooms to join",
    async () => {
      const stage = await server();
      const [eve, fin] = await Promise.all([person(), person()]);
      await signInAs(eve, stage.base, "eve");
      await signInAs(fin, stage.base, "fin");
      await openRoom(fin.page, "jazz");
      await eve.page.locator('#room-suggestions option[value="jazz"]').waitFor({ state: "attached" });
      await openLobby(fin.page);

      // The store is down: the server answers 503 and the session goes on (a reload would show it).
      await eve.page.route("**/wsout", (route) =>
        route.fulfill({
          status: 503,
          json: { code: 503, error: "unavailable", data: "Could not sign out (the store is unavailable); try again" },
        }),
      );
      await eve.page.locator("#account-toggle").click();
      await eve.page.locator("#signout").click();
      await eve.page.locator("#account-error", { hasText: en.err_unavailable }).waitFor();
      expect(await eve.page.locator("#room-view").isVisible()).toBe(true);
      await say(eve.page, "still here");
      await messageWithText(fin.page, "still here").waitFor();

      await eve.page.unroute("**/wsout");
      await eve.page.locator("#account-toggle").click();
      await eve.page.locator("#signout").click();
      await eve.page.locator("#signin-view").waitFor({ state: "visible" });
      expect(await eve.page.locator("#name").inputValue()).toBe("eve");
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "a guest whose name was taken while away is asked for another and keeps its account",
    async () => {
      // Guest names are free 300 ms after their owner left.
      const stage = await server({ guestNameGraceMs: 300 });
      const [nia, taker] = await Promise.all([person(), person()]);
      await signInAs(nia, stage.base, "nia");
      await say(nia.page, "said before leaving");
      await confirmedMine(nia.page, "said before leaving").waitFor();
      await nia.page.goto("about:blank");
      await Bun.sleep(1000);

      await signInAs(taker, stage.base, "nia");
      await nia.page.goto(stage.base);
      await nia.page.locator("#signin-error", { hasText: "Someone else took your name while you were away" }).waitFor();
      expect(await nia.page.locator("#signin-error").textContent()).toBe(en.err_name_lost);
      expect(await nia.page.locator("#signin-view").isVisible()).toBe(true);
      await nia.page.locator("#name").fill("nia again");
      await nia.page.locator("#name").press("Enter");
      await nia.page.locator("#users li.self").waitFor({ state: "attached" });
      await confirmedMine(nia.page, "said before leaving").waitFor();
      expect(await nia.page.locator("#me").textContent()).toContain("nia again");
    },
    TEST_TIMEOUT_MS,
  );
});
