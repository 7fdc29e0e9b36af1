/**
 * The admin page in real Chromium: the owner bans a user from the Users tab and the banned user's
 * page says so (and so does signing in again); a member reports a message from its toolbar and the
 * admin finds it under Reports and resolves it; a password reset link and a sign-up invite link made
 * in the page work in another browser; members never see the admin page's entry. Screenshots of
 * every tab (wide and at phone width) go to /tmp/shots.
 */
import { mkdirSync } from "node:fs";
import { beforeAll, describe, expect, test } from "bun:test";
import type { Page } from "playwright-core";
import { STRINGS } from "../../src/web/i18n";
import { messageWithText, say, signInAs, useBrowserSuite, type Person } from "./browser";

const TEST_TIMEOUT_MS = 90_000;
const SHOTS = "/tmp/shots";
const PASSWORD = "correct horse battery";
const { en, zh } = STRINGS;

const suite = useBrowserSuite(
  {},
  {
    timeoutMs: TEST_TIMEOUT_MS,
    afterEach: (someone) => {
      expect(someone.dialogs).toEqual([]);
      // Refusals the tests ask for (a banned sign-in, a second report, a used link) are logged by the
      // browser as failed resources: those are expected.
      const refused = /^Failed to load resource: the server responded with a status of (400|403|409) /;
      expect(someone.errors.filter((error) => !refused.test(error))).toEqual([]);
    },
  },
);
const person = suite.person;
beforeAll(() => mkdirSync(SHOTS, { recursive: true }));

/** Signs in with a password through the form (`register`: signs the name up). */
const withPassword = async (someone: Person, name: string, register = false, path = "/") => {
  const { page } = someone;
  await page.goto(`${suite.running.base}${path}`);
  await page.locator("#name").fill(name);
  await page.locator("#password").fill(PASSWORD);
  if (register) await page.locator("#register").click();
  else await page.locator("#password").press("Enter");
  await page.locator("#room-view").waitFor({ state: "visible" });
  await page.locator("#users li.self").waitFor({ state: "attached" });
};

/** The owner of this file's server: the first account to sign up. */
let ownerSignedUp = false;
const owner = async (options?: { width?: number; height?: number }): Promise<Person> => {
  const someone = await person({ locale: "en-US", ...options });
  await withPassword(someone, "olive", !ownerSignedUp);
  ownerSignedUp = true;
  return someone;
};

const openAdmin = async (page: Page, tab: "users" | "rooms" | "settings" | "audit" | "reports") => {
  if (await page.locator("#admin-view").isHidden()) {
    await page.locator("#account-toggle").click();
    await page.locator("#admin-open").click();
    await page.locator("#admin-view").waitFor({ state: "visible" });
  }
  await page.locator(`#admin-tab-${tab}`).click();
  await page.locator(`#admin-panel-${tab}`).waitFor({ state: "visible" });
};

const userRow = (page: Page, name: string) => page.locator(`li.admin-user[data-name="${name}"]`);

