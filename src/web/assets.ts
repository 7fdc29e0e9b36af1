/**
 * The browser assets served under `/static/`: one flat set of files.
 *
 * - `chat.js` is bundled from the TypeScript client (`src/web/client/main.ts`),
 *   and `sw.js`, its service worker, from `src/web/client/sw.ts`,
 *   by `Bun.build`, in memory, the first time it is needed — so a fresh clone
 *   runs with `bun src/index.ts` and no build step, and there is never a stale
 *   bundle on disk.
 * - every other file is read from `public/` (`chat.css`, `favicon.svg`).
 *
 * `writeAssets(dir)` (see scripts/build-assets.ts) writes exactly the same set
 * to a folder, for a build that embeds it (the single executable); such a
 * prebuilt folder is served with `folderAssets(dir)`.
 */
import { readdir } from "node:fs/promises";
import { join } from "node:path";

/** Every file served under /static/, by file name. */
export type AssetFiles = ReadonlyMap<string, Blob>;
/** Produces the asset set once; called lazily on the first /static/ request. */
export type AssetLoader = () => Promise<AssetFiles>;

/** Name under /static/ of the bundled client. */
export const CLIENT_BUNDLE = "chat.js";
/** Entry point of the browser client. */
export const CLIENT_ENTRY = join(import.meta.dir, "client", "main.ts");
/** Name under /static/ of the bundled service worker (served at /sw.js too: its scope is the site). */
export const WORKER_BUNDLE = "sw.js";
/** Entry point of the service worker (Web Push notifications). */
export const WORKER_ENTRY = join(import.meta.dir, "client", "sw.ts");
/** Default folder of the hand-written assets. */
export const PUBLIC_DIR = join(import.meta.dir, "..", "..", "public");

const CONTENT_TYPES: Record<string, string> = {
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  svg: "image/svg+xml",
  png: "image/png",
  ico: "image/x-icon",
  json: "application/json",
  webmanifest: "application/manifest+json",
};

/** The Content-Type for a file name (by extension). */
export const contentType = (name: string): string =>
  CONTENT_TYPES[name.slice(name.lastIndexOf(".") + 1).toLowerCase()] ?? "application/octet-stream";

let bundling: Promise<{ client: Blob; worker: Blob }> | undefined;

/** One entry point bundled (minified ESM, one file, no external imports). */
const bundle = async (entry: string): Promise<Blob> => {
  const result = await Bun.build({ entrypoints: [entry], target: "browser", format: "esm", minify: true });
  const output = result.outputs.find((artifact) => artifact.kind === "entry-point");
  if (!result.success || !output) throw new AggregateError(result.logs, `bundling ${entry} failed`);
  return output;
};

/**
 * Bundles the browser client and its service worker. Once per process: the sources do not change
 * while it runs, and tests start many apps.
 */
export const bundleClient = (): Promise<{ client: Blob; worker: Blob }> =>
  (bundling ??= (async () => {
    const [client, worker] = await Promise.all([bundle(CLIENT_ENTRY), bundle(WORKER_ENTRY)]);
    return { client, worker };
  })().catch((error: unknown) => {
    bundling = undefined; // let the next request try again (e.g. after fixing a syntax error)
    throw error;
  }));

/** Reads every regular file directly inside `dir`. */
const readFolder = async (dir: string): Promise<Map<string, Blob>> => {
  const files = new Map<string, Blob>();
  for (const entry of await readdir(dir, { withFileTypes: true }))
    if (entry.isFile() && !entry.name.startsWith(".")) files.set(entry.name, Bun.file(join(dir, entry.name)));
  return files;
};

/** From source: `public/` plus the freshly bundled client. */
export const sourceAssets =
  (publicDir: string = PUBLIC_DIR): AssetLoader =>
  async () => {
    const [files, bundles] = await Promise.all([readFolder(publicDir), bundleClient()]);
    files.set(CLIENT_BUNDLE, bundles.client);
    files.set(WORKER_BUNDLE, bundles.worker);
    return files;
  };

/** A folder written by `writeAssets` (nothing is bundled at run time). */
export const folderAssets =
  (dir: string): AssetLoader =>
  () =>
    readFolder(dir);

/** Writes the whole /static/ set into `outDir`; returns the file names. */
export const writeAssets = async (outDir: string, publicDir: string = PUBLIC_DIR): Promise<string[]> => {
  const files = await sourceAssets(publicDir)();
  for (const [name, blob] of files) await Bun.write(join(outDir, name), blob);
  return [...files.keys()].sort();
};
