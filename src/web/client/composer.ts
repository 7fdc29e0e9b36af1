/**
 * The composer's length limit, said out loud instead of enforced by
 * truncation: near MAX_MESSAGE_LENGTH (the page's `data-max-length`) it shows
 * how many characters are left, past it how many are over, and a message over
 * it is not sent, with the reason shown. Characters are counted as the server
 * counts them: code points of the trimmed text.
 */
import { label } from "./text";

/** The server's default, for a page that does not say (page.tsx always does). */
const DEFAULT_MAX_MESSAGE_LENGTH = 2000;

/** Characters of a message as the server counts them. */
export const messageLength = (text: string): number => [...text.trim()].length;

/** From this many characters before the limit on, the count shows (a tenth of it, 10 to 100). */
export const countFrom = (max: number): number => Math.max(0, max - Math.max(10, Math.min(100, Math.ceil(max / 10))));

export class ComposerLimit {
  readonly max: number;

  constructor(
    private readonly text: HTMLTextAreaElement,
    private readonly count: HTMLElement,
    private readonly error: HTMLElement,
    max: number | undefined,
  ) {
    this.max = max !== undefined && Number.isInteger(max) && max > 0 ? max : DEFAULT_MAX_MESSAGE_LENGTH;
  }

  /** Shows the count for what is typed now (on every input), and drops a refusal the edit may have fixed. */
  update(): void {
    const length = messageLength(this.text.value);
    const left = this.max - length;
    this.count.hidden = length < countFrom(this.max);
    this.count.classList.toggle("over", left < 0);
    if (!this.count.hidden) label(this.count, left < 0 ? "charsOver" : "charsLeft", { count: Math.abs(left) });
    if (left >= 0) this.clearError();
    if (left < 0) this.text.setAttribute("aria-invalid", "true");
    else this.text.removeAttribute("aria-invalid");
  }

  /** True when the text may be sent; otherwise says why (and it is not sent). */
  allows(): boolean {
    const length = messageLength(this.text.value);
    this.update();
    if (length <= this.max) return true;
    label(this.error, "tooLongToSend", { length, max: this.max, over: length - this.max });
    return false;
  }

  clearError(): void {
    delete this.error.dataset.i18n;
    this.error.textContent = "";
  }
}
