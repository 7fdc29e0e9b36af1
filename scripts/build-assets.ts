/**
 * Writes every file served under /static/ — the bundled client `chat.js` and
 * everything in public/ — into one folder, for a build that embeds the
 * assets (the single executable) instead of bundling at run time.
 *
 *   bun scripts/build-assets.ts dist/static
 *
 * Serve such a folder with `folderAssets(dir)` from src/web/assets.ts.
 */
import { resolve } from "node:path";
import { writeAssets } from "../src/web/assets";

const outDir = process.argv[2];
if (!outDir) {
  console.error("usage: bun scripts/build-assets.ts <output folder>");
  process.exit(2);
}
const names = await writeAssets(resolve(outDir));
console.log(`wrote ${names.join(", ")} to ${resolve(outDir)}`);
