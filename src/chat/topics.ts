/** Pub/sub topic names. Call sites never spell a topic as a literal. */

/** Everyone in a conversation (a room's members online). */
export const conversationTopic = (conversationId: number): string => `c:${conversationId}`;

/** Every socket of one account (direct messages, read positions, its own room changes). */
export const userTopic = (accountId: number): string => `u:${accountId}`;

/**
 * The account a user topic is of (undefined: another topic). Sockets do not subscribe to their
 * account's topic (in uWebSockets a topic of its own costs each socket ~600 bytes): what is
 * published to it goes to the account's sockets in the registry.
 */
export const accountOfTopic = (topic: string): number | undefined =>
  /^u:\d+$/.test(topic) ? Number(topic.slice(2)) : undefined;

/**
 * Every socket (rooms created). Not subscribed to either (a subscription costs each socket ~130 bytes
 * in uWebSockets, for a frame sent once per room created): it goes to every socket in the registry.
 */
export const EVERYONE_TOPIC = "all";

/** The sockets that asked for a big room's member list: who comes and goes there. */
export const membersTopic = (conversationId: number): string => `m:${conversationId}`;
