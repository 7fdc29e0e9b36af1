/**
 * The chat page in real Chromium: several people (browser contexts with their
 * own cookies) against one in-process server.
 */
import { join } from "node:path";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { describe, expect, test } from "bun:test";
import { Client, signIn, startApp, type Running } from "../helpers";
import { confirmedMine, messageWithText, say, signInAs, signOutVia, useBrowserSuite, userEntry } from "./browser";

/** Generous: the machine is shared, and each test drives several browser contexts. */
const TEST_TIMEOUT_MS = 60_000;

const suite = useBrowserSuite({}, { timeoutMs: TEST_TIMEOUT_MS });
const { person, cleanups } = suite;
/** Resolves once a server of the test's own is ready. */
const started = async (app: Running): Promise<Running> => {
  await app.teahouse.started;
  return app;
};

describe("chatting", () => {
  test(
    "two people chat both ways; the user list follows join and leave",
    async () => {
      const alice = await person();
      const bob = await person();
      await signInAs(alice, suite.running.base, "ann");
      await signInAs(bob, suite.running.base, "ben");

      await userEntry(alice.page, "ben").waitFor();
      await say(alice.page, "hello ben");
      await messageWithText(bob.page, "hello ben").waitFor();
      await say(bob.page, "hi ann");
      await messageWithText(alice.page, "hi ann").waitFor();

      // Own messages are marked and confirmed by the server's echo.
      await alice.page.locator("#messages li.message.mine:not(.pending)").filter({ hasText: "hello ben" }).waitFor();
      expect(await messageWithText(alice.page, "hi ann").getAttribute("class")).not.toContain("mine");
      expect(await alice.page.locator("#text:focus").count()).toBe(1);

      // A room of its own: its messages stay in it, and a later joiner gets them as history.
      await alice.page.locator("#room-name").fill("dev");
      await alice.page.locator("#room-name").press("Enter");
      await alice.page.locator("#conv-title", { hasText: "# dev" }).waitFor();
      await say(alice.page, "only in dev");
      await alice.page.locator("#messages li.message.mine:not(.pending)").filter({ hasText: "only in dev" }).waitFor();
      await bob.page.locator("#room-list button", { hasText: "dev" }).waitFor();
      expect(await messageWithText(bob.page, "only in dev").count()).toBe(0);
      await bob.page.locator("#room-list button", { hasText: "dev" }).click();
      await messageWithText(bob.page, "only in dev").waitFor();
      await bob.page.locator(`#room-list button[data-key="lobby"]`).click();
      await messageWithText(bob.page, "hi ann").waitFor();

      await bob.context.close();
      await userEntry(alice.page, "ben").waitFor({ state: "detached" });
      expect(await alice.page.locator("#users li").count()).toBe(1);
      expect(alice.errors).toEqual([]);
    },
    TEST_TIMEOUT_MS,
  );
});

describe("history and scrolling", () => {
  test(
    "a newcomer sees the latest page, pages back with 'load older', and is not yanked down while reading",
    async () => {
      // 25 messages at once: over the default burst of 20 frames per socket.
      const stage = await started(startApp({ historyPageSize: 10, rateBurst: 50 }));
      cleanups.push(() => stage.stop());
      const bot = await signIn(stage.base, "bot");
      const socket = await Client.connect(stage.wsUrl, bot.cookie);
      cleanups.push(async () => socket.close());
      for (let n = 1; n <= 25; n++) socket.send({ type: "chat", data: `message ${n}`, cid: `c${n}` });
      await socket.next("ack", (ack) => ack.data.cid === "c25", 10_000);

      const lee = await person({ width: 800, height: 500 });
      await signInAs(lee, stage.base, "lee");
      await messageWithText(lee.page, "message 25").waitFor();
      expect(await lee.page.locator("#messages li.message").count()).toBe(10);
      const older = lee.page.locator("#load-older");
      await older.click();
      await messageWithText(lee.page, "message 11").waitFor();
      await older.click();
      await messageWithText(lee.page, "message 1").waitFor();
      await older.waitFor({ state: "hidden" });
      const texts = await lee.page.locator("#messages li.message .text").allTextContents();
      expect(texts).toEqual(Array.from({ length: 25 }, (_, i) => `message ${i + 1}`));

      // Reading old messages: a new one does not scroll the list, a chip offers to.
      await lee.page.evaluate("document.getElementById('scroller').scrollTop = 0");
      socket.send({ type: "chat", data: "message 26" });
      const chip = lee.page.locator("#new-messages");
      await chip.waitFor({ state: "visible" });
      expect(await lee.page.evaluate("document.getElementById('scroller').scrollTop")).toBe(0);
      await chip.click();
      await chip.waitFor({ state: "hidden" });
      expect(await messageWithText(lee.page, "message 26").isVisible()).toBe(true);
    },
    TEST_TIMEOUT_MS,
  );
});

