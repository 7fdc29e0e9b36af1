/**
 * How much of one event-loop turn socket opens may take. A reconnect storm (a restart, a network
 * blip) delivers hundreds of upgrades in one turn: everything the kernel accepted while the turn
 * before ran. Opened one after another they held the loop for 60–380 ms at a stretch, and
 * /healthz, messages and the opens already let in waited behind them. Past the budget, the rest of
 * the turn's upgrades are refused at once (503 `busy`, Retry-After 1 s; clients come back with
 * their backoff), so a turn stays short whatever arrives.
 */
export class OpenPacer {
  /** When the current turn's first open began (-1: none yet this turn). */
  private turnStarted = -1;

  constructor(
    /** Milliseconds of a turn that opens may take (0: no limit). */
    private readonly budgetMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Whether an open arriving now may go ahead in this turn. */
  admit(): boolean {
    if (this.budgetMs <= 0) return true;
    const now = this.now();
    if (this.turnStarted < 0) {
      this.turnStarted = now;
      // Runs once this turn's I/O is handled: the next turn starts with a fresh budget.
      setImmediate(() => (this.turnStarted = -1));
    }
    return now - this.turnStarted < this.budgetMs;
  }
}
