/**
 * "X is typing…": who typed in which room, each entry expiring by itself
 * TYPING_TTL_MS after their last `typing` frame (or at once when their
 * message arrives or they leave).
 */
import { TYPING_TTL_MS, type User } from "../../protocol";
import { label } from "./text";

export class Typing {
  private readonly rooms = new Map<string, Map<number, { user: User; timer: ReturnType<typeof setTimeout> }>>();
  private room: string | undefined;

  constructor(private readonly node: HTMLElement) {}

  add(room: string, user: User): void {
    let typists = this.rooms.get(room);
    if (!typists) this.rooms.set(room, (typists = new Map()));
    clearTimeout(typists.get(user.id)?.timer);
    typists.set(user.id, { user, timer: setTimeout(() => this.remove(room, user.id), TYPING_TTL_MS) });
    if (room === this.room) this.render();
  }

  remove(room: string, userId: number): void {
    const typists = this.rooms.get(room);
    const entry = typists?.get(userId);
    if (!entry) return;
    clearTimeout(entry.timer);
    typists!.delete(userId);
    if (room === this.room) this.render();
  }

  clear(): void {
    for (const typists of this.rooms.values()) for (const { timer } of typists.values()) clearTimeout(timer);
    this.rooms.clear();
    this.render();
  }

  /** Shows the indicator for this room (undefined: a private conversation, which has none). */
  show(room: string | undefined): void {
    this.room = room;
    this.render();
  }

  render(): void {
    const names = [...(this.room ? (this.rooms.get(this.room)?.values() ?? []) : [])].map(({ user }) => user.name);
    if (names.length === 0) {
      delete this.node.dataset.i18n;
      this.node.textContent = "";
    } else if (names.length === 1) label(this.node, "typingOne", { name: names[0]! });
    else if (names.length === 2) label(this.node, "typingTwo", { a: names[0]!, b: names[1]! });
    else label(this.node, "typingMany");
  }
}
