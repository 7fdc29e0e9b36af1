/**
 * Scrolling done right: new messages follow only a reader who is already at
 * the bottom; anyone reading older messages gets a "new messages ↓" chip
 * instead of being yanked down.
 */

/** Within this many pixels of the end counts as "at the bottom". */
const BOTTOM_SLACK_PX = 48;

export interface ScrollMemory {
  scrollTop: number;
  stuckToBottom: boolean;
}

export class Scroller {
  /** The reader was at the bottom after the last scroll: a resize of the box keeps them there. */
  private stuck = true;
  private readonly listeners = new AbortController();
  private readonly resized: ResizeObserver;

  constructor(
    private readonly box: HTMLElement,
    private readonly chip: HTMLElement,
  ) {
    const { signal } = this.listeners;
    box.addEventListener(
      "scroll",
      () => {
        this.stuck = this.atBottom();
        if (this.stuck) chip.hidden = true;
      },
      { passive: true, signal },
    );
    chip.addEventListener("click", () => this.toBottom(), { signal });
    // The composer grows (a wrapped placeholder, a long draft), the banner shows, a phone keyboard opens:
    // the box shrinks under the reader, who must not lose the newest line below the fold.
    this.resized = new ResizeObserver(() => {
      if (this.stuck) this.box.scrollTop = this.box.scrollHeight;
    });
    this.resized.observe(box);
  }

  /** Lets go of the page's elements (a new Scroller comes with the next sign-in). */
  dispose(): void {
    this.listeners.abort();
    this.resized.disconnect();
    this.chip.hidden = true;
  }

  atBottom(): boolean {
    return this.box.scrollHeight - this.box.scrollTop - this.box.clientHeight < BOTTOM_SLACK_PX;
  }

  /** Runs `add`, then follows (at the bottom, or `force` for own messages) or shows the chip. */
  append(add: () => boolean | void, force = false): boolean {
    const follow = force || this.atBottom();
    const added = add() !== false;
    if (follow) this.toBottom();
    else if (added) this.chip.hidden = false;
    return added;
  }

  /** Runs `add` (which inserts above) without moving what the reader sees. */
  keepPosition(add: () => void): void {
    const fromBottom = this.box.scrollHeight - this.box.scrollTop;
    add();
    this.box.scrollTop = this.box.scrollHeight - fromBottom;
  }

  toBottom(): void {
    this.box.scrollTop = this.box.scrollHeight;
    this.stuck = true;
    this.chip.hidden = true;
  }

  save(memory: ScrollMemory): void {
    memory.scrollTop = this.box.scrollTop;
    memory.stuckToBottom = this.atBottom();
  }

  restore(memory: ScrollMemory): void {
    if (memory.stuckToBottom) this.toBottom();
    else {
      this.box.scrollTop = memory.scrollTop;
      this.stuck = false;
    }
    this.chip.hidden = true;
  }
}
