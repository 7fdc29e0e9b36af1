/**
 * The room rules a message meets before it is stored, kept in memory so that checking them costs
 * no store read: each room's settings (topic, privacy, slow mode), the mutes in force, and when each
 * member of a slow room last sent. Filled from the memberships read at socket open and on joining,
 * changed by the moderation commands here and by the other instances' (bus events). Everything
 * expires or is dropped: a mute at its end, a last-sent time once it no longer slows anyone.
 */
import type { RoomRulesView } from "../domain/model";

export interface RoomState {
  topic: string;
  private: boolean;
  slowSeconds: number;
  ownerId: number | null;
}

const key = (room: number, account: number): string => `${room}:${account}`;

export class RoomRules {
  private readonly rooms = new Map<number, RoomState>();
  private readonly mutes = new Map<string, number>();
  private readonly lastSent = new Map<string, number>();
  /** Members who moderate a room (its owner, its moderators; server admins are asked separately). */
  private readonly moderators = new Set<string>();

  constructor(private readonly now: () => number) {}

  /** What a membership read says (at open, on joining). */
  learn(room: number, account: number, view: RoomRulesView): void {
    this.rooms.set(room, {
      topic: view.topic,
      private: view.private,
      slowSeconds: view.slowSeconds,
      ownerId: view.ownerId,
    });
    this.setMuted(room, account, view.mutedUntil);
    this.setModerator(room, account, view.moderator || view.ownerId === account);
  }

  room(room: number): RoomState | undefined {
    return this.rooms.get(room);
  }

  setRoom(room: number, state: RoomState): void {
    this.rooms.set(room, state);
    if (state.slowSeconds === 0)
      for (const k of this.lastSent.keys()) if (k.startsWith(`${room}:`)) this.lastSent.delete(k);
  }

  setMuted(room: number, account: number, until: number): void {
    if (until > this.now()) this.mutes.set(key(room, account), until);
    else this.mutes.delete(key(room, account));
  }

  /** Milliseconds the account stays muted in the room (0: not muted). */
  mutedFor(room: number, account: number): number {
    // Asked for every message: with no mute anywhere, no key is made.
    if (this.mutes.size === 0) return 0;
    const until = this.mutes.get(key(room, account));
    if (until === undefined) return 0;
    const left = until - this.now();
    if (left > 0) return left;
    this.mutes.delete(key(room, account));
    return 0;
  }

  setModerator(room: number, account: number, on: boolean): void {
    if (on) this.moderators.add(key(room, account));
    else this.moderators.delete(key(room, account));
  }

  isModerator(room: number, account: number): boolean {
    return this.moderators.has(key(room, account));
  }

  /**
   * Slow mode: milliseconds before the account may send in the room again (0: now, and the send is
   * counted). `exempt`: it moderates the room.
   */
  slowWait(room: number, account: number, exempt: boolean): number {
    const seconds = this.rooms.get(room)?.slowSeconds ?? 0;
    if (seconds === 0 || exempt) return 0;
    const now = this.now();
    const last = this.lastSent.get(key(room, account));
    const wait = last === undefined ? 0 : last + seconds * 1000 - now;
    if (wait > 0) return wait;
    this.lastSent.set(key(room, account), now);
    return 0;
  }

  /** Forgets what no longer binds anyone (expired mutes, last-sent times past their room's interval). */
  sweep(): void {
    const now = this.now();
    for (const [k, until] of this.mutes) if (until <= now) this.mutes.delete(k);
    for (const [k, at] of this.lastSent) {
      const seconds = this.rooms.get(Number(k.slice(0, k.indexOf(":"))))?.slowSeconds ?? 0;
      if (at + seconds * 1000 <= now) this.lastSent.delete(k);
    }
  }

  /** A member left the room (or went offline everywhere): nothing of theirs is kept but a mute. */
  forget(room: number, account: number): void {
    this.moderators.delete(key(room, account));
    this.lastSent.delete(key(room, account));
  }
}
