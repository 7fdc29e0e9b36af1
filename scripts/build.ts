/**
 * Builds the single executable `dist/teahouse` (or the path given as the
 * first argument): the server bundled with the Bun runtime and the whole
 * /static/ set embedded, so the file runs alone on any Linux of the same
 * architecture. `bun run build`.
 *
 * The /static/ set is staged as flat files in `<tmp>/static/` and embedded
 * with `--asset static` (see src/web/embedded.ts). When src/web/assets.ts
 * exports `writeAssets(dir)` (the browser client's bundler), it writes the
 * set; otherwise the files of public/ are copied.
 */
import { cpSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");
const ENTRY = join(ROOT, "src", "index.ts");
const PUBLIC_DIR = join(ROOT, "public");
/** Must match EMBEDDED_STATIC_DIR in src/web/embedded.ts. */
const STATIC_DIR = "static";

/** Writes the /static/ set into `dir`; returns the file names. */
const stageAssets = async (dir: string): Promise<string[]> => {
  // A variable path: the module may not exist in this checkout, and then the typecheck must not need it.
  const assetsModule = join(ROOT, "src", "web", "assets.ts");
  const loaded = (await import(assetsModule).catch(() => undefined)) as
    { writeAssets?: (outDir: string) => Promise<string[]> } | undefined;
  if (typeof loaded?.writeAssets === "function") return loaded.writeAssets(dir);
  const names = readdirSync(PUBLIC_DIR, { withFileTypes: true })
    .filter((entry) => entry.isFile() && !entry.name.startsWith("."))
    .map((entry) => entry.name);
  for (const name of names) cpSync(join(PUBLIC_DIR, name), join(dir, name));
  return names;
};

/** Builds the executable at `outfile`; returns its size in bytes. */
export const buildExecutable = async (outfile = join(ROOT, "dist", "teahouse")): Promise<number> => {
  const stage = mkdtempSync(join(tmpdir(), "teahouse-build-"));
  try {
    const names = await stageAssets(join(stage, STATIC_DIR));
    if (names.length === 0) throw new Error("no assets to embed");
    const build = Bun.spawnSync(
      [
        process.execPath,
        "build",
        "--compile",
        // Not --production: it also minifies whitespace, which breaks Elysia's reading of handler
        // source (elysiajs/elysia#844, #1711: `cookie` is undefined, every signed-in route answers 500).
        // So: the other two minifications, and NODE_ENV baked as "production" (else "development" is).
        "--minify-syntax",
        "--minify-identifiers",
        `--define=process.env.NODE_ENV="production"`,
        `--asset=${STATIC_DIR}`,
        `--outfile=${resolve(outfile)}`,
        ENTRY,
      ],
      // The working directory decides the embedded names: static/<name>.
      { cwd: stage, stdout: "pipe", stderr: "pipe" },
    );
    if (build.exitCode !== 0)
      throw new Error(`bun build failed (${build.exitCode}):\n${build.stdout.toString()}${build.stderr.toString()}`);
    return Bun.file(resolve(outfile)).size;
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
};

if (import.meta.main) {
  const outfile = process.argv[2] ?? join(ROOT, "dist", "teahouse");
  const startedAt = performance.now();
  const size = await buildExecutable(outfile);
  console.log(
    `built ${outfile}: ${(size / 1024 / 1024).toFixed(1)} MiB in ${Math.round(performance.now() - startedAt)} ms`,
  );
}
