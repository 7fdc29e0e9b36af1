/** Uploading and downloading files over HTTP as the page does (a multipart form, the session cookie). */
import type { ServerFrameOf } from "../src/protocol";
import type { SignedIn } from "./helpers";

type Message = ServerFrameOf<"chat"> | ServerFrameOf<"private">;
export interface Answer {
  status: number;
  body: { code: number; error?: string; data: string; message?: Message };
  headers: Headers;
}

/** Uploads `bytes` as `name` to `target` (`room=lobby`, `with=7`) with the form the page sends. */
export const upload = async (
  running: { base: string },
  who: SignedIn | undefined,
  target: string,
  bytes: Uint8Array | string,
  name = "file.bin",
  options: { caption?: string; type?: string; headers?: Record<string, string> } = {},
): Promise<Answer> => {
  const form = new FormData();
  form.set("file", new File([bytes], name, { type: options.type ?? "application/octet-stream" }));
  if (options.caption !== undefined) form.set("caption", options.caption);
  const response = await fetch(`${running.base}/files?${target}`, {
    method: "POST",
    headers: { ...(who ? { cookie: who.cookie } : {}), ...options.headers },
    body: form,
  });
  return { status: response.status, body: (await response.json()) as Answer["body"], headers: response.headers };
};

export const download = (
  running: { base: string },
  who: SignedIn | undefined,
  url: string,
  headers: Record<string, string> = {},
) => fetch(`${running.base}${url}`, { headers: { ...(who ? { cookie: who.cookie } : {}), ...headers } });
