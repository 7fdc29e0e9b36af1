/**
 * Signed cookie values: `<value>.<HMAC-SHA256 of value, base64 without padding>`, signed with the
 * first secret and accepted with any (rotation). The format is the one Elysia's cookie signing
 * writes, so cookies issued before this module took over stay valid.
 *
 * Synchronous (Bun.CryptoHasher): Elysia's own signing goes through WebCrypto, whose promise per
 * HMAC cost ≈ 40 µs a cookie and was the largest single cost of a socket open in a reconnect storm.
 */
import { timingSafeEqual } from "node:crypto";

export class CookieSigner {
  private readonly secrets: readonly string[];

  constructor(secrets: readonly string[]) {
    if (secrets.length === 0) throw new Error("at least one secret is needed to sign cookies");
    this.secrets = secrets;
  }

  sign(value: string): string {
    return `${value}.${this.mac(value, this.secrets[0]!)}`;
  }

  /** The value a signed cookie carries: undefined when there is none, false when its signature is wrong. */
  verify(signed: unknown): string | false | undefined {
    if (signed === undefined || signed === "") return undefined;
    if (typeof signed !== "string") return false;
    const dot = signed.lastIndexOf(".");
    if (dot <= 0) return false;
    const value = signed.slice(0, dot);
    const given = Buffer.from(signed.slice(dot + 1));
    for (const secret of this.secrets) {
      const expected = Buffer.from(this.mac(value, secret));
      if (expected.length === given.length && timingSafeEqual(expected, given)) return value;
    }
    return false;
  }

  private mac(value: string, secret: string): string {
    return new Bun.CryptoHasher("sha256", secret).update(value).digest("base64").replace(/=+$/, "");
  }
}
