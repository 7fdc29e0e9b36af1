/**
 * A push endpoint is a URL the browser (so any client) chose, and the server sends requests to it: a
 * way to make the server reach inside its own network (SSRF). Only `https` endpoints are taken, and
 * none on a loopback, private, link-local, shared or multicast address, checked on the URL at
 * subscription and again on every address the name resolves to when sending (so a name that later
 * points inside is caught too). PUSH_ALLOW_PRIVATE_ENDPOINTS lifts the address rule (tests, private
 * networks); never the `https` one.
 */
import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { isIP } from "node:net";

/** Longest endpoint taken (real ones are well under 1 KiB). */
export const MAX_ENDPOINT_LENGTH = 2048;

const v4 = (ip: string): number[] => ip.split(".").map(Number);

/** IPv4 ranges that are not the public internet: [first octets, prefix length]. */
const PRIVATE_V4: Array<[number[], number]> = [
  [[0], 8], // "this" network
  [[10], 8], // private
  [[100, 64], 10], // shared (carrier-grade NAT)
  [[127], 8], // loopback
  [[169, 254], 16], // link-local (cloud metadata lives here)
  [[172, 16], 12], // private
  [[192, 0, 0], 24], // protocol assignments
  [[192, 168], 16], // private
  [[192, 0, 2], 24], // documentation
  [[192, 88, 99], 24], // 6to4 relays
  [[198, 18], 15], // benchmarking
  [[198, 51, 100], 24], // documentation
  [[203, 0, 113], 24], // documentation
  [[224], 4], // multicast
  [[240], 4], // reserved, broadcast
];

const inV4 = (octets: number[], [prefix, bits]: [number[], number]): boolean => {
  const value = ((octets[0]! << 24) | (octets[1]! << 16) | (octets[2]! << 8) | octets[3]!) >>> 0;
  const base = (((prefix[0] ?? 0) << 24) | ((prefix[1] ?? 0) << 16) | ((prefix[2] ?? 0) << 8)) >>> 0;
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return (value & mask) === (base & mask);
};

/** An IPv6 address as its eight 16-bit groups (an embedded IPv4 tail included). */
const v6Groups = (ip: string): number[] => {
  let text = ip.toLowerCase().replace(/%.*$/, "");
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (tail) {
    const [a, b, c, d] = v4(tail[1]!);
    text = text.slice(0, -tail[1]!.length) + `${((a! << 8) | b!).toString(16)}:${((c! << 8) | d!).toString(16)}`;
  }
  const [head, rest] = text.split("::") as [string, string | undefined];
  const left = head ? head.split(":") : [];
  const right = rest ? rest.split(":") : [];
  const fill = rest === undefined ? [] : Array<string>(8 - left.length - right.length).fill("0");
  return [...left, ...fill, ...right].map((group) => parseInt(group, 16));
};

/** Whether an IP address (v4 or v6) is anything but a public unicast one. */
export const isPrivateAddress = (ip: string): boolean => {
  const family = isIP(ip.replace(/%.*$/, ""));
  if (family === 4) return PRIVATE_V4.some((range) => inV4(v4(ip), range));
  if (family !== 6) return true; // not an address: nothing to trust
  const g = v6Groups(ip);
  // An IPv4 address written as IPv6 (::ffff:a.b.c.d) is that address.
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff)
    return isPrivateAddress([g[6]! >> 8, g[6]! & 255, g[7]! >> 8, g[7]! & 255].join("."));
  const first = g[0]!;
  // Only global unicast (2000::/3) is public; within it, the ranges that tunnel to or stand for others.
  if ((first & 0xe000) !== 0x2000) return true;
  return (
    first === 0x2002 || // 6to4: whatever it embeds
    (first === 0x2001 && g[1]! < 0x200) || // Teredo, benchmarking, ORCHID and other IETF assignments
    (first === 0x2001 && g[1] === 0xdb8) // documentation
  );
};

/**
 * Why an endpoint is refused (undefined: it may be subscribed). `byName`: also refuse names that are
 * local by convention (localhost, .local, …) without resolving them; when sending, the resolution
 * itself is checked instead (guardedLookup).
 */
export const endpointProblem = (endpoint: string, allowPrivate: boolean, byName = true): string | undefined => {
  if (endpoint.length > MAX_ENDPOINT_LENGTH) return `endpoint is longer than ${MAX_ENDPOINT_LENGTH} characters`;
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return "endpoint is not a URL";
  }
  if (url.protocol !== "https:") return "endpoint must be an https: URL";
  if (url.username || url.password) return "endpoint must not carry credentials";
  if (allowPrivate) return undefined;
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (
    isIP(host) !== 0 ? isPrivateAddress(host) : byName && /(^|\.)(localhost|local|internal|home\.arpa)\.?$/i.test(host)
  )
    return "endpoint is on a private network";
  return undefined;
};

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for https.request that resolves like the system does, then refuses the connection when
 * any address is not public (the request goes to one of exactly these addresses: no second lookup).
 */
export const guardedLookup =
  (allowPrivate: boolean) =>
  (hostname: string, options: { all?: boolean; family?: number } | number, callback: LookupCallback): void => {
    const family = typeof options === "number" ? options : (options.family ?? 0);
    dnsLookup(hostname, { all: true, family }, (error, addresses) => {
      if (error) return callback(error, []);
      const bad = allowPrivate ? undefined : addresses.find((entry) => isPrivateAddress(entry.address));
      if (bad) {
        const refused: NodeJS.ErrnoException = new Error(
          `push endpoint ${hostname} resolves to ${bad.address}, not public`,
        );
        refused.code = "EPUSHPRIVATE";
        return callback(refused, []);
      }
      if (typeof options === "object" && options.all) return callback(null, addresses);
      const first = addresses[0]!;
      callback(null, first.address, first.family);
    });
  };
