/**
 * Files in real Chromium, two people at once: paste a screenshot into the composer (with the
 * composer's text as its caption), drop a file onto the conversation, see each upload's progress
 * row while it is under way and cancel one; the image is shown inline in a box of its real aspect
 * ratio before it has loaded (no jump), opens full size on a click; the other file is a card whose
 * link downloads the same bytes; a file over the limit is refused before anything is sent, with the
 * limit said in the page beforehand.
 */
import { mkdirSync, readFileSync } from "node:fs";
import { beforeAll, describe, expect, test } from "bun:test";
import type { Page, Route } from "playwright-core";
import { signInAs, useBrowserSuite, pageStayedClean } from "./browser";
import { png } from "../images";

const TEST_TIMEOUT_MS = 90_000;
const SHOTS = "/tmp/shots";
const MAX_FILE_BYTES = 2 * 1024 * 1024;

const suite = useBrowserSuite(
  { maxFileBytes: MAX_FILE_BYTES },
  {
    timeoutMs: TEST_TIMEOUT_MS,
    afterEach: pageStayedClean,
  },
);
beforeAll(() => mkdirSync(SHOTS, { recursive: true }));

type Dropped = Array<{ name: string; type: string; bytes: Uint8Array }>;

/** A script that makes `files` into a DataTransfer named `data` in the page (the tests' tsconfig has no DOM). */
const dataTransfer = (files: Dropped): string =>
  `const data = new DataTransfer();
   for (const file of ${JSON.stringify(files.map((file) => ({ ...file, bytes: Buffer.from(file.bytes).toString("base64") })))})
     data.items.add(new File([Uint8Array.from(atob(file.bytes), (c) => c.charCodeAt(0))], file.name, { type: file.type }));`;

/** Pastes files into the composer as the clipboard would hand them over. */
const paste = (page: Page, files: Dropped) =>
  page.evaluate(`{ ${dataTransfer(files)}
    document.getElementById("text").dispatchEvent(new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true })); }`);

/** Drags files onto the conversation and drops them, as a file manager would. */
const drop = (page: Page, files: Dropped) =>
  page.evaluate(`{ ${dataTransfer(files)}
    const target = document.getElementById("messages");
    for (const type of ["dragenter", "dragover", "drop"])
      target.dispatchEvent(new DragEvent(type, { dataTransfer: data, bubbles: true, cancelable: true })); }`);

/** Holds requests matching `pattern` until released (to look at a page while they are under way). */
const hold = async (page: Page, pattern: string, method?: string) => {
  const held: Route[] = [];
  let open = false;
  await page.route(pattern, async (route) => {
    if ((method && route.request().method() !== method) || open) return route.continue();
    held.push(route);
  });
  return {
    count: () => held.length,
    release: async () => {
      open = true;
      for (const route of held.splice(0)) await route.continue();
    },
  };
};

