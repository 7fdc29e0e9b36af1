/**
 * Who comes and goes, told to a room at a cost that grows with the changes,
 * not with the square of the members.
 *
 * - A room with at most `fullRoomSize` online gets a `join` or `left` per
 *   person at once: the tutorial's contract.
 * - A bigger room gets one `presence` frame per room at most every
 *   `intervalMs`, with everyone who came and went meanwhile and the count.
 * - Above `bigRoomSize`, who came and went goes only to the sockets that
 *   asked for the member list (`members`, topic `m:<room>`); the room gets
 *   the count alone.
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
  joined: Map<number, User>;
  left: Set<number>;
}

export class PresenceFeed {
  private readonly batches = new Map<number, Batch>();
  private timer: Timer | undefined;

  constructor(private readonly deps: FeedDeps) {}

  /** `user` came online in the room (or changed its name: the same frame), or went offline everywhere. */
  changed(type: "join" | "left", user: User, room: number, name: string): void {
    let batch = this.batches.get(room);
    if (!batch && this.deps.count(room) <= this.deps.fullRoomSize) {
      this.deps.deliver(conversationTopic(room), this.deps.encode({ type, user, data: null, room: name }));
      return;
    }
    if (!batch) this.batches.set(room, (batch = { name, joined: new Map(), left: new Set() }));
    if (type === "join") {
      batch.left.delete(user.id);
      batch.joined.set(user.id, user);
    } else {
      batch.joined.delete(user.id);
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
      const changes = {
        count,
        ...(batch.joined.size > 0 ? { joined: [...batch.joined.values()] } : {}),
        ...(batch.left.size > 0 ? { left: [...batch.left] } : {}),
      };
      const frame = (data: typeof changes & { listOnly?: boolean }) =>
        this.deps.encode({ type: "presence", user: null, data, room: batch.name });
      if (count <= this.deps.bigRoomSize) {
        this.deps.deliver(conversationTopic(room), frame(changes));
        continue;
      }
      this.deps.deliver(conversationTopic(room), frame({ count }));
      this.deps.deliver(membersTopic(room), frame({ ...changes, listOnly: true }));
    }
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.batches.clear();
  }
}
