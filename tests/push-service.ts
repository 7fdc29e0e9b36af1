/**
 * A push service for tests: an HTTPS server on 127.0.0.1 (a certificate made for it with openssl)
 * that takes Web Push requests like a browser vendor's, keeps them, and answers 201 (or what a test
 * asks for an endpoint); and a browser's side of a subscription: its keys, and the decryption of what
 * arrives (RFC 8291, with http_ece, the library web-push encrypts with).
 */
import { createECDH, createPublicKey, randomBytes, verify, type ECDH } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ece from "http_ece";

export interface Received {
  path: string;
  headers: Record<string, string>;
  body: Buffer;
  at: number;
}

export class TestPushService {
  readonly received: Received[] = [];
  /** Endpoint path → the status answered there (default 201). */
  readonly answers = new Map<string, number>();
  readonly ca: string;
  private readonly dir = mkdtempSync(join(tmpdir(), "teahouse-push-"));
  private readonly server;

  constructor() {
    const made = Bun.spawnSync([
      "openssl",
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      join(this.dir, "key.pem"),
      "-out",
      join(this.dir, "cert.pem"),
      "-days",
      "2",
      "-subj",
      "/CN=push.test",
      "-addext",
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
    ]);
    if (made.exitCode !== 0) throw new Error(`openssl failed: ${made.stderr.toString()}`);
    this.ca = readFileSync(join(this.dir, "cert.pem"), "utf8");
    this.server = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      tls: { cert: this.ca, key: readFileSync(join(this.dir, "key.pem"), "utf8") },
      fetch: async (request) => {
        const path = new URL(request.url).pathname;
        this.received.push({
          path,
          headers: Object.fromEntries(request.headers),
          body: Buffer.from(await request.arrayBuffer()),
          at: Date.now(),
        });
        return new Response(null, { status: this.answers.get(path) ?? 201 });
      },
    });
  }

  get origin(): string {
    return `https://127.0.0.1:${this.server.port}`;
  }

  /** Pushes that reached `path`. */
  at(path: string): Received[] {
    return this.received.filter((push) => push.path === path);
  }

  dispose(): void {
    void this.server.stop(true);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A browser's subscription to the test push service: what it sends the server, and how it reads pushes. */
export class TestBrowser {
  private readonly ecdh: ECDH = createECDH("prime256v1");
  private readonly auth = randomBytes(16);
  readonly endpoint: string;
  readonly path: string;

  constructor(service: TestPushService, name: string) {
    this.ecdh.generateKeys();
    this.path = `/push/${name}-${randomBytes(4).toString("hex")}`;
    this.endpoint = `${service.origin}${this.path}`;
  }

  /** The PushSubscription JSON a browser gives the page. */
  get subscription() {
    return {
      endpoint: this.endpoint,
      expirationTime: null,
      keys: { p256dh: this.ecdh.getPublicKey().toString("base64url"), auth: this.auth.toString("base64url") },
    };
  }

  /** A push's payload, decrypted with this browser's keys (throws if it was not encrypted for them). */
  read(push: Received): unknown {
    const plain: Buffer = ece.decrypt(push.body, {
      version: "aes128gcm",
      privateKey: this.ecdh,
      authSecret: this.auth,
    });
    return JSON.parse(plain.toString("utf8"));
  }
}

/**
 * Checks a push's VAPID authorization (RFC 8292): `vapid t=<JWT>, k=<public key>`, the JWT signed
 * with ES256 by that key, for the push service's origin, not expired. Answers the JWT's claims.
 */
export const vapidClaims = (push: Received, publicKey: string): { aud: string; sub: string; exp: number } => {
  const match = /^vapid t=([^,]+), k=(.+)$/.exec(push.headers.authorization ?? "");
  if (!match) throw new Error(`no VAPID authorization: ${push.headers.authorization}`);
  const [, jwt, k] = match as unknown as [string, string, string];
  if (k !== publicKey) throw new Error("signed with another key");
  const [header, claims, signature] = jwt.split(".") as [string, string, string];
  const raw = Buffer.from(publicKey, "base64url");
  const key = createPublicKey({
    key: {
      kty: "EC",
      crv: "P-256",
      x: raw.subarray(1, 33).toString("base64url"),
      y: raw.subarray(33, 65).toString("base64url"),
    },
    format: "jwk",
  });
  const valid = verify(
    "sha256",
    Buffer.from(`${header}.${claims}`),
    { key, dsaEncoding: "ieee-p1363" },
    Buffer.from(signature, "base64url"),
  );
  if (!valid) throw new Error("VAPID signature does not verify");
  return JSON.parse(Buffer.from(claims, "base64url").toString("utf8"));
};
