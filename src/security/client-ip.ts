/**
 * The key per-address limits are counted under: an IPv4 address as is (also
 * when written IPv4-mapped, `::ffff:1.2.3.4`), an IPv6 address by its /64
 * prefix — one host usually owns a whole /64, so per-address limits would be
 * free to evade. Which address a request comes from (behind a trusted proxy,
 * its X-Forwarded-For) is resolveClient's job (http/client.ts).
 */
export const limitKey = (address: string): string => {
  const lower = address.toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (mapped) return mapped[1]!;
  if (!lower.includes(":")) return lower;
  const [head = "", tail = ""] = lower.split("::", 2) as [string, string?];
  const headGroups = head ? head.split(":") : [];
  const tailGroups = lower.includes("::") && tail ? tail.split(":") : [];
  const missing = 8 - headGroups.length - tailGroups.length;
  const groups = lower.includes("::")
    ? [...headGroups, ...Array<string>(Math.max(0, missing)).fill("0"), ...tailGroups]
    : headGroups;
  return `${groups
    .slice(0, 4)
    .map((group) => group.replace(/^0+(?=.)/, ""))
    .join(":")}::/64`;
};
