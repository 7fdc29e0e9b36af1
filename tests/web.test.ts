import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { folderAssets, PUBLIC_DIR, writeAssets } from "../src/web/assets";
import { format, pickLanguage, STRINGS } from "../src/web/i18n";
import { signIn, startApp, type Running } from "./helpers";

describe("language", () => {
  test("Accept-Language picks zh or en by quality; a picked language (cookie) wins; Chinese otherwise", () => {
    expect(pickLanguage("en-US,en;q=0.9")).toBe("en");
    expect(pickLanguage("zh-CN,zh;q=0.9,en;q=0.8")).toBe("zh");
    expect(pickLanguage("zh-TW")).toBe("zh");
    expect(pickLanguage("fr-FR, de;q=0.9, en;q=0.5, zh;q=0.4")).toBe("en");
    expect(pickLanguage("zh;q=0.2, en;q=0.8")).toBe("en");
    expect(pickLanguage("en;q=0, zh;q=0.1")).toBe("zh");
    expect(pickLanguage("fr")).toBe("zh");
    expect(pickLanguage(undefined)).toBe("zh");
    expect(pickLanguage("en", "zh")).toBe("zh");
    expect(pickLanguage("zh", "en")).toBe("en");
    expect(pickLanguage("en", "klingon")).toBe("en");
  });

  test("both languages have every string, with the same placeholders", () => {
    const placeholders = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    expect(Object.keys(STRINGS.en).sort()).toEqual(Object.keys(STRINGS.zh).sort());
    for (const key of Object.keys(STRINGS.zh) as (keyof typeof STRINGS.zh)[]) {
      expect(STRINGS.en[key].trim()).not.toBe("");
      expect(placeholders(STRINGS.en[key])).toEqual(placeholders(STRINGS.zh[key]));
    }
    expect(format("en", "joined", { name: "<b>x</b>" })).toBe("<b>x</b> joined");
  });
});

describe("page and assets", () => {
  let running: Running;
  beforeAll(() => {
    running = startApp();
  });
  afterAll(() => running.stop());

  test("the page is in the visitor's language, with a strict CSP and no inline script or style", async () => {
    const en = await fetch(`${running.base}/`, { headers: { "accept-language": "en-US,en;q=0.9" } });
    const html = await en.text();
    expect(html).toContain('<html lang="en">');
    expect(html).toContain("Sign out");
    const csp = en.headers.get("content-security-policy")!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain("unsafe");
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)/); // every script is a file
    expect(html).not.toMatch(/\sstyle=/);
    expect(en.headers.get("cache-control")).toBe("no-store");

    const zh = await (await fetch(`${running.base}/ws`, { headers: { "accept-language": "zh-CN" } })).text();
    expect(zh).toContain('<html lang="zh-CN">');
    expect(zh).toContain("退出");
    const picked = await fetch(`${running.base}/`, { headers: { "accept-language": "zh-CN", cookie: "lang=en" } });
    expect(await picked.text()).toContain('<html lang="en">');
  });

  test("a signed-in name is escaped in the page shell", async () => {
    const { cookie } = await signIn(running.base, '<img src=x onerror="alert(1)">');
    const html = await (await fetch(`${running.base}/`, { headers: { cookie } })).text();
    expect(html).not.toContain("<img src=x");
    expect(html).toContain("&lt;img src=x onerror=");
  });

  test("/static/chat.js is the bundled client: no eval under the CSP, revalidated by ETag", async () => {
    const response = await fetch(`${running.base}/static/chat.js`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toStartWith("text/javascript");
    expect(response.headers.get("cache-control")).toBe("no-cache");
    const js = await response.text();
    expect(js.length).toBeGreaterThan(10_000);
    // `script-src 'self'` has no 'unsafe-eval': TypeBox's TypeCompiler (new Function) must not be in the bundle.
    expect(js).not.toContain("new Function");
    expect(js).not.toMatch(/\beval\(/);
    expect(js).not.toContain("innerHTML");
    expect(js).not.toMatch(/^import\s/m); // one file, nothing to fetch from elsewhere

    const etag = response.headers.get("etag")!;
    const again = await fetch(`${running.base}/static/chat.js`, { headers: { "if-none-match": etag } });
    expect(again.status).toBe(304);

    for (const name of ["chat.css", "favicon.svg"])
      expect((await fetch(`${running.base}/static/${name}`)).status).toBe(200);
    expect((await fetch(`${running.base}/static/nothing.js`)).status).toBe(404);
    expect((await fetch(`${running.base}/static/..%2Fpackage.json`)).status).toBe(404);
  });

  test("writeAssets writes the same set that is served, and folderAssets serves it back", async () => {
    const dir = mkdtempSync(join(tmpdir(), "teahouse-assets-"));
    try {
      const names = await writeAssets(dir);
      expect(names).toEqual(["chat.js", "sw.js", ...readdirSync(PUBLIC_DIR)].sort());
      expect(readdirSync(dir).sort()).toEqual(names);
      const served = await folderAssets(dir)();
      const js = await served.get("chat.js")!.text();
      expect(js).toBe(await (await fetch(`${running.base}/static/chat.js`)).text());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
