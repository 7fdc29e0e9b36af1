/**
 * The bus between instances (Redis pub/sub with REDIS_URL): what one
 * instance tells the others. It carries nothing durable: messages are in the
 * store before they are announced here, and an instance that missed an
 * announcement reads the store. Presence is each instance's own, replicated
 * as events and rebuilt by a `hello`/`state` exchange whenever the bus comes
 * back. Events from one instance arrive in the order it published them.
 */
import type { Conversation } from "../domain/model";
import type { User } from "../protocol";

/** One committed message ready to deliver: its topics and its frame, encoded once. */
export interface LogItem {
  id: number;
  topics: string[];
  text: string;
  /** A direct conversation (online members learn it with its first message). */
  direct?: Conversation;
}

export type BusEvent =
  /** Messages the sender committed (ids ascending, gapless). */
  | { t: "messages"; items: LogItem[] }
  /** A frame for a topic's sockets on every instance (typing, read, room created). */
  | { t: "frame"; topic: string; text: string }
  /** An account came online in a room on the sender (its first socket there). */
  | { t: "arrive"; room: number; name: string; user: User }
  /** An account went offline in a room on the sender (its last socket there). */
  | { t: "depart"; room: number; name: string; user: User }
  /** An account's name or kind changed. */
  | { t: "rename"; user: User }
  /** An account became a member of a room: its sockets everywhere enter it. */
  | { t: "entered"; account: number; room: Conversation }
  /** An account left a room: its sockets everywhere leave it. */
  | { t: "left"; account: number; room: number }
  /** Close these sessions' sockets (sign-out). */
  | { t: "close"; sids: string[]; code: number; reason: string }
  /** The sender (re)joined the bus: every instance forgets what it knew of it and answers with its `state`. */
  | { t: "hello" }
  /** The sender heard from instance `to` without knowing its presence (it was taken for gone): `to` sends its `state`. */
  | { t: "ask"; to: string }
  /**
   * The sender's whole presence: [room id, room name, users online there]; its socket count per
   * account; the accounts with a page in front of them there (absent from older instances: none).
   */
  | { t: "state"; rooms: Array<[number, string, User[]]>; sockets: Array<[number, number]>; visible?: number[] }
  /** An account's server role changed (its sockets act with it from now on). */
  | { t: "role"; account: number; role: "owner" | "admin" | "member" | "guest" }
  /** A room's settings changed (topic, privacy, slow mode). */
  | {
      t: "rules";
      room: number;
      state: { topic: string; private: boolean; slowSeconds: number; ownerId: number | null };
    }
  /** An account is muted in a room until `until` (0: unmuted). */
  | { t: "muted"; room: number; account: number; until: number }
  /** An account is (or no longer is) a moderator of a room. */
  | { t: "moderator"; room: number; account: number; on: boolean }
  /** Whether an account has a page in front of its reader on the sender changed (pushes go to those with none). */
  | { t: "seen"; account: number; visible: boolean }
  /** The sender's socket count for an account changed. */
  | { t: "sockets"; account: number; count: number }
  /** The sender is alive (every HEARTBEAT_MS). */
  | { t: "beat" }
  /** The sender is stopping: forget its presence now. */
  | { t: "bye" };

export interface Bus {
  /** This instance's name on the bus. */
  readonly instance: string;
  /** Whether events can be published and are being heard. */
  readonly up: boolean;
  /** Publishes to every other instance (dropped while the bus is down: reconnecting resynchronizes). */
  publish(event: BusEvent): void;
  /** Hears every event of the other instances. */
  listen(handler: (from: string, event: BusEvent) => void): void;
  /** Hears the bus going down and coming back (after `start`). */
  onStatus(handler: (up: boolean) => void): void;
  /** Connects; resolves once subscribed (keeps retrying until then). */
  start(): Promise<void>;
  /** Whether the bus answers now. */
  probe(): Promise<boolean>;
  close(): Promise<void>;
}
