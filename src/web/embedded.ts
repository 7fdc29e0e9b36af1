/**
 * The browser assets inside the compiled executable.
 *
 * scripts/build.ts writes the whole /static/ set (flat file names) into a
 * staging folder `static/` and compiles with `--asset static`, so each file is
 * embedded as `static/<name>` and listed in `Bun.embeddedFiles`. Served from
 * memory, the binary needs no file next to it. (Never point @elysiajs/static
 * at the embedded root `/$bunfs/root`: it would serve the bundled server
 * source.) Run from source, there is nothing embedded: the client is bundled
 * from source and `public/` read from disk instead (see assets.ts).
 */
import type { AssetLoader } from "./assets";

/** Folder name the build embeds the /static/ set under (`--asset static`). */
export const EMBEDDED_STATIC_DIR = "static";

/** The /static/ set embedded in this executable, or undefined when running from source. */
export const embeddedAssets = (): AssetLoader | undefined => {
  const prefix = `${EMBEDDED_STATIC_DIR}/`;
  const files = new Map<string, Blob>();
  for (const blob of Bun.embeddedFiles) {
    const name = (blob as Blob & { name?: string }).name;
    if (name?.startsWith(prefix)) files.set(name.slice(prefix.length), blob);
  }
  return files.size > 0 ? async () => files : undefined;
};
