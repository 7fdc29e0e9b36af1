/**
 * Files, the use case: an upload into a conversation the account is in (a room it is a member of,
 * or a direct conversation, created on first use like a private message) becomes a message whose
 * text is the caption, stored and delivered like any other (the same log writer: ordering, resume
 * and the other instances' fan-out come with it). The bytes are judged by what they are
 * (domain/files.ts), stripped of location metadata, kept once per content (BlobStore) and
 * recorded in the Store; a download is for members of the conversation only, checked every time.
 * A blob no message refers to any more (deleted, pruned by retention) is collected by
 * housekeeping once its last upload is older than ORPHAN_GRACE_MS.
 */
import {
  MalformedImageError,
  isJpeg,
  sanitizeFileName,
  sniff,
  stripJpegMetadata,
  stripPngMetadata,
  type Sniffed,
} from "../domain/files";
import { nameKey } from "../domain/names";
import type { Conversation, FileInfo, MessageView } from "../domain/model";
import type { BlobStore } from "../ports/blobs";
import type { Store } from "../ports/store";
import type { RateLimit } from "../security/rate";
import type { Logger } from "../log";
import type { User } from "../protocol";

/**
 * A blob claimed by an upload is not collected for this long, even with no message referring to it
 * yet: the upload stores its bytes and then its message within it (on any instance).
 */
export const ORPHAN_GRACE_MS = 10 * 60_000;
/** Blobs collected per housekeeping run at most (the rest at the next one). */
const COLLECT_PER_RUN = 1000;
const COLLECT_CHUNK = 100;

export interface FileLimits {
  maxFileBytes: number;
  /** 0: no limit. */
  quotaPerAccountBytes: number;
  /** 0: no limit. */
  quotaTotalBytes: number;
  maxCaptionLength: number;
}

export interface FileServiceDeps {
  store: Store;
  blobs: BlobStore;
  /** Uploads per account. */
  limiter: RateLimit<number>;
  limits: FileLimits;
  log: Logger;
  /** Stores and delivers the message carrying the file; resolves with its frame once delivered. */
  post(sender: User, conversation: Conversation, caption: string, file: FileInfo): Promise<MessageView>;
  /** A direct conversation exists now (maybe new): the members online learn it. */
  opened(conversation: Conversation): void;
  /** Whether a room's rules hold the account's message back (muted, slow mode): why, and for how long. */
  heldBack?(
    accountId: number,
    room: Conversation,
  ): Promise<{ error: "muted" | "slow_mode"; retryMs: number } | undefined>;
  now?: () => number;
}

export type Refusal = {
  ok: false;
  status: 400 | 403 | 404 | 413 | 429;
  error: string;
  message: string;
  retryMs?: number;
};

const refuse = (status: Refusal["status"], error: string, message: string, retryMs?: number): Refusal => ({
  ok: false,
  status,
  error,
  message,
  ...(retryMs === undefined ? {} : { retryMs }),
});

/** Where an upload goes: a room by name, or the direct conversation with an account. */
export type UploadTarget = { room: string } | { with: number };

const mib = (bytes: number): string => `${Math.round((bytes / (1024 * 1024)) * 10) / 10} MiB`;

export class FileService {
  private readonly now: () => number;
  /** Per content: an upload and a collection of the same blob never overlap in this process. */
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(private readonly deps: FileServiceDeps) {
    this.now = deps.now ?? Date.now;
  }

  get limits(): FileLimits {
    return this.deps.limits;
  }

  /** The conversation an upload goes to, if the account may post there. */
  async target(accountId: number, target: UploadTarget): Promise<Conversation | Refusal> {
    const { store } = this.deps;
    if ("room" in target) {
      const room = await store.room(nameKey(target.room));
      if (!room || !(await store.membersAmong(room.id, [accountId])).has(accountId))
        return refuse(403, "not_a_member", `You are not in a room "${target.room}"`);
      const held = await this.deps.heldBack?.(accountId, room);
      if (held)
        return refuse(
          429,
          held.error,
          held.error === "muted"
            ? "You are muted in this room for now"
            : "Slow mode: wait before your next message here",
          held.retryMs,
        );
      return room;
    }
    if (!(await store.account(target.with))) return refuse(404, "unknown_user", "No such user");
    const direct = await store.direct(accountId, target.with, this.now());
    this.deps.opened(direct);
    return direct;
  }

  /**
   * Whether the account may upload now, before its body is read: the rate (each attempt counts) and
   * a quota already spent.
   */
  async admit(accountId: number): Promise<Refusal | undefined> {
    const retryMs = await this.deps.limiter.take(accountId);
    if (retryMs > 0) return refuse(429, "rate_limited", "Too many uploads; wait a moment", retryMs);
    return this.overQuota(accountId, 1);
  }

