/**
 * Where files' bytes are kept, by content: a blob's key is the SHA-256 of its bytes (hex), so the
 * same file uploaded twice is kept once and a key never names two contents. Adapters: a folder
 * under DATA_DIR (one box), an S3-compatible bucket (several instances), memory (tests,
 * DATA_DIR=":memory:"). The metadata (name, type, who, where) is the Store's.
 */
export interface BlobStore {
  /** What it is, for logs and /readyz-style reports: "disk", "s3", "memory". */
  readonly kind: string;
  /** Stores the bytes under `hash` (replacing nothing: the same key always holds the same bytes). */
  put(hash: string, bytes: Uint8Array): Promise<void>;
  /** Whether bytes are stored under `hash`. */
  has(hash: string): Promise<boolean>;
  /** The stored bytes (a Blob the response streams), or undefined when there are none. */
  get(hash: string): Promise<Blob | undefined>;
  /** Removes the bytes (nothing there is no error). */
  delete(hash: string): Promise<void>;
}

/** A blob key: 64 lower-case hex digits (anything else is never a path or an object name). */
export const isBlobKey = (hash: string): boolean => /^[0-9a-f]{64}$/.test(hash);
