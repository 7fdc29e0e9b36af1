/**
 * Slow consumers: a socket that stops reading keeps receiving every room
 * broadcast, and Bun queues what the kernel will not take. Bun's own
 * `closeOnBackpressureLimit` drops such a socket without a Close frame (the
 * client sees 1006 and cannot tell why), so instead the server caps the queue
 * with `backpressureLimit` (sends past it are dropped, memory stays bounded)
 * and this watch closes any socket whose queue has reached the limit with
 * 4100 "slow, reconnect": the client reconnects and resumes from history.
 */
import type { ServerWebSocket } from "bun";
import { CloseCode } from "../protocol";

/** How often queues are looked at; a socket over the limit is closed within this. */
export const SLOW_CHECK_INTERVAL_MS = 250;

type Watched = Pick<ServerWebSocket<unknown>, "getBufferedAmount" | "close" | "readyState">;

export class SlowConsumerWatch {
  /**
   * Where the sockets are: the app's connection registry (set with `watchIn`), which holds every
   * socket that can be sent anything, rather than a Set here (~60 bytes more per socket).
   */
  private forEach: (visit: (ws: Watched) => void) => void = () => {};
  private timer: ReturnType<typeof setInterval> | undefined;
  /** Sockets closed for reading too slowly (a metric). */
  closed = 0;

  /** @param limitBytes queued bytes at which a socket is closed; Bun's backpressureLimit is set to the same. */
  constructor(
    readonly limitBytes: number,
    private readonly onClose: (buffered: number) => void = () => {},
  ) {}

  /** The sockets to look at from now on: `forEach` calls its argument with each. */
  watchIn(forEach: (visit: (ws: Watched) => void) => void): void {
    this.forEach = forEach;
  }

  /**
   * A socket opened: the queues are looked at from now until `stop` (it is looked at once it is
   * among `watchIn`'s). Once running, the watch goes on without sockets: it costs nothing then.
   */
  started(): void {
    if (!this.timer) {
      this.timer = setInterval(() => this.check(), SLOW_CHECK_INTERVAL_MS);
      this.timer.unref();
    }
  }

  /** Closes every watched socket whose queue reached the limit. */
  check(): void {
    this.forEach((ws) => {
      if (ws.readyState !== 1) return;
      const buffered = ws.getBufferedAmount();
      if (buffered < this.limitBytes) return;
      this.closed++;
      this.onClose(buffered);
      ws.close(CloseCode.SlowConsumer, "Too slow; reconnect");
    });
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