describe("files", () => {
  test(
    "paste an image with a caption, drop a file, see progress and cancel; the image keeps its box before it loads; the file downloads",
    async () => {
      const alice = await suite.person({ locale: "en-US" });
      const bob = await suite.person({ locale: "en-US" });
      await signInAs(alice, suite.running.base, "alice");
      await signInAs(bob, suite.running.base, "bob");

      // The limit is on the page before anyone tries.
      await expect(alice.page.locator("#file-hint").textContent()).resolves.toContain("2 MiB");
      expect(await alice.page.locator("#attach").getAttribute("aria-label")).toBe("Send files (up to 2 MiB each)");

      // Bob's browser gets the image only when we let it: its box must be there before.
      const images = await hold(bob.page, "**/files/*/*", "GET");
      const uploads = await hold(alice.page, "**/files?*", "POST");
      await alice.page.locator("#text").fill("the new logo");
      await paste(alice.page, [{ name: "screenshot.png", type: "image/png", bytes: png(640, 320) }]);
      // Under way: a row with the name and a progress bar (and the caption left the composer).
      await alice.page.locator("#uploads .upload progress").waitFor();
      await expect(alice.page.locator("#uploads .upload-name").textContent()).resolves.toBe(
        "Uploading screenshot.png…",
      );
      expect(await alice.page.locator("#text").inputValue()).toBe("");
      await uploads.release();
      await alice.page.locator("#uploads").waitFor({ state: "hidden" });

      const image = bob.page.locator("#messages li.message .file-image img");
      await image.waitFor({ state: "attached" });
      // 640×320 shown at most 320 wide: a 320×160 box, reserved while the bytes are still held back.
      expect(await image.getAttribute("width")).toBe("320");
      expect(await image.getAttribute("height")).toBe("160");
      expect(await image.getAttribute("loading")).toBe("lazy");
      await image.scrollIntoViewIfNeeded();
      await bob.page.waitForTimeout(100);
      expect(images.count()).toBeGreaterThan(0);
      expect(await bob.page.evaluate(`document.querySelector("#messages .file-image img").naturalWidth`)).toBe(0);
      const before = await image.boundingBox();
      expect(before).toMatchObject({ width: 320, height: 160 });
      await images.release();
      for (
        let i = 0;
        i < 100 && (await bob.page.evaluate(`document.querySelector("#messages .file-image img").naturalWidth`)) === 0;
        i++
      )
        await bob.page.waitForTimeout(50);
      expect(await bob.page.evaluate(`document.querySelector("#messages .file-image img").naturalWidth`)).toBe(640);
      expect(await image.boundingBox()).toEqual(before);
      await expect(bob.page.locator("#messages li.message .text").last().textContent()).resolves.toBe("the new logo");

      // A click shows it full size.
      await image.click();
      const viewer = bob.page.locator("#viewer");
      await viewer.waitFor({ state: "visible" });
      expect(await bob.page.locator("#viewer img").getAttribute("src")).toBe(await image.getAttribute("src"));
      await bob.page.screenshot({ path: `${SHOTS}/files-viewer.png` });
      await bob.page.keyboard.press("Escape");
      await viewer.waitFor({ state: "hidden" });

      // Drop two files; cancel the second while it waits.
      const notes = new TextEncoder().encode("minutes of the meeting\n".repeat(40_000));
      const held = await hold(alice.page, "**/files?*", "POST");
      await drop(alice.page, [
        { name: "minutes.txt", type: "text/plain", bytes: notes },
        { name: "never.txt", type: "text/plain", bytes: new TextEncoder().encode("cancelled") },
      ]);
      await expect(alice.page.locator("#uploads .upload").count()).resolves.toBe(2);
      await alice.page.locator("#uploads .upload").nth(1).locator(".cancel-upload").click();
      await expect(alice.page.locator("#uploads .upload").count()).resolves.toBe(1);
      await held.release();
      const card = bob.page.locator("#messages .file-card").filter({ hasText: "minutes.txt" });
      await card.waitFor();
      await expect(card.locator(".file-size").textContent()).resolves.toBe("898.4 KiB");
      await bob.page.screenshot({ path: `${SHOTS}/files-bob.png` });
      await alice.page.screenshot({ path: `${SHOTS}/files-alice.png` });
      const [download] = await Promise.all([bob.page.waitForEvent("download"), card.locator(".file-name").click()]);
      expect(download.suggestedFilename()).toBe("minutes.txt");
      expect(Buffer.from(readFileSync((await download.path())!)).equals(Buffer.from(notes))).toBe(true);
      await bob.page.waitForTimeout(300);
      expect(await bob.page.locator("#messages .file-card").filter({ hasText: "never.txt" }).count()).toBe(0);

      // Too large: said at once, nothing sent.
      const requests: string[] = [];
      alice.page.on("request", (request) => {
        if (request.url().includes("/files?")) requests.push(request.url());
      });
      await paste(alice.page, [
        { name: "huge.bin", type: "application/octet-stream", bytes: new Uint8Array(MAX_FILE_BYTES + 1) },
      ]);
      await expect(alice.page.locator("#composer-error").textContent()).resolves.toContain("huge.bin is too large");
      expect(requests).toEqual([]);
    },
    TEST_TIMEOUT_MS,
  );
});
