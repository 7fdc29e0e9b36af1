/**
 * Room moderation as people meet it in the page (Chromium, three people): a room's owner sets its
 * topic and slow mode from the header, makes it private and sends an invite link that lets another
 * person in; an admin deletes someone's message from its toolbar and mutes them from the member
 * list; the muted person sees why their message did not go.
 */
import { mkdirSync } from "node:fs";
import { beforeAll, describe, expect, test } from "bun:test";
import type { Page } from "playwright-core";
import { messageWithText, say, signInAs, useBrowserSuite, userEntry, pageStayedClean } from "./browser";

const TEST_TIMEOUT_MS = 90_000;
const SHOTS = "/tmp/shots";

const suite = useBrowserSuite(
  { ratePerSecond: 100, rateBurst: 200, userRatePerSecond: 100, userRateBurst: 200 },
  {
    timeoutMs: TEST_TIMEOUT_MS,
    afterEach: pageStayedClean,
  },
);
const person = suite.person;
beforeAll(() => mkdirSync(SHOTS, { recursive: true }));

const joinRoom = async (page: Page, name: string) => {
  await page.locator("#room-name").fill(name);
  await page.locator("#room-name").press("Enter");
  await page.locator("#conv-title", { hasText: `# ${name}` }).waitFor();
};

describe("room moderation", () => {
  test(
    "a room's owner sets its topic and slow mode, makes it private and invites someone in with a link",
    async () => {
      const ann = await person({ locale: "en-US" });
      const ben = await person({ locale: "en-US" });
      await signInAs(ann, suite.running.base, "ann1");
      await signInAs(ben, suite.running.base, "ben1");
      await joinRoom(ann.page, "garden");
      await ann.page.locator("#room-settings-toggle").click();
      await ann.page.locator("#room-topic").fill("Roses and tea");
      await ann.page.locator("#room-slow").selectOption("5");
      await ann.page.locator("#room-private").check();
      await ann.page.locator("#room-settings button[type=submit]").click();
      await ann.page.locator("#conv-topic", { hasText: "Roses and tea" }).waitFor();
      await ann.page.locator("#messages li.system", { hasText: "made the room private" }).waitFor();
      // The invite link, as ann would copy it.
      await ann.page.locator("#room-settings-toggle").click();
      await ann.page.locator("#room-invite").click();
      const link = ann.page.locator("#room-invite-link");
      await link.waitFor({ state: "visible" });
      const url = await link.inputValue();
      expect(url).toStartWith(`${suite.running.base}/ws#join=garden&invite=`);
      await ann.page.screenshot({ path: `${SHOTS}/room-settings.png` });
      // ben cannot just join; with the link he is in, and sees the topic.
      await ben.page.locator("#room-name").fill("garden");
      await ben.page.locator("#room-name").press("Enter");
      await ben.page.locator("#messages li.system", { hasText: "This room is private" }).waitFor();
      expect(await ben.page.locator("#conv-title").textContent()).not.toContain("garden");
      await ben.page.goto(url);
      await ben.page.locator("#conv-title", { hasText: "# garden" }).waitFor();
      await ben.page.locator("#conv-topic", { hasText: "Roses and tea" }).waitFor();
      expect(ben.page.url()).not.toContain("invite=");
      // Said before he tries; then his second message is not sent, says when it may go, and goes with Retry.
      await ben.page.locator("#muted-notice", { hasText: "Slow mode: one message every 5 s each" }).waitFor();
      expect(await ann.page.locator("#muted-notice").isHidden()).toBe(true);
      await say(ben.page, "first");
      await messageWithText(ann.page, "first").waitFor();
      await say(ben.page, "second");
      const held = messageWithText(ben.page, "second");
      await held.locator(".error, .reason", { hasText: /Slow mode: you may send again in [1-5] s/ }).waitFor();
      await ben.page.waitForTimeout(5_000);
      await held.locator("button", { hasText: "Retry" }).click();
      await messageWithText(ann.page, "second").waitFor();
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "an admin deletes someone's message from its toolbar and mutes them from the member list; they see why",
    async () => {
      const ada = await person({ locale: "en-US" });
      const tom = await person({ locale: "en-US" });
      await signInAs(ada, suite.running.base, "ada2");
      await signInAs(tom, suite.running.base, "tom2");
      const adaId = Number(await ada.page.locator("#users li.self").getAttribute("data-user"));
      await suite.running.teahouse.store.setRole(adaId, "admin");
      await ada.page.reload();
      await ada.page.locator("#users li.self").waitFor({ state: "attached" });
      await say(tom.page, "buy cheap stuff");
      const spam = messageWithText(ada.page, "buy cheap stuff");
      await spam.hover();
      await spam.locator(".action-delete").click();
      await spam.locator(".confirm-delete").click();
      await tom.page.locator("#messages li.message.deleted").waitFor();
      // Mute from the member list.
      const menuButton = userEntry(ada.page, "tom2").locator(".member-actions");
      await menuButton.click();
      // The menu opens under its button (it once opened a hundred pixels off, over the messages).
      const anchor = (await menuButton.boundingBox())!;
      const menu = (await ada.page.locator("#member-menu").boundingBox())!;
      expect(Math.abs(menu.y - (anchor.y + anchor.height))).toBeLessThan(12);
      expect(Math.abs(menu.x - anchor.x)).toBeLessThan(12);
      await ada.page.locator("#member-menu .menu-item", { hasText: "Mute for 10 minutes" }).click();
      await ada.page.locator("#messages li.system", { hasText: "tom2 is muted until" }).waitFor();
      await tom.page.locator("#muted-notice", { hasText: "You are muted in this room until" }).waitFor();
      await say(tom.page, "why?");
      const refused = messageWithText(tom.page, "why?");
      await refused.locator(".status", { hasText: /not sent|muted/i }).waitFor();
      await tom.page.screenshot({ path: `${SHOTS}/muted.png` });
      expect(await messageWithText(ada.page, "why?").count()).toBe(0);
      // A member without the role has no such buttons.
      expect(await userEntry(tom.page, "ada2").locator(".member-actions").count()).toBe(0);
    },
    TEST_TIMEOUT_MS,
  );
});
