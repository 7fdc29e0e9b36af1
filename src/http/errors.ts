/**
 * The JSON error body every HTTP error has, and the one error handler that
 * maps framework errors to it — never a stack trace.
 */
import { Elysia } from "elysia";
import type { ApiError } from "../protocol";
import type { Logger } from "../log";

/** Name of the identity cookie. */
export const SESSION_COOKIE = "session";
/** Name of the device cookie: a random id of this browser, kept across sign-outs (its guest account comes back). */
export const DEVICE_COOKIE = "device";

/** `{code, error, data}` with `code` the HTTP status. */
export const apiError = (code: number, error: string, message: string): ApiError => ({ code, error, data: message });

export const errorHandler = (
  log: Logger,
  failed: (error: unknown) => void = () => {},
  /** Errors that mean "a dependency is unreachable": answered 503 (retry), not 500. */
  unavailable: (error: unknown) => boolean = () => false,
) =>
  new Elysia({ name: "http.errors" }).onError({ as: "global" }, ({ code, error, set, request, path }) => {
    switch (code) {
      case "NOT_FOUND":
        set.status = 404;
        return apiError(404, "not_found", `Nothing at ${path}`);
      case "VALIDATION":
        set.status = 400;
        return apiError(400, "invalid_request", error.all[0]?.summary ?? "Invalid request");
      case "PARSE":
        set.status = 400;
        return apiError(400, "invalid_body", "The request body could not be read");
      default: {
        if (unavailable(error)) {
          set.status = 503;
          set.headers["retry-after"] = "5";
          return apiError(503, "unavailable", "The store is unavailable; try again shortly");
        }
        const status =
          typeof (error as { status?: unknown }).status === "number" ? (error as { status: number }).status : 500;
        const message = String((error as Error)?.message ?? error);
        set.status = status;
        // A dependency (the store) is down: say so, and that retrying is right.
        if (status === 503) return apiError(503, "unavailable", message);
        if (status >= 500) {
          failed(error);
          log.error("http.error", { method: request.method, path, code: String(code), message });
          return apiError(status, "internal_error", "Internal error");
        }
        return apiError(status, "error", message);
      }
    }
  });
