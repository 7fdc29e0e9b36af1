/**
 * The cookie-signing secrets: from configuration when given, otherwise one
 * generated on first start and kept in the data directory (mode 0600), so
 * sessions survive a restart.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { StoreError } from "../store/db";

export const SECRET_FILE = "secret";

export const loadSecrets = (configured: readonly string[], dataDir: string): string[] => {
  if (configured.length > 0) return [...configured];
  const generate = () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
  if (dataDir === ":memory:") return [generate()];
  const path = join(dataDir, SECRET_FILE);
  try {
    if (existsSync(path)) {
      const secret = readFileSync(path, "utf8").trim();
      if (secret.length >= 16) return [secret];
      throw new StoreError(
        `${path} holds no usable secret (fewer than 16 characters); delete it to generate a new one`,
      );
    }
    const secret = generate();
    writeFileSync(path, `${secret}\n`, { mode: 0o600, flag: "wx" });
    return [secret];
  } catch (error) {
    if (error instanceof StoreError) throw error;
    throw new StoreError(`cannot read or create the secret file ${path}: ${(error as Error).message}`);
  }
};
