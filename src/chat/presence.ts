/**
 * Who is online in each room, on this instance: the online accounts that are
 * members of it. Counted per account (an account's tabs are one entry), so
 * `add` says whether the account just arrived and `remove` whether it just
 * went, which is when `join` and `left` are sent.
 */
import type { User } from "../protocol";

export class Presence {
  private readonly rooms = new Map<number, Map<number, User>>();
  /** Names of the rooms with someone online. */
  private readonly names = new Map<number, string>();
  /**
   * Account id → the rooms it is online in here (so an account's rooms are found without a scan). An
   * array: most accounts are in a room or two, and a Set each costs ~250 bytes more.
   */
  private readonly byAccount = new Map<number, number[]>();

  /** The account is online in the room; true when it was not before. */
  add(conversationId: number, user: User, name: string): boolean {
    let members = this.rooms.get(conversationId);
    if (!members) {
      this.rooms.set(conversationId, (members = new Map()));
      this.names.set(conversationId, name);
    }
    const had = members.has(user.id);
    members.set(user.id, user);
    if (!had) {
      const rooms = this.byAccount.get(user.id);
      if (rooms) rooms.push(conversationId);
      else this.byAccount.set(user.id, [conversationId]);
    }
    return !had;
  }

  /** The account is no longer online in the room; true when it was. */
  remove(conversationId: number, accountId: number): boolean {
    const members = this.rooms.get(conversationId);
    if (!members?.delete(accountId)) return false;
    const rooms = this.byAccount.get(accountId);
    const at = rooms?.indexOf(conversationId) ?? -1;
    if (at >= 0) rooms!.splice(at, 1);
    if (rooms?.length === 0) this.byAccount.delete(accountId);
    if (members.size === 0) {
      this.rooms.delete(conversationId);
      this.names.delete(conversationId);
    }
    return true;
  }

  /** The account's entry shows `user` from now on (a rename). */
  update(conversationId: number, user: User): void {
    const members = this.rooms.get(conversationId);
    if (members?.has(user.id)) members.set(user.id, user);
  }

  /** The rooms where the account is online here: [room id, name, the user as listed]. */
  roomsOf(accountId: number): Array<[number, string, User]> {
    return (this.byAccount.get(accountId) ?? []).map((id) => [
      id,
      this.names.get(id)!,
      this.rooms.get(id)!.get(accountId)!,
    ]);
  }

  /** The name of a room with someone online. */
  name(conversationId: number): string | undefined {
    return this.names.get(conversationId);
  }

  has(conversationId: number, accountId: number): boolean {
    return this.rooms.get(conversationId)?.has(accountId) ?? false;
  }

  /** Every room with someone online: [room id, users]. */
  *entries(): IterableIterator<[number, Map<number, User>]> {
    yield* this.rooms;
  }

  members(conversationId: number): User[] {
    return [...(this.rooms.get(conversationId)?.values() ?? [])];
  }

  count(conversationId: number): number {
    return this.rooms.get(conversationId)?.size ?? 0;
  }
}

/**
 * How many people are online in each room on every instance: per room, per account, how many
 * instances (this one included) have it online there. `count` is exact whatever the tabs and instances.
 */
export class Roster {
  private readonly rooms = new Map<number, Map<number, number>>();

  hold(room: number, account: number): void {
    let holders = this.rooms.get(room);
    if (!holders) this.rooms.set(room, (holders = new Map()));
    holders.set(account, (holders.get(account) ?? 0) + 1);
  }

  release(room: number, account: number): void {
    const holders = this.rooms.get(room);
    const held = holders?.get(account);
    if (!holders || held === undefined) return;
    if (held > 1) holders.set(account, held - 1);
    else {
      holders.delete(account);
      if (holders.size === 0) this.rooms.delete(room);
    }
  }

  count(room: number): number {
    return this.rooms.get(room)?.size ?? 0;
  }
}