describe("privacy and safety", () => {
  test(
    "a private conversation reaches only its recipient",
    async () => {
      const [carl, dana, ed] = await Promise.all([person(), person(), person()]);
      await signInAs(carl!, suite.running.base, "carl");
      await signInAs(dana!, suite.running.base, "dana");
      await signInAs(ed!, suite.running.base, "ed");

      // dana's tab is in the background: the title counts what arrives.
      await dana!.page.evaluate(
        "Object.defineProperty(document, 'hidden', { configurable: true, get: () => true }); document.dispatchEvent(new Event('visibilitychange'))",
      );
      await userEntry(carl!.page, "dana").locator("button").click();
      await carl!.page.locator("#conv-title", { hasText: "dana" }).waitFor();
      await say(carl!.page, "a secret for dana");
      await carl!.page.locator("#messages li.message.mine:not(.pending)").waitFor();

      // dana gets it in its own conversation, with an unread badge, not in the lobby.
      const entry = dana!.page.locator("#private-list button", { hasText: "carl" });
      await entry.locator(".badge", { hasText: "1" }).waitFor();
      expect(await messageWithText(dana!.page, "a secret for dana").count()).toBe(0);
      expect(await dana!.page.title()).toBe("(1) 茶馆");
      await dana!.page.evaluate(
        "Object.defineProperty(document, 'hidden', { configurable: true, get: () => false }); document.dispatchEvent(new Event('visibilitychange'))",
      );
      expect(await dana!.page.title()).toBe("茶馆");
      await entry.click();
      await messageWithText(dana!.page, "a secret for dana").waitFor();
      await say(dana!.page, "got it, carl");
      await messageWithText(carl!.page, "got it, carl").waitFor();

      // ed saw none of it, anywhere on the page.
      expect(await ed!.page.getByText("a secret for dana").count()).toBe(0);
      expect(await ed!.page.getByText("got it, carl").count()).toBe(0);
      expect(await ed!.page.locator("#private-section").isHidden()).toBe(true);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "markup in a name or a message is shown as text and runs nothing",
    async () => {
      const [mallory, fay] = await Promise.all([person(), person()]);
      const name = "<b>x</b>";
      const attack = "<img src=x onerror=alert(1)>";
      await signInAs(mallory!, suite.running.base, name);
      await signInAs(fay!, suite.running.base, "fay");
      await say(mallory!.page, attack);
      await messageWithText(fay!.page, attack).waitFor();

      for (const { page } of [mallory!, fay!]) {
        await userEntry(page, name).waitFor();
        expect(await page.locator("#room-view img, #room-view b").count()).toBe(0);
      }
      expect(await messageWithText(fay!.page, attack).locator(".name").textContent()).toBe(name);
      // The server-rendered shell escapes the name too.
      await mallory!.page.reload();
      await mallory!.page.locator("#users li.self").waitFor({ state: "attached" });
      expect(await mallory!.page.locator("#me").textContent()).toContain(name);
      expect(await mallory!.page.locator("#room-view img, #room-view b").count()).toBe(0);
      expect([...mallory!.dialogs, ...fay!.dialogs]).toEqual([]);
    },
    TEST_TIMEOUT_MS,
  );
});

describe("signing in and out", () => {
  test(
    "a taken name is refused inline; sign-out returns every tab to the sign-in view",
    async () => {
      const [gil, copycat] = await Promise.all([person(), person()]);
      await signInAs(gil!, suite.running.base, "gil");
      const secondTab = await gil!.context.newPage();
      await secondTab.goto(suite.running.base);
      await secondTab.locator("#users li.self").waitFor({ state: "attached" });

      await copycat!.page.goto(suite.running.base);
      await copycat!.page.locator("#name").fill("GIL");
      await copycat!.page.locator("#name").press("Enter");
      await copycat!.page.locator("#signin-error", { hasText: "这个名字已被使用" }).waitFor();
      expect(await copycat!.page.locator("#room-view").isHidden()).toBe(true);

      await signOutVia(gil!.page);
      expect(await gil!.page.locator("#room-view").isHidden()).toBe(true);
      // The other tab's socket is closed with 4002 and it returns to sign-in too, instead of reconnecting.
      await secondTab.locator("#signin-view").waitFor({ state: "visible" });
      // The cookie is gone: a reload stays signed out.
      await gil!.page.reload();
      expect(await gil!.page.locator("#signin-view").isVisible()).toBe(true);
    },
    TEST_TIMEOUT_MS,
  );
});

describe("phone", () => {
  test(
    "a phone-width screen has no horizontal scroll; the user list is a drawer",
    async () => {
      // 320 px: the narrowest phones still in use; a long name must not push the top bar out.
      const ivy = await person({ width: 320, height: 640 });
      await signInAs(ivy, suite.running.base, "ivy with a rather long name");
      await say(ivy.page, `a long word: ${"w".repeat(300)}`);
      // Shift+Enter is a new line, Enter sends.
      const composer = ivy.page.locator("#text");
      await composer.pressSequentially("line one");
      await composer.press("Shift+Enter");
      await composer.pressSequentially("line two");
      await composer.press("Enter");
      await ivy.page.locator("#messages li.message.mine:not(.pending)").nth(1).waitFor();
      expect(await ivy.page.locator("#messages li.message.mine .text").nth(1).textContent()).toBe("line one\nline two");
      expect(await composer.inputValue()).toBe("");
      // A draft of several lines grows the composer (so does its placeholder when it wraps): the newest
      // message stays in view above it rather than slipping under the fold.
      await composer.fill("draft\nof\nfour\nlines");
      await ivy.page.waitForTimeout(100);
      const [messageBottom, scrollerBottom] = (await ivy.page.evaluate(
        "[document.querySelector('#messages li.message:last-child').getBoundingClientRect().bottom, document.getElementById('scroller').getBoundingClientRect().bottom]",
      )) as [number, number];
      expect(messageBottom).toBeLessThanOrEqual(scrollerBottom);
      await composer.fill("");
      const overflow = await ivy.page.evaluate(
        "[document.documentElement.scrollWidth - innerWidth, document.body.scrollWidth - innerWidth]",
      );
      expect(overflow).toEqual([0, 0]);
      // Nothing sticks out on the right either (the body clips, so scrollWidth alone would not tell).
      const outside = await ivy.page.evaluate(
        "[...document.querySelectorAll('#room-view *')].filter((e) => !e.closest('#sidebar') && e.getClientRects().length && e.getBoundingClientRect().right > innerWidth + 0.5).map((e) => e.id || e.className)",
      );
      expect(outside).toEqual([]);

      const sidebar = ivy.page.locator("#sidebar");
      expect(await sidebar.isVisible()).toBe(false);
      await ivy.page.locator("#drawer-toggle").click();
      await sidebar.waitFor({ state: "visible" });
      await userEntry(ivy.page, "ivy with a rather long name").waitFor();
      await ivy.page.keyboard.press("Escape");
      await sidebar.waitFor({ state: "hidden" });
      // The composer stays on screen.
      const box = await ivy.page.locator("#text").boundingBox();
      expect(box!.y + box!.height).toBeLessThanOrEqual(640);
    },
    TEST_TIMEOUT_MS,
  );
});

describe("connection", () => {
  test("the server stops and starts again: a banner, then the page reconnects by itself", async () => {
    // Sessions and history on disk with a fixed secret, so they outlive the restart.
    const dataDir = mkdtempSync(join(tmpdir(), "teahouse-browser-"));
    const config = { dataDir, secrets: ["browser-restart-test-secret"] };
    let server = await started(startApp(config));
    const port = Number(new URL(server.base).port);
    try {
      const [jo, kim] = await Promise.all([person(), person()]);
      await signInAs(jo!, server.base, "jo");
      await signInAs(kim!, server.base, "kim");
      await say(kim!.page, "before the restart");
      await messageWithText(jo!.page, "before the restart").waitFor();

      await server.stop();
      const banner = jo!.page.locator("#banner");
      await banner.waitFor({ state: "visible" });
      await jo!.page.locator("#reconnect-now").waitFor({ state: "visible" });
      // Sent while down: waiting for the connection (not refused, nothing to retry by hand).
      await say(jo!.page, "sent while down");
      await jo!.page.locator("#messages li.message.pending").waitFor();
      expect(await jo!.page.locator("#messages li.message.failed").count()).toBe(0);

      server = await started(startApp({ ...config, port }));
      await banner.waitFor({ state: "hidden", timeout: 40_000 });
      await kim!.page.locator("#banner").waitFor({ state: "hidden", timeout: 40_000 });
      await userEntry(jo!.page, "kim").waitFor();

      await messageWithText(kim!.page, "sent while down").waitFor();
      await confirmedMine(jo!.page, "sent while down").waitFor();
      await say(kim!.page, "after the restart");
      await messageWithText(jo!.page, "after the restart").waitFor();
      // Resumed, not replayed: every message once, the user list refreshed.
      for (const text of ["before the restart", "sent while down", "after the restart"])
        expect(await messageWithText(jo!.page, text).count()).toBe(1);
      expect(await jo!.page.locator("#users li").count()).toBe(2);
      expect(jo!.dialogs).toEqual([]);
    } finally {
      await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 90_000);
  test("a server that no longer knows the session: the page returns to sign-in instead of retrying forever", async () => {
    let server = await started(startApp());
    const port = Number(new URL(server.base).port);
    try {
      const liv = await person();
      await signInAs(liv, server.base, "liv");
      await server.stop();
      await liv.page.locator("#banner").waitFor({ state: "visible" });
      // A fresh in-memory server: the cookie's session is unknown, the upgrade is refused (401, seen as 1006).
      server = await started(startApp({ port }));
      await liv.page.locator("#signin-view").waitFor({ state: "visible", timeout: 40_000 });
      expect(await liv.page.locator("#name").inputValue()).toBe("liv");
    } finally {
      await server.stop();
    }
  }, 90_000);
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
        "对了，周末有人去爬山吗？",
      ],
      mention: "@小明 文档在这里：https://bun.sh/docs ，先看 `Bun.serve`",
      private: "晚上一起喝茶？",
      room: "周末爬山",
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
        "Also: anyone up for a hike this weekend?",
      ],
      mention: "@alice the docs are at https://bun.sh/docs — start with `Bun.serve`",
      private: "Tea tonight?",
      room: "hiking",
      expect: { signOut: "Sign out", send: "Send" },
    },
  ] as const;

  for (const scene of scenes)
    test(
      `the room in ${scene.lang}, from Accept-Language, with a screenshot`,
      async () => {
        // A server of its own, so the picture shows only this scene.
        const stage = await started(startApp());
        cleanups.push(() => stage.stop());
        const [me, second, third] = await Promise.all(
          scene.names.map(() => person({ locale: scene.locale, width: 1024, height: 640 })),
        );
        await signInAs(me!, stage.base, scene.names[0]);
        await signInAs(second!, stage.base, scene.names[1]);
        await signInAs(third!, stage.base, scene.names[2]);
        await say(me!.page, scene.lines[0]);
        await messageWithText(second!.page, scene.lines[0]).waitFor();
        // The second answers the first (a reply quotes it), and both others react to it.
        const first = messageWithText(second!.page, scene.lines[0]);
        await first.hover();
        await first.locator(".action-reply").click();
        await say(second!.page, scene.lines[1]);
        await messageWithText(third!.page, scene.lines[1]).waitFor();
        await say(third!.page, scene.lines[2]);
        await say(third!.page, scene.lines[3]);
        await say(third!.page, scene.mention);
        await messageWithText(me!.page, scene.lines[3]).waitFor();
        await me!.page.locator("li.message.mentioned .mentions-me").waitFor();
        for (const [someone, emoji] of [
          [second!, "👍"],
          [third!, "🍵"],
        ] as const) {
          const message = messageWithText(someone.page, scene.lines[0]);
          await message.hover();
          await message.locator(".action-react").click();
          await someone.page.locator("#emoji-picker .emoji-choice", { hasText: emoji }).first().click();
        }
        await me!.page.locator(".reaction", { hasText: "🍵" }).waitFor();
        await me!.page.locator(".quote").waitFor();
        // Two in a row from one person: one avatar for both.
        expect(await messageWithText(me!.page, scene.lines[3]).getAttribute("class")).toContain("continued");
        // Typing is throttled (and the server drops one within a second of the last): keep typing a while.
        await third!.page.locator("#users button", { hasText: scene.names[0] }).click();
        await say(third!.page, scene.private);
        await me!.page.locator("#private-list .badge", { hasText: "1" }).waitFor();
        await me!.page.locator("#room-name").fill(scene.room);
        await me!.page.locator("#join-room button").click();
        await me!.page.locator("#conv-title", { hasText: scene.room }).waitFor();
        await me!.page.locator(`#room-list button[data-key="lobby"]`).click();
        await second!.page.locator("#text").pressSequentially("👍👍👍👍👍👍", { delay: 500 });
        await me!.page.locator("#typing").filter({ hasText: scene.names[1] }).waitFor();

        const page = me!.page;
        expect(await page.locator("#signout").textContent()).toBe(scene.expect.signOut);
        expect(await page.locator("#composer button[type=submit]").textContent()).toBe(scene.expect.send);
        expect(await page.locator("html").getAttribute("lang")).toBe(scene.lang === "zh" ? "zh-CN" : "en");
        await page.screenshot({ path: join(SCREENSHOT_DIR, `screenshot-${scene.lang}.png`) });

        // The switch flips every label at once, and is remembered for the next page.
        await page.locator("#room-view .lang-switch").click();
        const other = scene.lang === "zh" ? scenes[1] : scenes[0];
        expect(await page.locator("#signout").textContent()).toBe(other.expect.signOut);
        await page.reload();
        await page.locator("#users li.self").waitFor({ state: "attached" });
        expect(await page.locator("#signout").textContent()).toBe(other.expect.signOut);
      },
      TEST_TIMEOUT_MS,
    );
});
