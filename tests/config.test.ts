import { describe, expect, test } from "bun:test";
import { ConfigError, defaultConfig, helpText, loadConfig } from "../src/config";
import { runToExit } from "./process";
import { configTable } from "../scripts/config-table";
import { checkName, guestName, nameKey } from "../src/domain/names";

describe("configuration", () => {
  test("defaults, then environment, then flags", () => {
    expect(loadConfig({}, [])).toEqual(defaultConfig());
    const config = loadConfig({ PORT: "4000", ALLOWED_ORIGINS: "https://a.example, https://b.example" }, [
      "--port=5000",
    ]);
    expect(config.port).toBe(5000);
    expect(config.allowedOrigins).toEqual(["https://a.example", "https://b.example"]);
    expect(loadConfig({}, ["--session-idle-seconds", "60"]).sessionIdleMs).toBe(60_000);
  });

  test("bad values fail fast naming the option", () => {
    expect(() => loadConfig({ PORT: "eighty" }, [])).toThrow(/PORT/);
    expect(() => loadConfig({}, ["--port", "70000"])).toThrow(ConfigError);
    expect(() => loadConfig({}, ["--nope", "1"])).toThrow(/unknown option --nope/);
    expect(() => loadConfig({}, ["--port"])).toThrow(/needs a value/);
    expect(() => loadConfig({ ALLOWED_ORIGINS: "https://a.example/path" }, [])).toThrow(/ALLOWED_ORIGINS/);
    expect(() => loadConfig({ SECRET: "short" }, [])).toThrow(/SECRET/);
    expect(() => loadConfig({ LOG_LEVEL: "loud" }, [])).toThrow(/LOG_LEVEL/);
    expect(() => loadConfig({ REDIS_URL: "http://redis" }, [])).toThrow(/REDIS_URL/);
    expect(() => loadConfig({ PUSH_SUBJECT: "admin@example.com" }, [])).toThrow(/PUSH_SUBJECT/);
    expect(() => loadConfig({ PUSH_VAPID_PRIVATE_KEY: "abc" }, [])).toThrow(/PUSH_VAPID_PRIVATE_KEY/);
    const pair = {
      publicKey: Buffer.alloc(65, 4).toString("base64url"),
      privateKey: Buffer.alloc(32, 1).toString("base64url"),
    };
    expect(() => loadConfig({ PUSH_VAPID_PUBLIC_KEY: pair.publicKey }, [])).toThrow(/go together/);
    expect(
      loadConfig({ PUSH_VAPID_PUBLIC_KEY: pair.publicKey, PUSH_VAPID_PRIVATE_KEY: pair.privateKey }, []),
    ).toMatchObject({
      pushVapidPublicKey: pair.publicKey,
      pushVapidPrivateKey: pair.privateKey,
    });
    expect(loadConfig({ PUSH_SUBJECT: "https://chat.example.com/contact" }, []).pushSubject).toBe(
      "https://chat.example.com/contact",
    );
  });

  test("REDIS_URL needs DATABASE_URL (several instances share one store); with it, both are taken", async () => {
    expect(() => loadConfig({ REDIS_URL: "redis://127.0.0.1:6379" }, [])).toThrow(/DATABASE_URL/);
    expect(() => loadConfig({}, ["--redis-url", "redis://127.0.0.1:6379"])).toThrow(/DATABASE_URL/);
    const both = loadConfig({ REDIS_URL: "redis://r:6379", DATABASE_URL: "postgres://u@db:5432/t" }, []);
    expect([both.redisUrl, both.databaseUrl]).toEqual(["redis://r:6379", "postgres://u@db:5432/t"]);
    // At start: exit 2 with that one line.
    const { code, stderr } = await runToExit(["--port", "0"], { REDIS_URL: "redis://127.0.0.1:6379" });
    expect(code).toBe(2);
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(stderr).toContain("DATABASE_URL");
  });

  test("--help lists every option, and the README's table is the generated one", async () => {
    const help = helpText();
    for (const flag of ["--port", "--secret", "--data-dir", "--allowed-origins"]) expect(help).toContain(flag);
    const readme = await Bun.file(new URL("../README.md", import.meta.url)).text();
    // The formatter pads table cells: compare cell contents only.
    const cells = (markdown: string) => markdown.replace(/ *\| */g, "|").replace(/-{3,}/g, "---");
    expect(cells(readme)).toContain(cells(configTable()));
  });
});

describe("names", () => {
  test("guest names rotate through the ten stems, then number the rounds", () => {
    expect([0, 1, 9, 10, 21].map(guestName)).toEqual(["路人甲", "路人乙", "路人癸", "路人甲2", "路人乙3"]);
  });

  test("normalised, validated, look-alikes share a key", () => {
    expect(checkName("  a   b ")).toMatchObject({ ok: true, name: "a b" });
    expect(checkName("e\u0301")).toMatchObject({ ok: true, name: "é" }); // NFC
    expect(checkName("").ok).toBe(false);
    expect(checkName("x".repeat(33)).ok).toBe(false);
    expect(checkName("🍵".repeat(32)).ok).toBe(true); // 32 characters, 64 UTF-16 units
    expect(checkName("a\u202Eb").ok).toBe(false);
    expect(checkName("a\nb").ok).toBe(true); // a newline is white space: collapsed to one space
    expect(checkName("a\u0007b").ok).toBe(false);
    expect(nameKey("Alice")).toBe(nameKey("аlice"));
    expect(nameKey("ＡＬＩＣＥ")).toBe(nameKey("alice"));
    expect(nameKey("bob")).not.toBe(nameKey("alice"));
  });
});