  private async overQuota(accountId: number, size: number): Promise<Refusal | undefined> {
    const { quotaPerAccountBytes, quotaTotalBytes } = this.deps.limits;
    if (quotaPerAccountBytes === 0 && quotaTotalBytes === 0) return undefined;
    const usage = await this.deps.store.fileUsage(accountId);
    if (quotaPerAccountBytes > 0 && usage.account + size > quotaPerAccountBytes)
      return refuse(
        413,
        "quota_exceeded",
        `Your files take ${mib(usage.account)} of the ${mib(quotaPerAccountBytes)} allowed; delete some first`,
      );
    if (quotaTotalBytes > 0 && usage.total + size > quotaTotalBytes)
      return refuse(413, "quota_exceeded", "The server's room for files is full");
    return undefined;
  }

  /** Posts a file (with its caption) to a conversation the account may post in (see `target`). */
  async upload(
    user: User,
    conversation: Conversation,
    upload: { name: string; bytes: Uint8Array },
    rawCaption: string,
  ): Promise<{ ok: true; message: MessageView; conversation: Conversation } | Refusal> {
    const { limits } = this.deps;
    const caption = rawCaption.trim();
    if (caption.length > limits.maxCaptionLength && [...caption].length > limits.maxCaptionLength)
      return refuse(400, "too_long", `A caption is limited to ${limits.maxCaptionLength} characters`);
    if (upload.bytes.length === 0) return refuse(400, "empty_file", "The file is empty");
    if (upload.bytes.length > limits.maxFileBytes)
      return refuse(413, "file_too_large", `Files are limited to ${mib(limits.maxFileBytes)}`);
    let bytes = upload.bytes;
    let sniffed: Sniffed;
    try {
      sniffed = sniff(bytes);
      // Where a photo was taken goes before anyone can download it.
      if (isJpeg(bytes)) bytes = stripJpegMetadata(bytes);
      else if (sniffed.type === "image/png") bytes = stripPngMetadata(bytes);
    } catch (error) {
      if (error instanceof MalformedImageError)
        return refuse(400, "invalid_image", "The image could not be read (a damaged JPEG?)");
      throw error;
    }
    const over = await this.overQuota(user.id, bytes.length);
    if (over) return over;
    const hash = new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
    await this.locked(hash, async () => {
      const known = await this.deps.store.claimBlob(hash, bytes.length, this.now());
      if (!known || !(await this.deps.blobs.has(hash))) await this.deps.blobs.put(hash, bytes);
    });
    const file: FileInfo = {
      hash,
      name: sanitizeFileName(upload.name),
      type: sniffed.type,
      size: bytes.length,
      inline: sniffed.inline,
      width: sniffed.inline ? sniffed.width! : null,
      height: sniffed.inline ? sniffed.height! : null,
    };
    const message = await this.deps.post(user, conversation, caption, file);
    this.deps.log.info("file.uploaded", {
      account: user.id,
      conversation: conversation.id,
      message: message.id,
      bytes: file.size,
      type: file.type,
    });
    return { ok: true, message, conversation };
  }

  /**
   * A message's file and its bytes, for a member of its conversation; undefined for anyone else, and
   * for a message that does not exist, was deleted or carries no file (one answer for all).
   */
  async download(accountId: number, messageId: number): Promise<{ file: FileInfo; blob: Blob } | undefined> {
    const { store, blobs, log } = this.deps;
    const message = await store.message(messageId);
    if (!message?.file || message.deletedAt !== null) return undefined;
    if (!(await store.membersAmong(message.conversationId, [accountId])).has(accountId)) return undefined;
    const blob = await blobs.get(message.file.hash);
    if (!blob) {
      log.warn("file.missing", { message: messageId });
      return undefined;
    }
    return { file: message.file, blob };
  }

  /**
   * Removes the blobs no message refers to any more, whose last upload is older than the grace;
   * returns how many (housekeeping runs it every minute; `now` later than the clock in tests).
   */
  async collect(now = this.now()): Promise<number> {
    const { store, blobs } = this.deps;
    const before = now - ORPHAN_GRACE_MS;
    let collected = 0;
    while (collected < COLLECT_PER_RUN) {
      const hashes = await store.orphanBlobs(before, COLLECT_CHUNK);
      let removed = 0;
      for (const hash of hashes)
        if (await this.locked(hash, () => store.collectBlob(hash, before, () => blobs.delete(hash)))) removed++;
      collected += removed;
      if (hashes.length < COLLECT_CHUNK || removed === 0) break;
    }
    if (collected > 0) this.deps.log.info("files.collected", { blobs: collected });
    return collected;
  }

  /** Runs `work` once no other work on the same blob is running here. */
  private locked<T>(hash: string, work: () => Promise<T>): Promise<T> {
    const before = this.locks.get(hash) ?? Promise.resolve();
    const run = before.then(work, work);
    const settled = run.catch(() => undefined);
    this.locks.set(hash, settled);
    void settled.then(() => {
      if (this.locks.get(hash) === settled) this.locks.delete(hash);
    });
    return run;
  }
}