describe("the admin page", () => {
  test(
    "the owner deletes a user's message and bans them from the Users tab; the user's page says it is banned, and so does signing in",
    async () => {
      const olive = await owner();
      const bob = await person({ locale: "zh-CN" });
      await signInAs(bob, suite.running.base, "bob");
      // bob's spam goes from its toolbar: every page shows the tombstone.
      await say(bob.page, "cheap watches here");
      const spam = messageWithText(olive.page, "cheap watches here");
      await spam.hover();
      await spam.locator(".action-delete").click();
      await spam.locator(".confirm-delete").click();
      await bob.page.locator("#messages li.message.deleted").waitFor();
      // bob, a guest, has no admin page entry.
      await bob.page.locator("#account-toggle").click();
      expect(await bob.page.locator("#admin-open").isHidden()).toBe(true);
      await bob.page.locator("#account-toggle").click();

      await openAdmin(olive.page, "users");
      await userRow(olive.page, "bob").waitFor();
      await olive.page.locator("#admin-user-search").fill("bo");
      await olive.page.locator("li.admin-user").first().waitFor();
      await olive.page.waitForTimeout(400);
      expect(await olive.page.locator("li.admin-user").count()).toBe(1);
      // Nothing to do to oneself.
      await olive.page.locator("#admin-user-search").fill("");
      await userRow(olive.page, "olive").waitFor();
      expect(await userRow(olive.page, "olive").locator("button").count()).toBe(0);
      await olive.page.screenshot({ path: `${SHOTS}/admin-users.png` });

      const row = userRow(olive.page, "bob");
      await row.locator(".admin-ban").click();
      expect(await olive.page.evaluate("document.activeElement.className")).toBe("ban-reason");
      await row.locator(".ban-reason").fill("spamming the lobby");
      await olive.page.screenshot({ path: `${SHOTS}/admin-ban-form.png` });
      await row.locator(".ban-confirm").click();
      await row.locator(".tag.banned").waitFor();
      await row.locator(".admin-result", { hasText: en.adminBanDone.replace("{name}", "bob") }).waitFor();
      expect(await row.locator(".admin-unban").isVisible()).toBe(true);

      // bob's page: the ban, plainly, in his language; no reconnecting.
      await bob.page.locator("#banned-view").waitFor({ state: "visible" });
      expect(await bob.page.locator("#banned-title").textContent()).toBe(zh.bannedTitle);
      expect(await bob.page.locator("#room-view").isHidden()).toBe(true);
      expect(await bob.page.locator("#signin-view").isHidden()).toBe(true);
      await bob.page.screenshot({ path: `${SHOTS}/admin-banned-zh.png` });
      await bob.page.waitForTimeout(1500);
      expect(await bob.page.locator("#banned-view").isVisible()).toBe(true);
      // Signing in again says why it is refused.
      await bob.page.locator("#banned-back").click();
      await bob.page.locator("#name").fill("bob");
      await bob.page.locator("#name").press("Enter");
      await bob.page.locator("#signin-error", { hasText: zh.err_banned }).waitFor();

      // The audit log names who did what to whom.
      await openAdmin(olive.page, "audit");
      const line = olive.page.locator("li.admin-audit").first();
      await line.waitFor();
      expect(await line.textContent()).toContain(`olive ${en.audit_ban} bob`);
      await olive.page.screenshot({ path: `${SHOTS}/admin-audit.png` });

      // Unbanned: bob may come back.
      await openAdmin(olive.page, "users");
      await userRow(olive.page, "bob").locator(".admin-unban").click();
      await userRow(olive.page, "bob").locator(".admin-ban").waitFor();
      await bob.page.locator("#name").press("Enter");
      await bob.page.locator("#room-view").waitFor({ state: "visible" });
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "a member reports a message from its toolbar; the admin sees it under Reports and resolves it",
    async () => {
      const olive = await owner();
      const carol = await person({ locale: "en-US" });
      const dave = await person({ locale: "en-US" });
      await signInAs(carol, suite.running.base, "carol");
      await signInAs(dave, suite.running.base, "dave");
      await say(carol.page, "buy cheap pills here");
      const theirs = messageWithText(dave.page, "buy cheap pills here");
      await theirs.waitFor();
      // Not on one's own message.
      const mine = messageWithText(carol.page, "buy cheap pills here");
      await mine.hover();
      expect(await mine.locator(".action-report").count()).toBe(0);

      await theirs.hover();
      await theirs.locator(".action-report").click();
      await theirs.locator(".report-form input").waitFor();
      expect(await dave.page.evaluate("document.activeElement.id")).toMatch(/^report-reason-/);
      // A reason is needed.
      await theirs.locator(".report-form input").press("Enter");
      await theirs.locator(".report-form .error", { hasText: en.err_invalid_reason }).waitFor();
      await theirs.locator(".report-form input").fill("spam, selling things");
      await dave.page.screenshot({ path: `${SHOTS}/admin-report-form.png` });
      await theirs.locator(".report-form input").press("Enter");
      await theirs.locator(".report-done", { hasText: en.reportDone }).waitFor();
      // Twice: said so.
      await theirs.hover();
      await theirs.locator(".action-report").click();
      await theirs.locator(".report-form input").fill("again");
      await theirs.locator(".report-form input").press("Enter");
      await theirs.locator(".report-form .error", { hasText: en.err_already_reported }).waitFor();

      await openAdmin(olive.page, "reports");
      const report = olive.page.locator("li.admin-report").first();
      await report.waitFor();
      expect(await report.locator(".admin-quote-text").textContent()).toBe("buy cheap pills here");
      expect(await report.locator(".admin-quote .name").textContent()).toBe("carol");
      expect(await report.locator(".admin-report-by").textContent()).toContain(
        en.adminReportedBy.replace("{name}", "dave").replace("{reason}", "spam, selling things"),
      );
      await olive.page.screenshot({ path: `${SHOTS}/admin-reports.png` });
      await report.locator(".admin-resolve").click();
      await report.locator(".admin-result", { hasText: en.adminResolvedBy.replace("{name}", "olive") }).waitFor();
      // Gone from the open ones; there with "show resolved".
      await openAdmin(olive.page, "rooms");
      await openAdmin(olive.page, "reports");
      await olive.page.locator("#admin-panel-reports .admin-status", { hasText: en.adminNoReports }).waitFor();
      await olive.page.locator("#admin-reports-all").check();
      await olive.page.locator("li.admin-report.resolved, li.admin-report").first().waitFor();
      // "Go to the message" shows it in the chat.
      await olive.page.locator("li.admin-report .admin-go").first().click();
      await olive.page.locator("#admin-view").waitFor({ state: "hidden" });
      await messageWithText(olive.page, "buy cheap pills here").waitFor();
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "settings, rooms, a sign-up invite link and a password reset link, at phone width too",
    async () => {
      const olive = await owner();
      await openAdmin(olive.page, "settings");
      await olive.page.locator("#admin-signup").selectOption("invite");
      await olive.page.locator(".settings-form button[type=submit]").click();
      await olive.page.locator(".settings-form .admin-result", { hasText: en.adminSaved }).waitFor();
      await olive.page.locator("#admin-invite-uses").fill("1");
      await olive.page.locator(".invite-form button[type=submit]").click();
      const inviteUrl = await olive.page.locator(".invite-form .admin-link").inputValue();
      expect(inviteUrl).toContain("/ws#invite=");
      await olive.page.screenshot({ path: `${SHOTS}/admin-settings.png` });

      // Without the link: refused, with the reason; with it: in.
      const erin = await person({ locale: "en-US" });
      await erin.page.goto(suite.running.base);
      await erin.page.locator("#name").fill("erin");
      await erin.page.locator("#password").fill(PASSWORD);
      await erin.page.locator("#register").click();
      await erin.page.locator("#signin-error", { hasText: /./ }).waitFor();
      expect(await erin.page.locator("#signin-error").textContent()).toBe(en.err_invite_required);
      await erin.page.goto(inviteUrl);
      await erin.page.locator("#signin-notice", { hasText: en.inviteNotice }).waitFor();
      await withPassword(erin, "erin", true, new URL(inviteUrl).pathname + new URL(inviteUrl).hash);
      expect(new URL(erin.page.url()).hash).toBe("");
      // A member: no admin page.
      await erin.page.locator("#account-toggle").click();
      expect(await erin.page.locator("#admin-open").isHidden()).toBe(true);
      // With a link, in as a guest first, registering later from the account menu: the link still counts.
      await olive.page.locator(".invite-form button[type=submit]").click();
      let secondUrl = inviteUrl;
      for (let tries = 0; secondUrl === inviteUrl; tries++) {
        expect(tries).toBeLessThan(50);
        await olive.page.waitForTimeout(100);
        secondUrl = await olive.page.locator(".invite-form .admin-link").inputValue();
      }
      const fay = await person({ locale: "en-US" });
      await fay.page.goto(secondUrl);
      await fay.page.locator("#name").fill("fay");
      await fay.page.locator("#name").press("Enter");
      await fay.page.locator("#users li.self").waitFor({ state: "attached" });
      await fay.page.locator("#account-toggle").click();
      await fay.page.locator("#register-password").fill(PASSWORD);
      await fay.page.locator("#register-password").press("Enter");
      await fay.page.locator("#register-done").waitFor({ state: "visible" });

      // A reset link for erin, opened in another browser.
      await openAdmin(olive.page, "users");
      await userRow(olive.page, "erin").locator(".admin-reset").click();
      const resetUrl = await userRow(olive.page, "erin").locator(".admin-link").inputValue();
      expect(resetUrl).toContain("/ws#reset=");
      const elsewhere = await person({ locale: "en-US" });
      // Opened by mistake while signed in: Cancel gives the chat back, the link out of the address bar.
      await olive.page.goto(resetUrl);
      await olive.page.locator("#reset-view").waitFor({ state: "visible" });
      await olive.page.locator("#reset-cancel").click();
      await olive.page.locator("#room-view").waitFor({ state: "visible" });
      expect(olive.page.url()).not.toContain("reset=");
      await elsewhere.page.goto(resetUrl);
      await elsewhere.page.locator("#reset-view").waitFor({ state: "visible" });
      await elsewhere.page.screenshot({ path: `${SHOTS}/admin-reset-view.png` });
      await elsewhere.page.locator("#reset-password").fill("a brand new secret");
      await elsewhere.page.locator("#reset-password").press("Enter");
      await elsewhere.page.locator("#signin-notice", { hasText: en.resetDone }).waitFor();
      expect(await elsewhere.page.locator("#name").inputValue()).toBe("erin");
      // erin's own page was signed out (the reset ends every session).
      await erin.page.locator("#signin-view").waitFor({ state: "visible" });
      await elsewhere.page.locator("#password").fill("a brand new secret");
      await elsewhere.page.locator("#password").press("Enter");
      await elsewhere.page.locator("#room-view").waitFor({ state: "visible" });
      // The link works once.
      const again = await person({ locale: "en-US" });
      await again.page.goto(resetUrl);
      await again.page.locator("#reset-password").fill("yet another secret");
      await again.page.locator("#reset-password").press("Enter");
      await again.page.locator("#reset-error", { hasText: en.err_invalid_reset }).waitFor();

      await olive.page.locator("#admin-signup").waitFor({ state: "hidden" });
      await openAdmin(olive.page, "settings");
      await olive.page.locator("#admin-signup").selectOption("open");
      await olive.page.locator(".settings-form button[type=submit]").click();
      await olive.page.locator(".settings-form .admin-result", { hasText: en.adminSaved }).waitFor();

      await openAdmin(olive.page, "rooms");
      await olive.page.locator('li.admin-room[data-name="lobby"]').waitFor();
      await olive.page.screenshot({ path: `${SHOTS}/admin-rooms.png` });

      // At phone width, in Chinese.
      const phone = await person({ locale: "zh-CN", width: 390, height: 780 });
      await withPassword(phone, "olive");
      for (const tab of ["users", "reports", "audit", "settings"] as const) {
        await openAdmin(phone.page, tab);
        await phone.page.waitForTimeout(300);
        await phone.page.screenshot({ path: `${SHOTS}/admin-phone-${tab}.png` });
        const overflow = await phone.page.evaluate(
          "document.querySelector('#admin-view').scrollWidth - document.querySelector('#admin-view').clientWidth",
        );
        expect(overflow).toBeLessThanOrEqual(0);
      }
      await phone.page.locator("#admin-close").click();
      await phone.page.locator("#admin-view").waitFor({ state: "hidden" });
      expect(await phone.page.evaluate("document.activeElement.id")).toBe("text");
    },
    TEST_TIMEOUT_MS,
  );
});
