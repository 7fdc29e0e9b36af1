/**
 * The browser assets inside the compiled executable.
 *
 * scripts/build.ts writes the whole /static/ set (flat file names) into a
 * staging folder `static/` and compiles with `--asset static`, so each file is
 * embedded as `static/<name>` and listed in `Bun.embeddedFiles`. Served from
 * memory, the binary needs no file next to it. (Never point @elysiajs/static
 * at the embedded root `/$bunfs/root`: it would serve the bundled server
 * source.) Run from source, there is nothing embedded and `public/` on disk
 * is served instead.
 */
import { Elysia } from "elysia";
import { apiError } from "../http/errors";

/** Folder name the build embeds the /static/ set under (`--asset static`). */
export const EMBEDDED_STATIC_DIR = "static";

/** Every file served under /static/, by file name. */
export type AssetFiles = ReadonlyMap<string, Blob>;
/** Produces the asset set (once, lazily). */
export type AssetLoader = () => Promise<AssetFiles>;

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

interface ServedAsset {
  bytes: Uint8Array;
  type: string;
  etag: string;
}

/**
 * `GET /static/:name` from memory, with ETag revalidation (names carry no hash: browsers revalidate).
 * Stand-in until the browser UI's src/web/assets.ts + routes.ts land: their `webRoutes` takes the same
 * `string | AssetLoader`, so this function and its use in routes.ts go then, and embeddedAssets() stays.
 */
export const servedAssets = (load: AssetLoader) => {
  let loading: Promise<Map<string, ServedAsset>> | undefined;
  const loadAll = async () => {
    const served = new Map<string, ServedAsset>();
    for (const [name, blob] of await load()) {
      const bytes = new Uint8Array(await blob.arrayBuffer());
      served.set(name, {
        bytes,
        type: blob.type || "application/octet-stream",
        etag: `"${Bun.hash(bytes).toString(36)}"`,
      });
    }
    return served;
  };
  return new Elysia({ name: "web.embedded" }).get("/static/:name", async ({ params, request, status }) => {
    const found = (await (loading ??= loadAll())).get(params.name);
    if (!found) return status(404, apiError(404, "not_found", `Nothing at /static/${params.name}`));
    const headers = { "content-type": found.type, etag: found.etag, "cache-control": "no-cache" };
    if (request.headers.get("if-none-match") === found.etag) return new Response(null, { status: 304, headers });
    return new Response(found.bytes, { headers: { ...headers, "x-content-type-options": "nosniff" } });
  });
};
