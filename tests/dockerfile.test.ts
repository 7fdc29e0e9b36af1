/**
 * The Dockerfile, checked statically in CI (building it needs a container
 * engine and registry access: scripts/podman-check.sh does that by hand).
 * What it runs is tested elsewhere: scripts/build.ts and the binary's
 * --healthcheck and SIGTERM handling in binary.test.ts.
 */
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..");

interface Instruction {
  keyword: string;
  args: string;
}

/** Instructions of a Dockerfile: comments dropped, continuation lines joined. */
const parse = (text: string): Instruction[] =>
  text
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line.length > 0 && !line.startsWith("#"))
    .map((line) => {
      const [keyword, ...rest] = line.split(/\s+/);
      return { keyword: keyword!.toUpperCase(), args: rest.join(" ") };
    });

const dockerfile = parse(await Bun.file(join(ROOT, "Dockerfile")).text());
const ignored = (await Bun.file(join(ROOT, ".dockerignore")).text()).split("\n").map((line) => line.trim());
const froms = dockerfile.flatMap((instruction, index) => (instruction.keyword === "FROM" ? [index] : []));
const buildStage = dockerfile.slice(froms[0]!, froms[1]);
const runStage = dockerfile.slice(froms.at(-1)!);
const argDefault = (name: string) =>
  dockerfile.find((i) => i.keyword === "ARG" && i.args.startsWith(`${name}=`))?.args.slice(name.length + 1);
const all = (stage: Instruction[], keyword: string) => stage.filter((i) => i.keyword === keyword).map((i) => i.args);
const one = (stage: Instruction[], keyword: string) => {
  const found = all(stage, keyword);
  expect(found).toHaveLength(1);
  return found[0]!;
};
/** The JSON array of an exec-form instruction (shell form makes /bin/sh PID 1, which swallows SIGTERM). */
const execForm = (args: string): string[] => {
  const parsed = JSON.parse(args) as unknown;
  expect(Array.isArray(parsed)).toBe(true);
  return parsed as string[];
};

describe("Dockerfile", () => {
  test("two stages: the official Bun image builds, a small base runs", () => {
    expect(froms).toHaveLength(2);
    expect(buildStage[0]!.args).toBe("${BUN_IMAGE} AS build");
    expect(argDefault("BUN_IMAGE")).toStartWith("oven/bun:");
    expect(runStage[0]!.args).toBe("${RUNTIME_IMAGE}");
    expect(argDefault("RUNTIME_IMAGE")).toMatch(/distroless|slim/);
    const runs = all(buildStage, "RUN").join("\n");
    expect(runs).toContain("bun install --frozen-lockfile");
    // The build script binary.test.ts exercises, not a hand-written copy of its flags.
    expect(runs).toContain("bun scripts/build.ts /out/teahouse");
  });

  test("every file copied from the context exists and is not dockerignored", () => {
    for (const args of all(buildStage, "COPY")) {
      const parts = args.split(/\s+/).filter((part) => !part.startsWith("--"));
      for (const source of parts.slice(0, -1)) {
        expect(existsSync(join(ROOT, source))).toBe(true);
        expect(ignored).not.toContain(source);
      }
    }
    for (const heavy of ["node_modules", "dist", "data", ".git"]) expect(ignored).toContain(heavy);
  });

  test("runs the binary as a non-root user with /data as a volume, port 3000, a healthcheck and SIGTERM", () => {
    const user = one(runStage, "USER");
    expect(user).toMatch(/^[1-9]\d*(:[1-9]\d*)?$/);
    const copies = all(runStage, "COPY");
    expect(copies.some((c) => c.includes(`--chown=${user}`) && c.endsWith(" /data"))).toBe(true);
    expect(one(runStage, "VOLUME")).toContain("/data");
    expect(one(runStage, "ENV")).toContain("DATA_DIR=/data");
    expect(one(runStage, "EXPOSE")).toBe("3000");
    expect(one(runStage, "STOPSIGNAL")).toBe("SIGTERM");
    const entrypoint = execForm(one(runStage, "ENTRYPOINT"));
    expect(entrypoint).toEqual(["/usr/local/bin/teahouse"]);
    expect(copies.some((c) => c.startsWith("--from=build /out/teahouse /usr/local/bin/teahouse"))).toBe(true);
    const healthcheck = one(runStage, "HEALTHCHECK");
    const command = execForm(healthcheck.slice(healthcheck.indexOf("CMD ") + 4));
    expect(command).toEqual(["/usr/local/bin/teahouse", "--healthcheck"]);
  });
});
