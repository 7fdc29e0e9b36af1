/**
 * This instance among others (REDIS_URL): what it hears on the bus, applied
 * to its own sockets, and the other instances' presence as it last heard it.
 *
 * Presence is computed, not shipped: each instance announces when an account
 * comes online or goes offline in a room on it (`arrive`/`depart`), keeps a
 * replica of every other instance's presence, and tells its own sockets
 * `join` when an account becomes online in a room anywhere and `left` when
 * it is online nowhere. Every instance hears the same events, so every
 * instance sends the same `join`s and `left`s, each to its own sockets.
 *
 * An instance that stops hearing another for EXPIRY_MS (killed, cut off)
 * drops its replica: its users leave. An instance (re)joining the bus says
 * `hello`; every other one forgets what it knew of it and answers with its
 * whole `state`.
 */
import type { Bus, BusEvent } from "../ports/bus";
import type { User } from "../protocol";
import type { Logger } from "../log";
import type { ChatHub } from "./hub";

/** How often this instance says it is alive. */
export const HEARTBEAT_MS = 2_000;
/** An instance not heard for this long is gone: its users leave (bound: this + one heartbeat). */
export const EXPIRY_MS = 6_000;

interface Replica {
  heardAt: number;
  /** Room id → its name and the users online in it there. */
  rooms: Map<number, { name: string; users: Map<number, User> }>;
  /** Account id → its sockets there. */
  sockets: Map<number, number>;
  /** Accounts with a page in front of them there. */
  visible: Set<number>;
}

/** What the hub asks of the other instances (a lone instance has none). */
export interface Peers {
  /** Whether the account is online in the room on another instance. */
  present(room: number, account: number): boolean;
  /** Users online in the room on other instances (an account once, even if on several). */
  members(room: number): Iterable<User>;
  /** Rooms where the account is online on other instances: id → name. */
  roomsOf(account: number): Map<number, string>;
  /** Whether the account has a page in front of it on another instance. */
  visible(account: number): boolean;
  publish(event: BusEvent): void;
}

export const LONE: Peers = {
  present: () => false,
  members: () => [],
  roomsOf: () => new Map(),
  visible: () => false,
  publish: () => {},
};

export class Cluster implements Peers {
  private readonly replicas = new Map<string, Replica>();
  private hub: ChatHub | undefined;
  private beat: Timer | undefined;
  private lastExpireAt = Date.now();

  constructor(
    private readonly bus: Bus,
    private readonly log: Logger,
    /** This instance's socket count per account. */
    private readonly localSockets: () => Array<[number, number]>,
    private readonly now: () => number = Date.now,
  ) {}

  /** Starts hearing the bus (on the hub the events apply to) and the heartbeat. */
  attach(hub: ChatHub): void {
    this.hub = hub;
    this.bus.listen((from, event) => this.heard(from, event));
    this.bus.onStatus((up) => (up ? this.joined() : this.cutOff()));
    this.beat = setInterval(() => {
      this.publish({ t: "beat" });
      this.expire();
    }, HEARTBEAT_MS);
    this.beat.unref();
    if (this.bus.up) this.joined();
  }

  publish(event: BusEvent): void {
    this.bus.publish(event);
  }

  present(room: number, account: number): boolean {
    for (const replica of this.replicas.values()) if (replica.rooms.get(room)?.users.has(account)) return true;
    return false;
  }

  *members(room: number): Iterable<User> {
    const seen = new Set<number>();
    for (const replica of this.replicas.values())
      for (const user of replica.rooms.get(room)?.users.values() ?? [])
        if (!seen.has(user.id)) {
          seen.add(user.id);
          yield user;
        }
  }

  roomsOf(account: number): Map<number, string> {
    const rooms = new Map<number, string>();
    for (const replica of this.replicas.values())
      for (const [id, room] of replica.rooms) if (room.users.has(account)) rooms.set(id, room.name);
    return rooms;
  }

  visible(account: number): boolean {
    for (const replica of this.replicas.values()) if (replica.visible.has(account)) return true;
    return false;
  }

  /** Sockets of an account on the other instances. */
  sockets(account: number): number {
    let count = 0;
    for (const replica of this.replicas.values()) count += replica.sockets.get(account) ?? 0;
    return count;
  }

  /** Instances heard from (this one aside). */
  get peerCount(): number {
    return this.replicas.size;
  }

  /** Says goodbye (others forget this instance's presence at once) and stops the heartbeat. */
  stop(): void {
    clearInterval(this.beat);
    this.publish({ t: "bye" });
  }

  // ------------------------------------------------------------ the bus

  /** On the bus (again): the others forget what they knew of this instance, then learn its presence now. */
  private joined(): void {
    this.publish({ t: "hello" });
    if (this.hub) this.publish(this.state());
  }

  /** The bus went down: what was heard is stale (the app closes every socket; all is rebuilt after). */
  private cutOff(): void {
    for (const from of [...this.replicas.keys()]) this.forget(from);
  }

  private replica(from: string): Replica {
    let replica = this.replicas.get(from);
    if (!replica) {
      replica = { heardAt: this.now(), rooms: new Map(), sockets: new Map(), visible: new Set() };
      this.replicas.set(from, replica);
      this.log.info("cluster.instance_joined", { instance: from });
    }
    replica.heardAt = this.now();
    return replica;
  }

