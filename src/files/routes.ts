/**
 * `POST /files?room=<name>` (or `?with=<account id>`): upload a file (multipart form: `file`, and an
 * optional `caption`) into a conversation, as the signed-in account; answers the message posted.
 * `GET /files/<message id>/<name>`: download a message's file, for members of its conversation.
 *
 * The body is never parsed by the framework: a `Content-Length` over the limit is refused (413)
 * before a byte of it is read, and a body without one is counted while it streams in and refused
 * the moment it passes the limit. Only then is the form parsed. Downloads are served so that no
 * browser runs or renders what they hold: `Content-Security-Policy: sandbox; default-src 'none'`,
 * `nosniff`, the type sniffed at upload, and anything but a known raster image as an attachment.
 */
import { Elysia } from "elysia";
import { FILES_PATH, type User } from "../protocol";
import { apiError } from "../http/errors";
import { authPlugin } from "../auth/plugin";
import { contentDisposition } from "../domain/files";
import type { AccountService } from "../services/accounts";
import type { FileService, Refusal, UploadTarget } from "../services/files";
import type { Conversation, MessageView } from "../domain/model";

/**
 * Bytes a request may carry besides its file: the form's boundaries, part headers, the file name
 * and a caption of MAX_MESSAGE_LENGTH characters fit many times over.
 */
export const UPLOAD_OVERHEAD_BYTES = 64 * 1024;
/**
 * Uploads read at once by this instance: each is held in memory while it is checked (up to about
 * three times MAX_FILE_MB), so they are bounded; one more is answered 503 with Retry-After.
 */
export const UPLOADS_IN_FLIGHT = 8;

/** Headers of every download: nothing in it runs, nothing is sniffed, nothing is cached for others. */
const DOWNLOAD_HEADERS = {
  "content-security-policy": "sandbox; default-src 'none'",
  "x-content-type-options": "nosniff",
  "cross-origin-resource-policy": "same-origin",
  "referrer-policy": "no-referrer",
  "cache-control": "private, no-cache",
};

/** The body, read as it streams, or undefined once it passes `limit` (the rest is never read). */
const readLimited = async (body: ReadableStream<Uint8Array>, limit: number): Promise<Uint8Array | undefined> => {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
};

export interface FileRoutesDeps {
  accounts: AccountService;
  allowedOrigins: ReadonlySet<string>;
  files: FileService;
  /** A message as its `chat` or `private` frame. */
  frame: (message: MessageView, conversation: Conversation) => object;
}

export const fileRoutes = ({ accounts, allowedOrigins, files, frame }: FileRoutesDeps) => {
  const uploadLimit = files.limits.maxFileBytes + UPLOAD_OVERHEAD_BYTES;
  let inFlight = 0;
  const refused = (
    refusal: Refusal | { status: 400 | 413 | 503; error: string; message: string; retryMs?: number },
    status: (code: number, body: unknown) => unknown,
    set: { headers: Record<string, string | number> },
  ) => {
    if (refusal.retryMs !== undefined)
      set.headers["retry-after"] = String(Math.max(1, Math.ceil(refusal.retryMs / 1000)));
    return status(refusal.status, apiError(refusal.status, refusal.error, refusal.message));
  };
  const tooLarge = {
    status: 413 as const,
    error: "file_too_large",
    message: `Files are limited to ${Math.round(files.limits.maxFileBytes / (1024 * 1024))} MiB`,
  };
  return new Elysia({ name: "files.routes" })
    .use(authPlugin(accounts, allowedOrigins))
    .post(
      FILES_PATH,
      async ({ session, request, query, status, set }) => {
        const room = typeof query.room === "string" ? query.room : undefined;
        const peer = typeof query.with === "string" ? Number(query.with) : undefined;
        if (
          (room === undefined) === (peer === undefined) ||
          (peer !== undefined && !(Number.isSafeInteger(peer) && peer > 0))
        )
          return refused(
            { status: 400, error: "invalid_target", message: "Say where: ?room=<name> or ?with=<account id>" },
            status,
            set,
          );
        const length = request.headers.get("content-length");
        if (length !== null && Number(length) > uploadLimit) return refused(tooLarge, status, set);
        const type = request.headers.get("content-type") ?? "";
        if (!/^multipart\/form-data;/i.test(type) || !request.body)
          return refused(
            { status: 400, error: "invalid_body", message: "Send a multipart form with a `file` (and a `caption`)" },
            status,
            set,
          );
        const account = session.account.id;
        const denied = await files.admit(account);
        if (denied) return refused(denied, status, set);
        const target: UploadTarget = room !== undefined ? { room } : { with: peer! };
        const conversation = await files.target(account, target);
        if ("ok" in conversation) return refused(conversation, status, set);
        if (inFlight >= UPLOADS_IN_FLIGHT)
          return refused(
            { status: 503, error: "busy", message: "Too many uploads at once; try again in a moment", retryMs: 2000 },
            status,
            set,
          );
        inFlight++;
        try {
          const body = await readLimited(request.body, uploadLimit);
          if (!body) return refused(tooLarge, status, set);
          let form: Awaited<ReturnType<Response["formData"]>>;
          try {
            form = await new Response(body, { headers: { "content-type": type } }).formData();
          } catch {
            return refused({ status: 400, error: "invalid_body", message: "The form could not be read" }, status, set);
          }
          const file = form.get("file");
          const caption = form.get("caption") ?? "";
          if (!(file instanceof Blob) || typeof caption !== "string")
            return refused(
              { status: 400, error: "no_file", message: "The form has no `file` (or its `caption` is not text)" },
              status,
              set,
            );
          const name = file instanceof File ? file.name : "file";
          const user: User = session.user;
          const outcome = await files.upload(
            user,
            conversation,
            { name, bytes: new Uint8Array(await file.arrayBuffer()) },
            caption,
          );
          if (!outcome.ok) return refused(outcome, status, set);
          set.headers["cache-control"] = "no-store";
          return { code: 0 as const, data: "Sent", message: frame(outcome.message, outcome.conversation) };
        } finally {
          inFlight--;
        }
      },
      { auth: true, sameOrigin: true, parse: "none" },
    )
    .get(
      `${FILES_PATH}/:id/:name`,
      async ({ session, params, query, request, status }) => {
        const id = Number(params.id);
        const found = Number.isSafeInteger(id) && id > 0 ? await files.download(session.account.id, id) : undefined;
        if (!found) return status(404, apiError(404, "not_found", "No such file"));
        const { file, blob } = found;
        const inline = file.inline && query.download === undefined;
        const headers = {
          ...DOWNLOAD_HEADERS,
          "content-type": file.inline ? file.type : "application/octet-stream",
          "content-disposition": contentDisposition(file.name, inline),
          etag: `"${file.hash}"`,
        };
        if (request.headers.get("if-none-match") === headers.etag) return new Response(null, { status: 304, headers });
        // A stream (an S3 object's is read from the bucket as it is sent; Bun takes no headers with the object itself).
        return new Response(blob.stream(), { headers: { ...headers, "content-length": String(file.size) } });
      },
      { auth: true },
    );
};
