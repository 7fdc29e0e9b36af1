/** Pub/sub topic names. Call sites never spell a topic as a literal. */

/** Everyone in a room. */
export const roomTopic = (room: string): string => `room:${room}`;

/** Every socket of one user (private messages, sign-out). */
export const userTopic = (userId: number): string => `user:${userId}`;
