/**
 * Whether a store takes writes: a read can succeed while every write fails
 * (a full disk, a read-only file, a server gone), so readiness proves a small
 * write. While healthy, at most every WRITE_PROBE_MS; while not, at every ask;
 * a probe that takes longer than PROBE_TIMEOUT_MS counts as failed (a server
 * that does not answer is as down as one that refuses). Shared by the stores.
 */

/** How often a healthy store proves a write. */
const WRITE_PROBE_MS = 5_000;
/** How long a probe may take. */
const PROBE_TIMEOUT_MS = 2_000;

export class WriteProbe {
  private probedAt = 0;
  private ok = true;

  constructor(
    /** Writes something harmless (a settings row); throws or rejects when it cannot. */
    private readonly write: (now: number) => void | Promise<unknown>,
    private readonly onError: (error: unknown) => void = () => {},
  ) {}

  async healthy(): Promise<boolean> {
    const now = Date.now();
    if (this.ok && now - this.probedAt < WRITE_PROBE_MS) return true;
    this.probedAt = now;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const attempt = (async () => {
      try {
        await this.write(now);
        return true;
      } catch (error) {
        this.onError(error);
        return false;
      } finally {
        clearTimeout(timer);
      }
    })();
    const late = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), PROBE_TIMEOUT_MS);
    });
    this.ok = await Promise.race([attempt, late]);
    return this.ok;
  }

  /** Proves a write now, whatever the last probe said. */
  probe(): Promise<boolean> {
    this.ok = false;
    return this.healthy();
  }

  /** A write failed elsewhere: unhealthy until a probe goes through. */
  failed(): void {
    this.ok = false;
    this.probedAt = 0;
  }
}
