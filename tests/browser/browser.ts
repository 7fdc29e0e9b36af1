/**
 * Real Chromium for the browser tests: Debian's package, driven by
 * playwright-core. A missing Chromium fails the tests with a clear message —
 * they never skip, so CI cannot go green without them.
 */
import { existsSync } from "node:fs";
import { afterAll, afterEach, beforeAll, expect } from "bun:test";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import type { Config } from "../../src/config";
import { startApp, type Running } from "../helpers";

/** Debian's Chromium binary (the `chromium` wrapper script adds noise; this is the real one). */
export const CHROMIUM_PATH = Bun.env.CHROMIUM_PATH ?? "/usr/lib/chromium/chromium";

/** Flags that work on this machine (see TRAPS): no sandbox as root, no GPU, no lookups of outside hosts. */
const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
  "--disable-sync",
];

export const launchBrowser = async (): Promise<Browser> => {
  if (!existsSync(CHROMIUM_PATH))
    throw new Error(
      `Chromium is not installed at ${CHROMIUM_PATH}: the browser tests need it. ` +
        "Install it with `apt-get install -y --no-install-recommends chromium` (or set CHROMIUM_PATH).",
    );
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, timeout: 60_000 });
};

export interface Person {
  context: BrowserContext;
  page: Page;
  /** Messages of alert()/confirm()/prompt() dialogs: any at all means script ran that should not have. */
  dialogs: string[];
  /** Uncaught page errors and console errors. */
  errors: string[];
}

/** A fresh browser profile (own cookies) with one page, recording dialogs and errors. */
export const newPerson = async (
  browser: Browser,
  options: { locale?: string; width?: number; height?: number; timezoneId?: string } = {},
): Promise<Person> => {
  const context = await browser.newContext({
    locale: options.locale ?? "zh-CN",
    ...(options.timezoneId ? { timezoneId: options.timezoneId } : {}),
    viewport: { width: options.width ?? 1100, height: options.height ?? 720 },
    colorScheme: "light",
  });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  const person: Person = { context, page, dialogs: [], errors: [] };
  page.on("dialog", (dialog) => {
    person.dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  page.on("pageerror", (error) => person.errors.push(String(error)));
  page.on("console", (message) => {
    if (message.type() === "error") person.errors.push(message.text());
  });
  return person;
};

/** Opens the page and signs in through the form (typing the name, pressing Enter). */
export const signInAs = async (person: Person, base: string, name: string): Promise<void> => {
  const { page } = person;
  await page.goto(base);
  await page.locator("#name").fill(name);
  await page.locator("#name").press("Enter");
  await page.locator("#room-view").waitFor({ state: "visible" });
  // The socket is open once our own entry is in the user list.
  await page.locator("#users li.self").waitFor({ state: "attached" });
};

/** Types a message in the composer and sends it with Enter. */
export const say = async (page: Page, text: string): Promise<void> => {
  await page.locator("#text").fill(text);
  await page.locator("#text").press("Enter");
};

const exactly = (text: string): RegExp => new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`);

/** The message bubble(s) whose text is exactly `text`. */
export const messageWithText = (page: Page, text: string) =>
  page.locator("#messages li.message").filter({ has: page.locator(".text", { hasText: exactly(text) }) });

/** An entry of the online user list by exact name. */
export const userEntry = (page: Page, name: string) =>
  page.locator("#users li").filter({ has: page.locator(".label", { hasText: exactly(name) }) });

/** Signs out through the account menu (here, or on every device) and waits for the sign-in view. */
export const signOutVia = async (page: Page, everywhere = false): Promise<void> => {
  await page.locator("#account-toggle").click();
  await page.locator(everywhere ? "#signout-everywhere" : "#signout").click();
  await page.locator("#signin-view").waitFor({ state: "visible" });
};

/** Own messages with exactly this text that the server confirmed (✓: neither pending nor refused). */
export const confirmedMine = (page: Page, text: string) =>
  messageWithText(page, text).and(page.locator(".mine:not(.pending):not(.failed)"));

/** A room's entry in the sidebar. */
export const roomEntry = (page: Page, name: string) => page.locator(`#room-list button[data-key="${name}"]`);

/** A direct conversation's entry in the sidebar, by the other person's name. */
export const privateEntry = (page: Page, name: string) =>
  page.locator("#private-list button").filter({ has: page.locator(".label", { hasText: exactly(name) }) });

/** Pretends the tab is in the background (or back in front): `document.hidden` and a visibilitychange. */
export const setHidden = (page: Page, hidden: boolean): Promise<void> =>
  page.evaluate(
    `Object.defineProperty(document, 'hidden', { configurable: true, get: () => ${hidden} }); document.dispatchEvent(new Event('visibilitychange'))`,
  );

/** The check after every browser test: no dialog opened and nothing failed in the page. */
export const pageStayedClean = (someone: Person): void => {
  expect(someone.dialogs).toEqual([]);
  expect(someone.errors).toEqual([]);
};

/**
 * A browser test file's setup: one Chromium and one server (`app`: its settings besides a generous
 * sign-in rate, as every test signs in from 127.0.0.1) for the file; `person()` opens a fresh
 * profile, closed after its test, after `afterEach(person)` (e.g. checks) has seen it; `cleanups`
 * run after each test's people are gone.
 */
export const useBrowserSuite = (
  app: Partial<Config> = {},
  options: { timeoutMs?: number; afterEach?: (person: Person) => void } = {},
) => {
  let browser: Browser;
  let running: Running;
  const people: Person[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  beforeAll(async () => {
    browser = await launchBrowser();
    running = startApp({ signInPerMinute: 1000, ...app });
    await running.teahouse.started;
  }, options.timeoutMs ?? 60_000);
  afterEach(async () => {
    for (const someone of people.splice(0)) {
      options.afterEach?.(someone);
      await someone.context.close();
    }
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });
  afterAll(async () => {
    await browser?.close();
    await running?.stop();
  });
  return {
    get browser(): Browser {
      return browser;
    },
    get running(): Running {
      return running;
    },
    cleanups,
    person: async (personOptions?: Parameters<typeof newPerson>[1]): Promise<Person> => {
      const created = await newPerson(browser, personOptions);
      people.push(created);
      return created;
    },
  };
};
