/**
 * The BlobStore port's adapters: a folder (DATA_DIR/files, content-addressed: `ab/abcdef…`), an
 * S3-compatible bucket through Bun's built-in S3 client (no dependency; AWS, MinIO, R2, …), and
 * memory. A write to the folder goes to a temporary name first and is renamed into place, so a
 * crash never leaves half a file under a content's name.
 */
import { S3Client } from "bun";
import { mkdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isBlobKey, type BlobStore } from "../ports/blobs";

const checked = (hash: string): string => {
  if (!isBlobKey(hash)) throw new Error("not a blob key");
  return hash;
};

/** Blobs as files under `root`, in 256 folders by their first two hex digits. */
export class DiskBlobs implements BlobStore {
  readonly kind = "disk";

  constructor(private readonly root: string) {
    mkdirSync(root, { recursive: true });
  }

  private path(hash: string): string {
    return join(this.root, checked(hash).slice(0, 2), hash);
  }

  async put(hash: string, bytes: Uint8Array): Promise<void> {
    const path = this.path(hash);
    mkdirSync(join(this.root, hash.slice(0, 2)), { recursive: true });
    const temporary = `${path}.${crypto.randomUUID()}.part`;
    try {
      writeFileSync(temporary, bytes, { mode: 0o600 });
      renameSync(temporary, path);
    } catch (error) {
      rmSync(temporary, { force: true });
      throw error;
    }
  }

  async has(hash: string): Promise<boolean> {
    try {
      return statSync(this.path(hash)).isFile();
    } catch {
      return false;
    }
  }

  async get(hash: string): Promise<Blob | undefined> {
    return (await this.has(hash)) ? Bun.file(this.path(hash)) : undefined;
  }

  async delete(hash: string): Promise<void> {
    rmSync(this.path(hash), { force: true });
  }
}

export interface S3Options {
  bucket: string;
  /** Empty: AWS, from the region. */
  endpoint: string;
  region: string;
  /** Empty: Bun's own fallbacks (S3_ACCESS_KEY_ID / AWS_ACCESS_KEY_ID in the environment). */
  accessKeyId: string;
  secretAccessKey: string;
}

/** Blobs as objects of an S3-compatible bucket, named `files/<hash>`. */
export class S3Blobs implements BlobStore {
  readonly kind = "s3";
  private readonly client: S3Client;

  constructor(options: S3Options) {
    this.client = new S3Client({
      bucket: options.bucket,
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      ...(options.region ? { region: options.region } : {}),
      ...(options.accessKeyId ? { accessKeyId: options.accessKeyId } : {}),
      ...(options.secretAccessKey ? { secretAccessKey: options.secretAccessKey } : {}),
    });
  }

  private key(hash: string): string {
    return `files/${checked(hash)}`;
  }

  async put(hash: string, bytes: Uint8Array): Promise<void> {
    await this.client.write(this.key(hash), bytes, { type: "application/octet-stream" });
  }

  has(hash: string): Promise<boolean> {
    return this.client.exists(this.key(hash));
  }

  async get(hash: string): Promise<Blob | undefined> {
    // An S3File is a lazy Blob: a response streams it from the bucket, never whole in memory.
    const key = this.key(hash);
    return (await this.client.exists(key)) ? this.client.file(key) : undefined;
  }

  async delete(hash: string): Promise<void> {
    await this.client.delete(this.key(hash));
  }
}

/** Blobs in memory (DATA_DIR=":memory:": nothing on disk). */
export class MemoryBlobs implements BlobStore {
  readonly kind = "memory";
  private readonly blobs = new Map<string, Uint8Array>();

  async put(hash: string, bytes: Uint8Array): Promise<void> {
    this.blobs.set(checked(hash), bytes.slice());
  }

  async has(hash: string): Promise<boolean> {
    return this.blobs.has(hash);
  }

  async get(hash: string): Promise<Blob | undefined> {
    const bytes = this.blobs.get(hash);
    return bytes ? new Blob([bytes]) : undefined;
  }

  async delete(hash: string): Promise<void> {
    this.blobs.delete(hash);
  }

  /** How many blobs are kept (tests). */
  get size(): number {
    return this.blobs.size;
  }
}
