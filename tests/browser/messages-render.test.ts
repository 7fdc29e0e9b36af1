/**
 * How messages are rendered, in real Chromium against the real server:
 * formatting (links, code, emphasis, mentions) as DOM nodes, dates and day
 * separators, the composer's length limit, and the accessibility of the
 * sidebar, the message list and the phone drawer.
 */
import { describe, expect, test } from "bun:test";
import type { Page } from "playwright-core";
import { format, plainText } from "../../src/web/client/format";
import { STRINGS } from "../../src/web/i18n";
import { Client, signIn, startApp, type Running } from "../helpers";
import { messageWithText, roomEntry, say, signInAs, useBrowserSuite } from "./browser";

const TEST_TIMEOUT_MS = 60_000;
const en = STRINGS.en;

const suite = useBrowserSuite({}, { timeoutMs: TEST_TIMEOUT_MS });
const { person, cleanups } = suite;
/** Resolves once a server of the test's own is ready. */
const started = async (app: Running): Promise<Running> => {
  await app.teahouse.started;
  return app;
};

/** The message whose text, as shown (formatting markers gone), is what `text` formats to. */
const shown = (page: Page, text: string) => messageWithText(page, plainText(format(text)));

/** The message list top to bottom: day separators as `| label`, messages by their text. */
const listing = (page: Page): Promise<string[]> =>
  page.evaluate(`[...document.querySelectorAll("#messages li")].flatMap((li) =>
    li.classList.contains("day-separator") ? ["| " + li.textContent]
    : li.classList.contains("message") ? [li.querySelector(".text").textContent] : [])`);

/** Evaluates an expression in the page (a string: these tests are not compiled with the DOM's types). */
const run = <T>(page: Page, expression: string): Promise<T> => page.evaluate(expression) as Promise<T>;

