/**
 * What the commands about messages share: finding a message the account may see, resolving the
 * `@name`s of a text into mentions, and storing a change (edit, delete, reaction) in the log's order
 * before it is delivered to everyone who can see the conversation.
 */
import { ErrorCode } from "../../protocol";
import { MAX_MENTIONS_PER_MESSAGE, type ChangeKind, type Conversation, type MessageView } from "../../domain/model";
import { nameKey } from "../../domain/names";
import { mentionCandidates } from "../../domain/text";
import type { MessageChange } from "../../ports/store";
import type { ChatHub } from "../hub";
import type { OnlineAccount, Socket } from "../registry";

/** A message with its conversation, if it exists and is in one of the account's conversations. */
export const visibleMessage = async (
  hub: ChatHub,
  account: OnlineAccount,
  id: number,
): Promise<{ message: MessageView; conversation: Conversation } | undefined> => {
  if (!hub.deps.history) return undefined;
  const message = await hub.deps.store.message(id);
  const conversation = message && account.conversations.get(message.conversationId);
  return message && conversation ? { message, conversation } : undefined;
};

/** Refuses a frame about a message that is not there for this account (never saying which). */
export const notFound = (hub: ChatHub, ws: Socket, cid?: string): void =>
  hub.refuse(ws, ErrorCode.MessageNotFound, "No such message", cid);

/**
 * The accounts a text mentions: each `@name` whose longest candidate is the name of a member of the
 * conversation (a direct conversation's two accounts), at most MAX_MENTIONS_PER_MESSAGE, in order.
 */
export const resolveMentions = async (
  hub: ChatHub,
  conversation: Conversation,
  text: string,
  /** Never a mention of its own author (whose badge would count it). */
  authorId: number,
): Promise<number[]> => {
  if (!text.includes("@")) return [];
  const candidates = mentionCandidates(text, MAX_MENTIONS_PER_MESSAGE).map((names) => names.map(nameKey));
  const keys = [...new Set(candidates.flat())];
  if (keys.length === 0) return [];
  const { store } = hub.deps;
  const byKey = await store.accountsByKeys(keys);
  const named = candidates.flatMap((names) => {
    for (const key of names) {
      const id = byKey.get(key);
      if (id !== undefined) return [id];
    }
    return [];
  });
  if (named.length === 0) return [];
  const members =
    conversation.kind === "direct" ? new Set(conversation.pair!) : await store.membersAmong(conversation.id, named);
  return [...new Set(named.filter((id) => members.has(id) && id !== authorId))];
};

/** Error frames for a change the store did not apply. */
const REFUSALS: Record<NonNullable<MessageChange["refused"]>, [ErrorCode, string]> = {
  not_found: [ErrorCode.MessageNotFound, "No such message"],
  not_yours: [ErrorCode.NotYours, "That message is not yours"],
  too_many_reactions: [ErrorCode.TooManyReactions, "That message has as many different reactions as it may"],
};

/**
 * Stores a change to a message of `conversation` in the log, then delivers its frame to the
 * conversation's topics here and announces it to the other instances; a change the store refused
 * (the message went meanwhile) is refused to the socket.
 */
export const changeMessage = (
  hub: ChatHub,
  ws: Socket,
  conversation: Conversation,
  change: Omit<MessageChange, "seq" | "at">,
): void => {
  const { writer, log } = hub.deps;
  const stored: MessageChange = { ...change, seq: hub.deps.messageId(), at: hub.now() };
  writer.change(
    stored,
    () => {
      if (!stored.applied || !stored.message) {
        const [code, message] = REFUSALS[stored.refused ?? "not_found"];
        return hub.refuse(ws, code, message);
      }
      const item = {
        id: stored.seq,
        text: hub.codec.change(stored.seq, stored.kind as ChangeKind, stored.message, conversation),
        ...hub.whereTo(conversation),
      };
      hub.tail.own(item, () => {});
      hub.announced(item);
    },
    (error) => {
      log.error("store.write_failed", { userId: change.actorId, error: String(error) });
      hub.refuse(ws, ErrorCode.NotStored, "The change could not be stored; try again");
    },
  );
};