  private heard(from: string, event: BusEvent): void {
    const hub = this.hub;
    if (!hub) return;
    if (event.t === "bye") return this.forget(from);
    if (event.t === "hello") {
      // It (re)joined: whatever it had before is gone. It gets this instance's state.
      this.forget(from);
      this.replica(from);
      return this.publish(this.state());
    }
    if (event.t === "ask") {
      if (event.to === this.bus.instance) this.publish(this.state());
      return;
    }
    // Heard from an instance whose presence is unknown here (it was taken for gone after a stall, or
    // this one missed its state): ask for it rather than take it for empty.
    if (!this.replicas.has(from) && event.t !== "state") this.publish({ t: "ask", to: from });
    const replica = this.replica(from);
    switch (event.t) {
      case "beat":
        return;
      case "messages":
        return hub.tail.remote(event.items);
      case "frame":
        return hub.deps.deliver(event.topic, event.text);
      case "arrive":
        return this.add(replica, event.room, event.name, event.user);
      case "depart":
        return this.remove(replica, event.room, event.user);
      case "rename":
        for (const other of this.replicas.values())
          for (const room of other.rooms.values())
            if (room.users.has(event.user.id)) room.users.set(event.user.id, event.user);
        return hub.renamed(event.user, false);
      case "entered": {
        const account = hub.registry.get(event.account);
        if (account && !account.conversations.has(event.room.id))
          hub
            .enterRoom(account, event.room, undefined, false)
            .catch((error: unknown) =>
              this.log.error("cluster.enter_failed", { error: String((error as Error)?.message ?? error) }),
            );
        return;
      }
      case "left": {
        const account = hub.registry.get(event.account);
        const room = account?.conversations.get(event.room);
        if (account && room) hub.leaveRoom(account, room, false);
        return;
      }
      case "close":
        return hub.closeSessions(event.sids, event.code, event.reason, false);
      case "sockets":
        if (event.count > 0) replica.sockets.set(event.account, event.count);
        else replica.sockets.delete(event.account);
        return;
      case "role":
        return hub.roleChanged(event.account, event.role, false);
      case "rules":
        return hub.rules.setRoom(event.room, event.state);
      case "muted":
        return hub.rules.setMuted(event.room, event.account, event.until);
      case "moderator":
        return hub.rules.setModerator(event.room, event.account, event.on);
      case "seen":
        if (!event.visible) return void replica.visible.delete(event.account);
        replica.visible.add(event.account);
        return hub.deps.looked?.(event.account);
      case "state":
        return this.replace(from, event);
    }
  }

  /** This instance's presence, for an instance that said hello. */
  private state(): BusEvent {
    const hub = this.hub!;
    const rooms: Array<[number, string, User[]]> = [];
    for (const [id, users] of hub.presence.entries())
      rooms.push([id, hub.presence.name(id) ?? "", [...users.values()]]);
    return { t: "state", rooms, sockets: this.localSockets(), visible: hub.visibleAccounts() };
  }

  /** Whether the account is online in the room here or on an instance other than `except`. */
  private elsewhere(room: number, account: number, except: Replica): boolean {
    if (this.hub!.presence.has(room, account)) return true;
    for (const replica of this.replicas.values())
      if (replica !== except && replica.rooms.get(room)?.users.has(account)) return true;
    return false;
  }

  private add(replica: Replica, room: number, name: string, user: User): void {
    let entry = replica.rooms.get(room);
    if (!entry) replica.rooms.set(room, (entry = { name, users: new Map() }));
    const known = entry.users.has(user.id);
    entry.users.set(user.id, user);
    if (known) return;
    this.hub!.roster.hold(room, user.id);
    if (!this.elsewhere(room, user.id, replica)) this.hub!.announce("join", user, room, name);
  }

  private remove(replica: Replica, room: number, user: User): void {
    const entry = replica.rooms.get(room);
    if (!entry?.users.delete(user.id)) return;
    if (entry.users.size === 0) replica.rooms.delete(room);
    this.hub!.roster.release(room, user.id);
    if (!this.elsewhere(room, user.id, replica)) this.hub!.announce("left", user, room, entry.name);
  }

  /** An instance's whole state replaces what was known of it (joins and lefts for the difference). */
  private replace(from: string, state: Extract<BusEvent, { t: "state" }>): void {
    const replica = this.replica(from);
    const next = new Map(state.rooms.map(([id, name, users]) => [id, { name, users }]));
    for (const [id, entry] of [...replica.rooms])
      for (const user of [...entry.users.values()])
        if (!next.get(id)?.users.some((other) => other.id === user.id)) this.remove(replica, id, user);
    for (const [id, { name, users }] of next) for (const user of users) this.add(replica, id, name, user);
    replica.sockets = new Map(state.sockets);
    replica.visible = new Set(state.visible ?? []);
  }

  /** An instance is gone: its users leave the rooms where they are online nowhere else. */
  private forget(from: string): void {
    const replica = this.replicas.get(from);
    if (!replica) return;
    for (const [id, entry] of [...replica.rooms])
      for (const user of [...entry.users.values()]) this.remove(replica, id, user);
    this.replicas.delete(from);
  }

  private expire(): void {
    const now = this.now();
    // This instance's own loop stalled (its timer is late): the others' beats are waiting to be read,
    // not missing. Give them one more round.
    const late = now - this.lastExpireAt > 2 * HEARTBEAT_MS;
    this.lastExpireAt = now;
    if (late) {
      for (const replica of this.replicas.values()) replica.heardAt = Math.max(replica.heardAt, now);
      return;
    }
    for (const [from, replica] of [...this.replicas])
      if (now - replica.heardAt > EXPIRY_MS) {
        this.log.warn("cluster.instance_lost", { instance: from });
        this.forget(from);
      }
  }
}
