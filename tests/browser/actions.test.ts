/**
 * What people do with messages, in real Chromium, two and three people at once: edit (from the
 * toolbar and with the Up arrow), delete with a confirmation, react, reply and jump to the original
 * (loading older history to reach it), mention with the autocomplete, follow a link, permalinks,
 * and the "New messages" line after a reload.
 */
import { mkdirSync } from "node:fs";
import { beforeAll, describe, expect, test } from "bun:test";
import type { Page } from "playwright-core";
import { Client, signIn } from "../helpers";
import { confirmedMine, messageWithText, say, setHidden, signInAs, useBrowserSuite, pageStayedClean } from "./browser";

const TEST_TIMEOUT_MS = 90_000;
const SHOTS = "/tmp/shots";

const suite = useBrowserSuite(
  { historyPageSize: 10, ratePerSecond: 100, rateBurst: 200, userRatePerSecond: 100, userRateBurst: 200 },
  {
    timeoutMs: TEST_TIMEOUT_MS,
    afterEach: pageStayedClean,
  },
);
const person = suite.person;
beforeAll(() => mkdirSync(SHOTS, { recursive: true }));

/** Hovers a message and presses one of its toolbar's buttons. */
const act = async (page: Page, text: string, action: "reply" | "react" | "edit" | "delete") => {
  const message = messageWithText(page, text).first();
  await message.hover();
  await message.locator(`.action-${action}`).click();
};

