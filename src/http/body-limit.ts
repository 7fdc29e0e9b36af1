/**
 * The request body limit for every route but uploads. Bun's own limit (`maxRequestBodySize`) is one
 * number for the whole server and has to let a file through; every other body teahouse reads is a
 * sign-in form of a few bytes, so past `maxBytes` it is refused here (413) before it is read, and a
 * body of unknown length (chunked, no Content-Length; browsers always send one) gets 411: the
 * framework would buffer it whole before any limit could look at it.
 */
import { Elysia } from "elysia";
import { apiError } from "./errors";

export const bodyLimit = (maxBytes: number, exempt: (path: string) => boolean) =>
  new Elysia({ name: "http.body-limit" }).onRequest(({ request, set }) => {
    if (request.body === null) return;
    const path = request.url.slice(request.url.indexOf("/", request.url.indexOf("//") + 2)).split("?")[0]!;
    if (exempt(path)) return;
    const length = request.headers.get("content-length");
    if (length === null && request.headers.has("transfer-encoding")) {
      set.status = 411;
      return apiError(411, "length_required", "A request body needs a Content-Length");
    }
    if (Number(length) > maxBytes) {
      set.status = 413;
      return apiError(413, "body_too_large", `A request body is limited to ${maxBytes / 1024} KiB`);
    }
  });
