/**
 * Who comes and goes, told to a room at a cost that grows with the changes,
 * not with the square of the members.
 *
 * - A room with at most `fullRoomSize` online gets a `join` or `left` per
 *   person at once: the tutorial's contract.
 * - A bigger room gets one small `presence` frame at most every
 *   `intervalMs`: the count, and how many came and went meanwhile (above
 *   `bigRoomSize`, the count alone). Who they were goes only to the sockets
 *   watching the member list (`members` with `watch`, topic `m:<room>`): a
 *   frame to everyone never grows with the crowd.
 *
 * Every instance runs its own feed for its own sockets (the changes it sees
 * are the cluster's: chat/cluster.ts).
 */
import type { User } from "../protocol";
import type { Outgoing } from "./codec";
import { conversationTopic, membersTopic } from "./topics";

export interface FeedDeps {
  fullRoomSize: number;
  bigRoomSize: number;
  /** How often a big room's batch goes out. */
  intervalMs: number;
  /** People online in the room now (on every instance). */
  count: (room: number) => number;
  encode: (frame: Outgoing) => string;
  deliver: (topic: string, text: string) => void;
}

interface Batch {
  name: string;
  /** Who came (or, in `renamed`, only changed their name): for the list's watchers. */
  joined: Map<number, User>;
  renamed: Set<number>;
  left: Set<number>;
}

export class PresenceFeed {
  private readonly batches = new Map<number, Batch>();
  private timer: Timer | undefined;

  constructor(private readonly deps: FeedDeps) {}

  /**
   * `user` came online in the room, changed its name or kind there (`renamed`: a `join` again in a
   * small room, the tutorial's way), or went offline everywhere.
   */
  changed(type: "join" | "renamed" | "left", user: User, room: number, name: string): void {
    let batch = this.batches.get(room);
    if (!batch && this.deps.count(room) <= this.deps.fullRoomSize) {
      const frame = type === "left" ? "left" : "join";
      this.deps.deliver(conversationTopic(room), this.deps.encode({ type: frame, user, data: null, room: name }));
      return;
    }
    if (!batch) this.batches.set(room, (batch = { name, joined: new Map(), renamed: new Set(), left: new Set() }));
    if (type === "renamed") {
      // Not an arrival: the watchers' list shows the new name.
      if (!batch.joined.has(user.id)) batch.renamed.add(user.id);
      batch.joined.set(user.id, user);
    } else if (type === "join") {
      batch.left.delete(user.id);
      batch.renamed.delete(user.id);
      batch.joined.set(user.id, user);
    } else if (batch.joined.has(user.id) && !batch.renamed.has(user.id)) {
      // Came and went within the batch: neither is news, and no watcher listed them.
      batch.joined.delete(user.id);
    } else {
      batch.joined.delete(user.id);
      batch.renamed.delete(user.id);
      batch.left.add(user.id);
    }
    this.timer ??= setTimeout(() => this.flush(), this.deps.intervalMs);
  }

  /** Sends every pending batch now. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batches = [...this.batches];
    this.batches.clear();
    for (const [room, batch] of batches) {
      const count = this.deps.count(room);
      const frame = (data: Extract<Outgoing, { type: "presence" }>["data"]) =>
        this.deps.encode({ type: "presence", user: null, data, room: batch.name });
      const arrived = batch.joined.size - batch.renamed.size;
      const departed = batch.left.size;
      this.deps.deliver(
        conversationTopic(room),
        frame(
          count > this.deps.bigRoomSize
            ? { count }
            : { count, ...(arrived > 0 ? { arrived } : {}), ...(departed > 0 ? { departed } : {}) },
        ),
      );
      if (batch.joined.size === 0 && departed === 0) continue;
      this.deps.deliver(
        membersTopic(room),
        frame({
          count,
          ...(batch.joined.size > 0 ? { joined: [...batch.joined.values()] } : {}),
          ...(departed > 0 ? { left: [...batch.left] } : {}),
          listOnly: true,
        }),
      );
    }
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.batches.clear();
  }
}