describe("message actions", () => {
  test(
    "edit from the toolbar and with Up; delete asks first; everyone sees the change live",
    async () => {
      const alice = await person();
      const bob = await person({ locale: "en-US" });
      await signInAs(alice, suite.running.base, "alice");
      await signInAs(bob, suite.running.base, "bob");
      await say(alice.page, "helo wrold");
      await confirmedMine(alice.page, "helo wrold").waitFor();
      await messageWithText(bob.page, "helo wrold").waitFor();

      await act(alice.page, "helo wrold", "edit");
      expect(await alice.page.locator("#compose-context").isVisible()).toBe(true);
      expect(await alice.page.locator("#text").inputValue()).toBe("helo wrold");
      await alice.page.locator("#text").fill("hello world");
      await alice.page.locator("#text").press("Enter");
      const edited = messageWithText(bob.page, "hello world");
      await edited.waitFor();
      expect(await edited.locator(".edited").textContent()).toBe("(edited)");
      expect(await messageWithText(bob.page, "helo wrold").count()).toBe(0);
      expect(await alice.page.locator("#compose-context").isHidden()).toBe(true);

      // Up in the empty composer edits the last own message; Escape gives up without a change.
      await alice.page.locator("#text").press("ArrowUp");
      expect(await alice.page.locator("#text").inputValue()).toBe("hello world");
      await alice.page.locator("#text").press("Escape");
      expect(await alice.page.locator("#text").inputValue()).toBe("");
      expect(await alice.page.locator("#compose-context").isHidden()).toBe(true);

      // bob has no edit or delete on alice's message.
      const theirs = messageWithText(bob.page, "hello world");
      await theirs.hover();
      expect(await theirs.locator(".action-edit, .action-delete").count()).toBe(0);

      await act(alice.page, "hello world", "delete");
      await alice.page.screenshot({ path: `${SHOTS}/actions-delete-confirm.png` });
      await alice.page.locator(".confirm-cancel").click();
      expect(await messageWithText(bob.page, "hello world").count()).toBe(1);
      await act(alice.page, "hello world", "delete");
      await alice.page.locator(".confirm-delete").click();
      await bob.page.locator("li.message.deleted").waitFor();
      expect(await bob.page.locator("li.message.deleted .text").textContent()).toBe("This message was deleted");
      expect(await bob.page.locator("#messages").textContent()).not.toContain("hello world");
      await bob.page.screenshot({ path: `${SHOTS}/actions-tombstone-en.png` });
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "reactions from the picker, counted for three people, toggled off again",
    async () => {
      const [alice, bob, carol] = [await person(), await person(), await person()];
      await signInAs(alice, suite.running.base, "alice2");
      await signInAs(bob, suite.running.base, "bob2");
      await signInAs(carol, suite.running.base, "carol2");
      await say(alice.page, "午饭吃什么？");
      for (const someone of [bob, carol]) await messageWithText(someone.page, "午饭吃什么？").waitFor();
      for (const someone of [bob, carol]) {
        await act(someone.page, "午饭吃什么？", "react");
        await someone.page.locator("#emoji-picker .emoji-choice", { hasText: "👍" }).first().click();
      }
      const count = alice.page.locator(".reaction", { hasText: "👍" }).locator(".count");
      await alice.page.locator(".reaction .count", { hasText: /^2$/ }).waitFor();
      expect(await count.textContent()).toBe("2");
      expect(await alice.page.locator(".reaction").getAttribute("aria-pressed")).toBe("false");
      expect(await bob.page.locator(".reaction").getAttribute("aria-pressed")).toBe("true");
      expect(await alice.page.locator(".reaction").getAttribute("title")).toContain("bob2");
      await alice.page.screenshot({ path: `${SHOTS}/actions-reactions.png` });
      // bob takes his back by pressing the reaction itself.
      await bob.page.locator(".reaction").click();
      await alice.page.locator(".reaction .count", { hasText: /^1$/ }).waitFor();
      // The picker remembers what bob used.
      await act(bob.page, "午饭吃什么？", "react");
      expect(await bob.page.locator("#emoji-picker .emoji-choice").first().textContent()).toBe("👍");
      await bob.page.keyboard.press("Escape");
      expect(await bob.page.locator("#emoji-picker").isHidden()).toBe(true);
      // By keyboard: the toolbar's buttons take the focus (and show), the picker answers Enter.
      await bob.page.mouse.move(0, 0);
      const react = messageWithText(carol.page, "午饭吃什么？").locator(".action-react");
      await react.focus();
      expect(await carol.page.evaluate("getComputedStyle(document.activeElement.parentElement).opacity")).toBe("1");
      await carol.page.keyboard.press("Enter");
      await carol.page.locator("#emoji-picker .emoji-choice").first().waitFor();
      // Her recent 👍 comes first: Enter takes her reaction back, and the last one is gone for everyone.
      await carol.page.keyboard.press("Enter");
      await alice.page.locator(".reaction").waitFor({ state: "detached" });
      expect(await carol.page.locator("#emoji-picker").isHidden()).toBe(true);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "a reply quotes its original; clicking the quote goes there, loading older history; a permalink opens a message",
    async () => {
      const alice = await person();
      const bob = await person();
      await signInAs(alice, suite.running.base, "alice3");
      await signInAs(bob, suite.running.base, "bob3");
      await bob.page.locator("#join-room input").fill("history");
      await bob.page.locator("#join-room input").press("Enter");
      await alice.page.locator("#join-room input").fill("history");
      await alice.page.locator("#join-room input").press("Enter");
      await say(alice.page, "the original question");
      await messageWithText(bob.page, "the original question").waitFor();
      await act(bob.page, "the original question", "reply");
      expect(await bob.page.locator("#compose-context").textContent()).toContain("the original question");
      await say(bob.page, "my answer");
      const reply = messageWithText(alice.page, "my answer");
      await reply.waitFor();
      expect(await reply.locator(".quote").textContent()).toContain("the original question");
      for (let i = 0; i < 25; i++) await say(alice.page, `filler ${i}`);
      await confirmedMine(alice.page, "filler 24").waitFor();
      await say(alice.page, "see above");
      await confirmedMine(alice.page, "see above").waitFor();

      // A fresh page: only the latest 10 messages; the original is pages away.
      await bob.page.reload();
      await bob.page.locator("#room-list button[data-key='history']").click();
      await messageWithText(bob.page, "see above").waitFor();
      expect(await messageWithText(bob.page, "the original question").count()).toBe(0);
      await act(bob.page, "see above", "reply");
      await bob.page.locator("#text").press("Escape");
      // The reply itself is older still: page back to it with the button, then follow its quote.
      for (let pages = 0; (await messageWithText(bob.page, "my answer").count()) === 0; pages++) {
        expect(pages).toBeLessThan(6);
        await bob.page.locator("#load-older:not([disabled])").click({ timeout: 5000 });
        await bob.page.locator("#load-older[disabled]").waitFor({ state: "detached" });
      }
      await messageWithText(bob.page, "my answer").locator(".quote").click();
      const original = messageWithText(bob.page, "the original question");
      await original.waitFor();
      await bob.page.locator("li.message.flash").waitFor();
      expect(await original.isVisible()).toBe(true);

      // A permalink in the address opens that conversation at the message.
      const id = await original.getAttribute("id");
      expect(id).toMatch(/^m\d+$/);
      const carol = await person({ locale: "en-US" });
      await signInAs(carol, suite.running.base, "carol3");
      await carol.page.goto(`${suite.running.base}/#${id}`);
      await carol.page.locator("#room-view").waitFor();
      // carol is not in the room: she is told, and nothing of it is shown.
      await carol.page.locator("li.system", { hasText: "cannot be found" }).waitFor();
      await alice.page.goto(`${suite.running.base}/#${id}`);
      await messageWithText(alice.page, "the original question").waitFor();
      await alice.page.locator("li.message.flash").waitFor();
      expect(await alice.page.locator("#conv-title").textContent()).toBe("# history");
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "@ suggests members; a mention is highlighted for the one mentioned and counted while unread",
    async () => {
      const alice = await person();
      const bob = await person();
      await signInAs(alice, suite.running.base, "alice4");
      await signInAs(bob, suite.running.base, "bob4");
      await bob.page.locator("#text").pressSequentially("看一下 @ali");
      await bob.page.locator("#mention-list li", { hasText: "alice4" }).waitFor();
      await bob.page.locator("#text").press("Enter");
      expect(await bob.page.locator("#text").inputValue()).toBe("看一下 @alice4 ");
      await bob.page.locator("#text").pressSequentially("，好吗");
      await bob.page.locator("#text").press("Enter");
      const mention = messageWithText(alice.page, "看一下 @alice4 ，好吗");
      await mention.waitFor();
      expect(await mention.getAttribute("class")).toContain("mentioned");
      expect(await mention.locator(".mentions-me").textContent()).toBe("@alice4");
      expect(await messageWithText(bob.page, "看一下 @alice4 ，好吗").getAttribute("class")).not.toContain("mentioned");
      await alice.page.screenshot({ path: `${SHOTS}/actions-mention.png` });
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "a link opens in a new tab without opener; javascript: stays text",
    async () => {
      const alice = await person();
      const bob = await person();
      await signInAs(alice, suite.running.base, "alice5");
      await signInAs(bob, suite.running.base, "bob5");
      await say(alice.page, `docs: ${suite.running.base}/healthz and javascript:alert(1) here`);
      const message = messageWithText(bob.page, `docs: ${suite.running.base}/healthz and javascript:alert(1) here`);
      await message.waitFor();
      const link = message.locator("a");
      expect(await link.count()).toBe(1);
      expect(await link.getAttribute("href")).toBe(`${suite.running.base}/healthz`);
      expect(await link.getAttribute("rel")).toBe("noopener noreferrer nofollow");
      const [tab] = await Promise.all([bob.context.waitForEvent("page"), link.click()]);
      await tab.waitForLoadState();
      expect(await tab.evaluate("window.opener")).toBeNull();
      expect(await tab.textContent("body")).toContain("ok");
      await tab.close();
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "after a reload, a 'New messages' line sits above the first unread message",
    async () => {
      const alice = await person();
      const bob = await person();
      await signInAs(alice, suite.running.base, "alice6");
      await signInAs(bob, suite.running.base, "bob6");
      await say(bob.page, "seen before");
      await messageWithText(alice.page, "seen before").waitFor();
      await alice.page.waitForTimeout(1200); // the read position follows what was on screen
      await alice.page.goto("about:blank");
      await say(bob.page, "while you were away");
      await say(bob.page, "and this too");
      await confirmedMine(bob.page, "and this too").waitFor();
      await alice.page.goto(suite.running.base);
      await messageWithText(alice.page, "and this too").waitFor();
      const line = alice.page.locator("li.new-line");
      await line.waitFor();
      const next = await line.evaluate((node) => node.nextElementSibling?.querySelector(".text")?.textContent);
      expect(next).toBe("while you were away");
      await alice.page.screenshot({ path: `${SHOTS}/actions-new-line.png` });
    },
    TEST_TIMEOUT_MS,
  );
});

describe("search", () => {
  test(
    "type a query, see the matches marked, open a result and land on the message",
    async () => {
      const alice = await person();
      const bob = await person({ locale: "en-US" });
      await signInAs(alice, suite.running.base, "alice7");
      await signInAs(bob, suite.running.base, "bob7");
      await say(alice.page, "我们明天在上海吃饭");
      for (let i = 0; i < 15; i++) await say(alice.page, `later ${i}`);
      await confirmedMine(alice.page, "later 14").waitFor();
      await bob.page.reload();
      await messageWithText(bob.page, "later 14").waitFor();
      expect(await messageWithText(bob.page, "我们明天在上海吃饭").count()).toBe(0);
      // The index takes new messages within a moment: search until it has them.
      const hit = bob.page.locator("#search-list .search-hit", { hasText: "上海" });
      for (let tries = 0; (await hit.count()) === 0; tries++) {
        expect(tries).toBeLessThan(20);
        await bob.page.locator("#search").fill("");
        await bob.page.locator("#search").pressSequentially("上海");
        await bob.page
          .locator("#search-status")
          .filter({ hasNotText: /Searching/ })
          .waitFor();
        await bob.page.waitForTimeout(200);
      }
      expect(await hit.locator("mark").textContent()).toBe("上海");
      await bob.page.screenshot({ path: `${SHOTS}/search-results.png` });
      await hit.click();
      const message = messageWithText(bob.page, "我们明天在上海吃饭");
      await message.waitFor();
      await bob.page.locator("li.message.flash").waitFor();
      expect(await bob.page.locator("#search-results").isHidden()).toBe(true);
      await bob.page.screenshot({ path: `${SHOTS}/search-landed.png` });
      // A query the server refuses says why.
      await bob.page.locator("#search").fill('"unclosed');
      await bob.page.locator("#search").press("Enter");
      await bob.page.locator("#search-status", { hasText: "quote" }).waitFor();
      // (Chromium logs the 400 it was answered: expected here, and the only error.)
      expect(bob.errors.splice(0)).toEqual([expect.stringContaining("400")]);
    },
    TEST_TIMEOUT_MS,
  );
});

describe("notifications", () => {
  /** Replaces the page's Notification with one that records what it is asked to show (permission: granted). */
  const recordNotifications = (page: Page) =>
    page.addInitScript(`
      window.__shown = [];
      window.Notification = class {
        static permission = "granted";
        static requestPermission() { return Promise.resolve("granted"); }
        constructor(title, options) { window.__shown.push({ title, body: options.body, tag: options.tag }); }
        close() {}
      };
    `);
  const shown = (page: Page) => page.evaluate("window.__shown") as Promise<Array<{ title: string; body: string }>>;

  test(
    "hidden, a mention raises a notification, a plain message does not; the level changes that, on every tab",
    async () => {
      const alice = await person();
      const bob = await person();
      await recordNotifications(alice.page);
      await signInAs(alice, suite.running.base, "alice8");
      await signInAs(bob, suite.running.base, "bob8");
      await setHidden(alice.page, true);
      await say(bob.page, "plain news");
      await say(bob.page, "@alice8 看一下");
      await messageWithText(alice.page, "@alice8 看一下").waitFor();
      expect((await shown(alice.page)).map((n) => n.body)).toEqual(["@alice8 看一下"]);
      expect((await shown(alice.page))[0]!.title).toContain("bob8");
      expect(await alice.page.title()).toMatch(/^\(2\)/);
      // Every message, chosen from the header (the server keeps it: a second tab shows the same).
      await alice.page.locator("#notify-level").selectOption("all");
      const second = await alice.context.newPage();
      await second.goto(suite.running.base);
      await second.locator("#users li.self").waitFor({ state: "attached" });
      expect(await second.locator("#notify-level").inputValue()).toBe("all");
      await say(bob.page, "more plain news");
      await messageWithText(alice.page, "more plain news").waitFor();
      expect((await shown(alice.page)).map((n) => n.body)).toEqual(["@alice8 看一下", "more plain news"]);
      // Nothing: not even a mention.
      await second.locator("#notify-level").selectOption("none");
      for (let tries = 0; (await alice.page.locator("#notify-level").inputValue()) !== "none"; tries++) {
        expect(tries).toBeLessThan(50);
        await alice.page.waitForTimeout(100);
      }
      await say(bob.page, "@alice8 again");
      await messageWithText(alice.page, "@alice8 again").waitFor();
      expect((await shown(alice.page)).length).toBe(2);
      await second.close();
    },
    TEST_TIMEOUT_MS,
  );
});

describe("push", () => {
  test(
    "the account menu offers pushes; the service worker shows a push as a notification for its conversation",
    async () => {
      const alice = await person({ locale: "en-US" });
      await alice.context.grantPermissions(["notifications"], { origin: suite.running.base });
      await signInAs(alice, suite.running.base, "alice10");
      const { page } = alice;
      await page.locator("#account-toggle").click();
      await page.locator("#push-option").waitFor({ state: "visible" });
      await page.screenshot({ path: `${SHOTS}/push-option.png` });
      // Subscribing registers the service worker; this machine reaches no browser vendor's push
      // service, so the subscription itself fails, and the page says so.
      await page.locator("#push-enable").check();
      await page.locator("#push-error").filter({ hasText: "could not subscribe" }).waitFor();
      expect(await page.locator("#push-enable").isChecked()).toBe(false);
      // Chromium's own console line for a profile like this one (an incognito context), not the page's.
      alice.errors.splice(0, alice.errors.length, ...alice.errors.filter((e) => !e.includes("incognito mode")));
      const script = await page.evaluate("navigator.serviceWorker.ready.then((r) => r.active && r.active.scriptURL)");
      expect(script).toBe(`${suite.running.base}/sw.js`);
      // A push, delivered to the worker as a push service would (DevTools protocol).
      const cdp = await alice.context.newCDPSession(page);
      const registered = new Promise<string>((resolve) =>
        cdp.on("ServiceWorker.workerRegistrationUpdated", ({ registrations }) => {
          const found = registrations.find((r: { scopeURL: string }) => r.scopeURL === `${suite.running.base}/`);
          if (found) resolve(found.registrationId);
        }),
      );
      await cdp.send("ServiceWorker.enable");
      const payload = { id: 42, room: "lobby", from: "bob10", text: "@alice10 tea?", count: 3, mention: true };
      await cdp.send("ServiceWorker.deliverPushMessage", {
        origin: suite.running.base,
        registrationId: await registered,
        data: JSON.stringify(payload),
      });
      let shown: Array<{ title: string; body: string; tag: string }> = [];
      for (let tries = 0; shown.length === 0; tries++) {
        expect(tries).toBeLessThan(50);
        await page.waitForTimeout(100);
        shown = (await page.evaluate(
          "navigator.serviceWorker.ready.then((r) => r.getNotifications()).then((all) => all.map((n) => ({ title: n.title, body: n.body, tag: n.tag })))",
        )) as typeof shown;
      }
      expect(shown).toEqual([{ title: "bob10 · # lobby", body: "@alice10 tea?\n3 new messages", tag: "room:lobby" }]);
    },
    TEST_TIMEOUT_MS,
  );
});

describe("arrivals", () => {
  test(
    "people arriving one after another with nothing said in between are one line; a message starts a new one",
    async () => {
      const alice = await person({ locale: "en-US" });
      await signInAs(alice, suite.running.base, "alice9");
      const bots: Client[] = [];
      const arrive = async (name: string) => {
        const bot = await Client.connect(suite.running.wsUrl, (await signIn(suite.running.base, name)).cookie);
        await bot.next("history");
        bots.push(bot);
      };
      await arrive("ann9");
      await alice.page.locator("#messages li.system", { hasText: "ann9 joined" }).waitFor();
      await arrive("ben9");
      await alice.page.locator("#messages li.system", { hasText: "ann9 and ben9 joined" }).waitFor();
      await arrive("cai9");
      await alice.page.locator("#messages li.system", { hasText: "3 joined" }).waitFor();
      expect(await alice.page.locator("#messages li.system").count()).toBe(1);
      await say(alice.page, "welcome all");
      await confirmedMine(alice.page, "welcome all").waitFor();
      await arrive("dan9");
      await alice.page.locator("#messages li.system", { hasText: "dan9 joined" }).waitFor();
      expect(await alice.page.locator("#messages li.system").count()).toBe(2);
      for (const bot of bots) bot.close();
      await alice.page.locator("#messages li.system", { hasText: "4 left" }).waitFor();
    },
    TEST_TIMEOUT_MS,
  );
});