describe("formatting", () => {
  test(
    "links, code and emphasis are DOM nodes; other schemes stay text; a link opens without opener or referrer",
    async () => {
      const [ann, bob] = [await person(), await person({ locale: "en-US" })];
      await signInAs(ann, suite.running.base, "ann");
      await signInAs(bob, suite.running.base, "bob");
      const local = `${suite.running.base}/healthz`;
      const text =
        `看这个https://example.com/a吧，这是**重点**内容 (see https://en.wikipedia.org/wiki/Tea_(drink)). ` +
        `snake_case_words 2*3*4 ~~old~~ _new_ javascript:alert(1) jav&#x61;script:alert(2) data:text/html,x ` +
        "`https://not.a.link/**x**` <img src=x onerror=alert(3)> " +
        `try ${local}.`;
      await say(bob.page, text);
      const message = shown(ann.page, text);
      await message.waitFor();

      const links = await message.locator("a").evaluateAll((as) =>
        as.map((a) => ({
          href: a.getAttribute("href"),
          target: a.getAttribute("target"),
          rel: a.getAttribute("rel"),
          text: a.textContent,
        })),
      );
      const rel = "noopener noreferrer nofollow";
      expect(links).toEqual([
        { href: "https://example.com/a", target: "_blank", rel, text: "https://example.com/a" },
        {
          href: "https://en.wikipedia.org/wiki/Tea_(drink)",
          target: "_blank",
          rel,
          text: "https://en.wikipedia.org/wiki/Tea_(drink)",
        },
        { href: local, target: "_blank", rel, text: local },
      ]);
      expect(await message.locator(".text strong").allTextContents()).toEqual(["重点"]);
      expect(await message.locator(".text em").allTextContents()).toEqual(["new"]);
      expect(await message.locator(".text del").allTextContents()).toEqual(["old"]);
      expect(await message.locator(".text code").allTextContents()).toEqual(["https://not.a.link/**x**"]);
      expect(await message.locator(".text img").count()).toBe(0);
      expect(await message.locator(".text").textContent()).toContain("javascript:alert(1) jav&#x61;script:alert(2)");

      // A fenced block keeps its lines and spaces, unformatted.
      const block = "code:\n```\nconst x = 1;\n  if (x) **no** https://example.com\n```\nafter";
      await say(bob.page, block);
      const blockMessage = shown(ann.page, block);
      await blockMessage.waitFor();
      const pre = blockMessage.locator(".text pre code");
      expect(await pre.textContent()).toBe("const x = 1;\n  if (x) **no** https://example.com");
      expect(await pre.locator("a, strong").count()).toBe(0);
      expect(await run(ann.page, "getComputedStyle(document.querySelector('#messages pre')).whiteSpace")).toBe("pre");

      // The link opens in a new tab that cannot reach back to the page nor learn where it came from.
      const [popup] = await Promise.all([
        ann.context.waitForEvent("page"),
        message.locator(`a[href="${local}"]`).click(),
      ]);
      await popup.waitForLoadState();
      expect(popup.url()).toBe(local);
      expect(await run(popup, "[window.opener === null, document.referrer]")).toEqual([true, ""]);
      await popup.close();

      expect([...ann.dialogs, ...bob.dialogs]).toEqual([]);
      expect([...ann.errors, ...bob.errors]).toEqual([]);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "@name is highlighted, as the reader's own name only for them; a mention elsewhere gets a badge",
    async () => {
      const [cho, dev] = [await person({ locale: "en-US" }), await person({ locale: "en-US" })];
      await signInAs(cho, suite.running.base, "Cho Lee");
      await signInAs(dev, suite.running.base, "devi");
      // cho reads another room: the lobby's messages are unread there.
      await cho.page.locator("#room-name").fill("quiet");
      await cho.page.locator("#room-name").press("Enter");
      await cho.page.locator("#conv-title", { hasText: "# quiet" }).waitFor();

      await say(dev.page, "hey @cho lee, look at **this**");
      await say(dev.page, "and @devi again");
      const lobby = roomEntry(cho.page, "lobby");
      await lobby.locator(".badge", { hasText: /^2$/ }).waitFor();
      await lobby.locator(".mention-badge").waitFor();
      expect(await lobby.locator(".visually-hidden").allTextContents()).toEqual(["2 online", "2 unread", "1 mention"]);

      await lobby.click();
      const mine = shown(cho.page, "hey @cho lee, look at **this**");
      await mine.waitFor();
      expect(await mine.locator(".mention.mentions-me").textContent()).toBe("@cho lee");
      expect(await mine.getAttribute("class")).toContain("mentioned");
      // Someone else's name: a mention, not the reader's.
      const other = shown(cho.page, "and @devi again");
      expect(await other.locator(".mention").textContent()).toBe("@devi");
      expect(await other.locator(".mentions-me").count()).toBe(0);
      // Read: the badges go.
      await lobby.locator(".mention-badge").waitFor({ state: "detached" });
      // For the sender, their own words mention someone else.
      const sent = shown(dev.page, "hey @cho lee, look at **this**");
      expect(await sent.locator(".mention").count()).toBe(1);
      expect(await sent.locator(".mentions-me").count()).toBe(0);
      expect(await dev.page.locator("#messages .mentions-me").textContent()).toBe("@devi");
    },
    TEST_TIMEOUT_MS,
  );
});

describe("dates", () => {
  test(
    "day separators and times follow the messages' own timestamps, through 'load older', a language switch and midnight",
    async () => {
      const stage = await started(startApp({ historyPageSize: 3 }));
      cleanups.push(() => stage.stop());
      const at = (iso: string) => Date.parse(iso);
      // The server stamps messages now; the page is shown them as sent on these days (its clock is fixed).
      const when = new Map([
        ["old one", at("2025-03-01T10:00:00Z")],
        ["old two", at("2025-03-01T10:05:00Z")],
        ["yesterday one", at("2025-03-09T09:00:00Z")],
        ["yesterday two", at("2025-03-09T23:59:00Z")],
        ["today one", at("2025-03-10T08:00:00Z")],
        ["today two", at("2025-03-10T11:00:00Z")],
        ["after midnight", at("2025-03-11T00:00:10Z")],
      ]);
      const bot = await signIn(stage.base, "bot");
      const socket = await Client.connect(stage.wsUrl, bot.cookie);
      cleanups.push(async () => socket.close());
      const names = [...when.keys()];
      for (const [n, data] of names.slice(0, 6).entries()) socket.send({ type: "chat", data, cid: `d${n}` });
      await socket.next("ack", (ack) => ack.data.cid === "d5", 10_000);

      const lee = await person({ locale: "en-US", timezoneId: "UTC" });
      const { page } = lee;
      await page.clock.setFixedTime(at("2025-03-10T12:00:00Z"));
      await page.routeWebSocket(/\/ws\/chat/, (ws) => {
        const server = ws.connectToServer();
        const restamp = (frame: { type?: string; data?: unknown; ts?: number }) => {
          if ((frame.type === "chat" || frame.type === "private") && typeof frame.data === "string")
            frame.ts = when.get(frame.data) ?? frame.ts;
        };
        server.onMessage((message) => {
          const frame = JSON.parse(String(message));
          restamp(frame);
          if (frame.type === "history") for (const inner of frame.data) restamp(inner);
          ws.send(JSON.stringify(frame));
        });
        ws.onMessage((message) => server.send(message));
      });
      await signInAs(lee, stage.base, "lee");
      await messageWithText(page, "today two").waitFor();
      expect(await listing(page)).toEqual(["| Yesterday", "yesterday two", "| Today", "today one", "today two"]);

      // Older history goes above: "Yesterday" moves up to its first message, the older day gets its date.
      await page.locator("#load-older").click();
      await messageWithText(page, "old one").waitFor();
      expect(await listing(page)).toEqual([
        "| Saturday, March 1",
        "old one",
        "old two",
        "| Yesterday",
        "yesterday one",
        "yesterday two",
        "| Today",
        "today one",
        "today two",
      ]);
      // Every time has the full date and time on hover.
      const oldTime = messageWithText(page, "old one").locator("time");
      expect(await oldTime.textContent()).toBe("10:00 AM");
      expect(await oldTime.getAttribute("title")).toBe("Saturday, March 1, 2025 at 10:00:00 AM");
      expect(await page.locator("#messages li.message time:not([title])").count()).toBe(0);

      // The language switch re-renders separators and times.
      await page.locator("#room-view .lang-switch").click();
      expect((await listing(page)).filter((line) => line.startsWith("|"))).toEqual([
        "| 3月1日星期六",
        "| 昨天",
        "| 今天",
      ]);
      expect(await oldTime.textContent()).toBe("10:00");
      expect(await oldTime.getAttribute("title")).toContain("2025年3月1日星期六");

      // Past midnight a live message starts "Today" again; what was today is yesterday now.
      await page.clock.setFixedTime(at("2025-03-11T00:00:30Z"));
      socket.send({ type: "chat", data: "after midnight", cid: "d6" });
      await messageWithText(page, "after midnight").waitFor();
      expect(await listing(page)).toEqual([
        "| 3月1日星期六",
        "old one",
        "old two",
        "| 3月9日星期日",
        "yesterday one",
        "yesterday two",
        "| 昨天",
        "today one",
        "today two",
        "| 今天",
        "after midnight",
      ]);
      expect(lee.errors).toEqual([]);
    },
    TEST_TIMEOUT_MS,
  );
});

describe("composer", () => {
  test(
    "near the limit it counts what is left in characters, and refuses to send over it with a reason",
    async () => {
      const stage = await started(startApp({ maxMessageLength: 50 }));
      cleanups.push(() => stage.stop());
      const [eve, fin] = [await person({ locale: "en-US" }), await person({ locale: "en-US" })];
      await signInAs(eve, stage.base, "eve");
      await signInAs(fin, stage.base, "fin");
      const { page } = eve;
      const composer = page.locator("#text");
      const count = page.locator("#composer-count");
      const error = page.locator("#composer-error");
      // Nothing on the page cuts text short by itself.
      expect(await page.locator("[maxlength]").count()).toBe(0);
      expect(await page.locator("#composer").getAttribute("data-max-length")).toBe("50");

      await composer.fill("a".repeat(39));
      expect(await count.isHidden()).toBe(true);
      // 45 emoji: 90 UTF-16 units, 45 characters as the server counts them.
      await composer.fill("😀".repeat(45));
      await count.filter({ hasText: "5 characters left" }).waitFor();

      await composer.fill("x".repeat(55));
      await count.filter({ hasText: "5 characters over the limit" }).waitFor();
      expect(await count.getAttribute("class")).toContain("over");
      await composer.press("Enter");
      await error.filter({ hasText: "Not sent: 55 of 50 characters; remove 5" }).waitFor();
      expect(await error.getAttribute("role")).toBe("alert");
      expect(await composer.inputValue()).toBe("x".repeat(55));
      expect(await composer.getAttribute("aria-invalid")).toBe("true");
      await page.locator("#composer button[type=submit]").click();
      await page.waitForTimeout(300);
      expect(await page.locator("#messages li.message").count()).toBe(0);

      // In Chinese too.
      await page.locator("#room-view .lang-switch").click();
      expect(await error.textContent()).toBe("消息太长，没有发送：55/50 字，请删掉 5 字");
      expect(await count.textContent()).toBe("超出 5 字");
      await page.locator("#room-view .lang-switch").click();

      // Fixed by editing: the reason goes. Spaces around do not count (the server trims them).
      const fits = "y".repeat(50);
      await composer.fill(`   ${fits}   `);
      expect(await error.textContent()).toBe("");
      await count.filter({ hasText: "0 characters left" }).waitFor();
      await composer.press("Enter");
      await messageWithText(fin.page, fits).waitFor();
      expect(await composer.inputValue()).toBe("");
      expect(await count.isHidden()).toBe(true);
      expect(await composer.getAttribute("aria-invalid")).toBeNull();
    },
    TEST_TIMEOUT_MS,
  );
});

describe("accessibility", () => {
  test(
    "room buttons name their counts; the list is a log announcing only new messages; leaving a room keeps the focus",
    async () => {
      const [gus, hal] = [await person({ locale: "en-US" }), await person()];
      await signInAs(gus, suite.running.base, "gus");
      await signInAs(hal, suite.running.base, "hal");
      const { page } = gus;
      await page.locator("#room-name").fill("tea");
      await page.locator("#room-name").press("Enter");
      await page.locator("#conv-title", { hasText: "# tea" }).waitFor();
      await say(hal.page, "one for gus");
      const lobby = roomEntry(page, "lobby");
      await lobby.locator(".badge", { hasText: /^1$/ }).waitFor();
      // Read out as "Lobby 2 online 1 unread", not "Lobby 2 1".
      await page.getByRole("button", { name: "Lobby 2 online 1 unread", exact: true }).waitFor();
      expect(await lobby.locator("[aria-hidden=true]").allTextContents()).toEqual(["#", "2", "1"]);
      // In Chinese (hal's page): the count of people online.
      await roomEntry(hal.page, "lobby").locator(".visually-hidden", { hasText: "2 人在线" }).waitFor();

      // The container is no live region; each conversation's list is a log, put on screen busy.
      expect(await run(page, "document.getElementById('messages').closest('[aria-live]')")).toBeNull();
      // What is put into the container on a switch, and how it is marked then.
      await run(
        page,
        `window.seen = []; new MutationObserver((records) => { for (const record of records) for (const node of record.addedNodes)
           window.seen.push(["role", "aria-live", "aria-busy"].map((name) => node.getAttribute(name))); })
         .observe(document.getElementById("messages"), { childList: true })`,
      );
      await lobby.click();
      await messageWithText(page, "one for gus").waitFor();
      expect(await run(page, "window.seen")).toEqual([["log", "polite", "true"]]);
      const log = page.locator("#messages > ol");
      await page.locator("#messages > ol:not([aria-busy])").waitFor();
      // A live message arrives in the log while it is not busy: that one is news.
      await run(
        page,
        `window.busy = []; const list = document.querySelector("#messages > ol");
         new MutationObserver(() => window.busy.push(list.getAttribute("aria-busy"))).observe(list, { childList: true })`,
      );
      await say(hal.page, "news");
      await messageWithText(page, "news").waitFor();
      expect(await run<unknown[]>(page, "window.busy")).toContain(null);
      expect(await log.getAttribute("aria-label")).toBe(en.messageList);

      // Leaving a room: the focus goes on to the composer, not to a vanished button.
      await roomEntry(page, "tea").click();
      await page.locator("#conv-title", { hasText: "# tea" }).waitFor();
      await page.locator("#leave-room").click();
      await page.locator("#conv-title", { hasText: en.lobbyTitle }).waitFor();
      expect(await run(page, "document.activeElement?.id")).toBe("text");
      expect(gus.errors).toEqual([]);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "the phone drawer has a close button, keeps the focus while open, and gives it back to its opener",
    async () => {
      const ivy = await person({ locale: "en-US", width: 390, height: 760 });
      await signInAs(ivy, suite.running.base, "ivy");
      const { page } = ivy;
      const toggle = page.locator("#drawer-toggle");
      const sidebar = page.locator("#sidebar");
      const close = page.locator("#drawer-close");
      const focused = () => run<string>(page, "document.activeElement?.id || document.activeElement?.className");
      const focusInSidebar = () =>
        run<boolean>(page, "document.getElementById('sidebar').contains(document.activeElement)");
      const inert = () => run<boolean>(page, "document.getElementById('conversation').inert");

      await toggle.focus();
      await page.keyboard.press("Enter");
      await sidebar.waitFor({ state: "visible" });
      await close.waitFor({ state: "visible" });
      expect(await close.getAttribute("aria-label")).toBe(en.closeSidebar);
      expect(await focused()).toBe("drawer-close");
      expect(await sidebar.getAttribute("role")).toBe("dialog");
      expect(await sidebar.getAttribute("aria-modal")).toBe("true");
      expect(await inert()).toBe(true);
      // Tab goes round inside the drawer, both ways.
      for (let n = 0; n < 8; n++) {
        await page.keyboard.press("Tab");
        expect(await focusInSidebar()).toBe(true);
      }
      await close.focus();
      await page.keyboard.press("Shift+Tab");
      expect(await focusInSidebar()).toBe(true);
      expect(await focused()).not.toBe("drawer-close");
      await page.keyboard.press("Tab");
      expect(await focused()).toBe("drawer-close");
      await page.screenshot({ path: "/tmp/shots/messages-render-drawer.png" }).catch(() => {});

      // Escape closes it; the focus is back on ☰.
      await page.keyboard.press("Escape");
      await sidebar.waitFor({ state: "hidden" });
      expect(await focused()).toBe("drawer-toggle");
      expect(await inert()).toBe(false);
      // So does its close button.
      await toggle.click();
      await close.click();
      await sidebar.waitFor({ state: "hidden" });
      expect(await focused()).toBe("drawer-toggle");
      expect(await sidebar.getAttribute("role")).toBeNull();

      // On a wide screen there is no drawer, and no close button.
      await page.setViewportSize({ width: 1100, height: 720 });
      expect(await close.isVisible()).toBe(false);
      expect(await sidebar.isVisible()).toBe(true);
    },
    TEST_TIMEOUT_MS,
  );
});
