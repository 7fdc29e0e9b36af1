/**
 * Who is on the other end of a request: the client's IP and the scheme it
 * used. `X-Forwarded-For` / `X-Forwarded-Proto` are believed only when the
 * socket's peer is one of the configured trusted proxies (TRUST_PROXY):
 * anyone else could write them to hide or forge an address.
 */

export interface ClientInfo {
  /** The client's IP address ("unknown" when the socket has none, e.g. in-process tests). */
  ip: string;
  /** "http" or "https" as the client used it. */
  proto: string;
}

/** "::ffff:127.0.0.1" → "127.0.0.1": IPv4 peers of a dual-stack socket. */
export const normalizeIp = (ip: string): string => (ip.startsWith("::ffff:") && ip.includes(".") ? ip.slice(7) : ip);

/**
 * Resolves the client of a request whose socket peer is `peerIp`. With a
 * trusted peer, walks `X-Forwarded-For` from the right (the entry the nearest
 * proxy appended) past further trusted proxies; the first untrusted entry is
 * the client.
 */
export const resolveClient = (
  headers: Headers,
  peerIp: string | undefined,
  trustedProxies: ReadonlySet<string>,
  ownProto = "http",
): ClientInfo => {
  const peer = peerIp === undefined ? "unknown" : normalizeIp(peerIp);
  if (!trustedProxies.has(peer)) return { ip: peer, proto: ownProto };
  let ip = peer;
  const forwarded = headers.get("x-forwarded-for");
  if (forwarded) {
    const hops = forwarded
      .split(",")
      .map((hop) => normalizeIp(hop.trim()))
      .filter((hop) => hop.length > 0);
    for (let i = hops.length - 1; i >= 0; i--) {
      ip = hops[i]!;
      if (!trustedProxies.has(ip)) break;
    }
  }
  const proto = headers.get("x-forwarded-proto")?.split(",")[0]?.trim().toLowerCase();
  return { ip, proto: proto === "https" || proto === "http" ? proto : ownProto };
};
