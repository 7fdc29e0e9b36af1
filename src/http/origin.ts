/**
 * Same-origin checks against cross-site WebSocket hijacking and CSRF.
 * A browser always sends `Origin` on WebSocket upgrades and cross-origin
 * POSTs; a request without it is not a browser acting for another site.
 */

/** The request's own host as the client addressed it (the `Host` header). */
const requestHost = (request: Request): string | null => request.headers.get("host");

/**
 * True when the request's `Origin` has the same host as the request or is in
 * the allowlist (exact match of scheme, host and port), or when it is absent
 * and `Sec-Fetch-Site` does not say another site sent it. Browsers leave
 * `Origin` out of GET navigations, so a link on a foreign page to
 * `/wsout` arrives with only `Sec-Fetch-Site: cross-site` — or `same-site`
 * from a sibling subdomain, which is another origin all the same.
 */
export const isOriginAllowed = (request: Request, allowed: ReadonlySet<string>): boolean => {
  const origin = request.headers.get("origin");
  if (origin === null) {
    const site = request.headers.get("sec-fetch-site");
    return site !== "cross-site" && site !== "same-site";
  }
  if (allowed.has(origin)) return true;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false; // "null" (sandboxed frames, file:) and garbage
  }
  return url.host === requestHost(request);
};
