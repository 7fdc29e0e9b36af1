/**
 * Telling the reader when someone needs them: which messages a conversation's level asks for
 * (everything; mentions and direct messages; nothing), a browser notification for those while the
 * page is hidden (permission asked from a button, never on load), an optional sound (off by
 * default, kept in this browser), and the unread total on the favicon.
 */
import { t } from "./text";

const SOUND_KEY = "teahouse.notifySound";

export class Notifier {
  private audio: AudioContext | undefined;
  private readonly icon: HTMLLinkElement | null = document.querySelector('link[rel="icon"]');
  private readonly plainIcon = this.icon?.href ?? "";
  private shownTotal = -1;

  constructor(
    private readonly permissionButton: HTMLButtonElement,
    private readonly soundBox: HTMLInputElement,
  ) {
    permissionButton.addEventListener("click", () => void this.askPermission());
    soundBox.checked = localStorage.getItem(SOUND_KEY) === "1";
    soundBox.addEventListener("change", () => localStorage.setItem(SOUND_KEY, soundBox.checked ? "1" : "0"));
    this.refreshButton();
  }

  /** The "turn on" button is there while the browser has not been asked (or said neither yes nor no). */
  refreshButton(): void {
    this.permissionButton.hidden = typeof Notification === "undefined" || Notification.permission !== "default";
  }

  private async askPermission(): Promise<void> {
    if (typeof Notification === "undefined") return;
    await Notification.requestPermission();
    this.refreshButton();
  }

  /**
   * A message worth telling arrived: a notification while the page is hidden (clicking it opens the
   * conversation at the message), and the sound if wanted for a mention or a direct message.
   */
  tell(options: { title: string; body: string; tag: string; loud: boolean; open: () => void }): void {
    if (options.loud && this.soundBox.checked) this.beep();
    if (!document.hidden || typeof Notification === "undefined" || Notification.permission !== "granted") return;
    const notification = new Notification(options.title, {
      body: [...options.body].slice(0, 100).join(""),
      tag: options.tag,
    });
    notification.onclick = () => {
      window.focus();
      options.open();
      notification.close();
    };
  }

  private beep(): void {
    try {
      this.audio ??= new AudioContext();
      const oscillator = this.audio.createOscillator();
      const gain = this.audio.createGain();
      oscillator.frequency.value = 880;
      gain.gain.setValueAtTime(0.08, this.audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.0001, this.audio.currentTime + 0.25);
      oscillator.connect(gain).connect(this.audio.destination);
      oscillator.start();
      oscillator.stop(this.audio.currentTime + 0.25);
    } catch {
      // No audio here: nothing else lost.
    }
  }

  /** The favicon with the unread total on it (the plain one at 0). */
  showTotal(total: number, mentioned: boolean): void {
    if (!this.icon || total === this.shownTotal) return;
    this.shownTotal = total;
    if (total === 0) {
      this.icon.href = this.plainIcon;
      this.icon.type = "image/svg+xml";
      return;
    }
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = 32;
    const g = canvas.getContext("2d");
    if (!g) return;
    g.fillStyle = "#2f7d62";
    g.beginPath();
    g.roundRect(0, 0, 32, 32, 7);
    g.fill();
    g.fillStyle = mentioned ? "#b3261e" : "#e0892b";
    g.beginPath();
    g.arc(22, 10, 10, 0, Math.PI * 2);
    g.fill();
    g.fillStyle = "#ffffff";
    g.font = "bold 13px sans-serif";
    g.textAlign = "center";
    g.textBaseline = "middle";
    g.fillText(total > 99 ? "99" : String(total), 22, 11);
    this.icon.type = "image/png";
    this.icon.href = canvas.toDataURL("image/png");
  }
}

/** The notification's title: who, and where. */
export const notificationTitle = (name: string, where: string): string => t("notifyFrom", { name, where });
