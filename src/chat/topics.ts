/** Pub/sub topic names. Call sites never spell a topic as a literal. */

/** Everyone in a conversation (a room's members online). */
export const conversationTopic = (conversationId: number): string => `c:${conversationId}`;

/** Every socket of one account (direct messages, read positions, its own room changes). */
export const userTopic = (accountId: number): string => `u:${accountId}`;

/** Every socket (rooms created). */
export const EVERYONE_TOPIC = "all";

/** The sockets that asked for a big room's member list: who comes and goes there. */
export const membersTopic = (conversationId: number): string => `m:${conversationId}`;
