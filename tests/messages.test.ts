/**
 * The messages people expect, over real sockets, on both stores: edit, delete, reactions, replies,
 * mentions, history around a message, typing in a direct conversation — live to two and three
 * clients, in history, and after a resume; and every refusal, after which nothing changed for anyone.
 */
import { describe, expect, test } from "bun:test";
import { ErrorCode, type ServerFrame } from "../src/protocol";
import type { Config } from "../src/config";
import { signIn, trackApps, type Client, type Running } from "./helpers";
import { storeFlavours } from "./postgres";

const flavours = storeFlavours();

/** Frames about messages (what must not come after a refusal). */
const CHANGES = new Set(["chat", "private", "edit", "delete", "react"]);
const changesIn = (frames: ServerFrame[]) => frames.filter((frame) => CHANGES.has(frame.type));

describe.each(flavours)("%s", (_name, configure) => {
  const apps = trackApps();
  // These tests send frames faster than a person does (the rate limit is tested on its own).
  const fast = { ratePerSecond: 1000, rateBurst: 1000, userRatePerSecond: 1000, userRateBurst: 1000 };
  const start = async (overrides: Partial<Config> = {}) =>
    apps.start({ ...(await configure()), ...fast, ...overrides });
  const connect = apps.connect;

  /** alice, bob and carol signed in, each with a socket that has its lobby state. */
  const three = async (running: Running) => {
    const people = await Promise.all(["alice", "bob", "carol"].map((name) => signIn(running.base, name)));
    const sockets: Client[] = [];
    for (const person of people) {
      const socket = await connect(running, person.cookie);
      await socket.next("history", (f) => f.room === "lobby");
      sockets.push(socket);
    }
    const [alice, bob, carol] = people as [(typeof people)[0], (typeof people)[0], (typeof people)[0]];
    const [a, b, c] = sockets as [Client, Client, Client];
    return { alice, bob, carol, a, b, c };
  };
  const say = async (from: Client, data: string, extra: Record<string, unknown> = {}) => {
    from.send({ type: "chat", data, cid: crypto.randomUUID(), ...extra });
    return from.next("chat", (f) => f.data === data);
  };
  const lobbyHistory = async (client: Client) => {
    client.send({ type: "history" });
    return client.next("history", (f) => f.room === "lobby" && f.recovered === undefined);
  };
  const error = (client: Client, code: string) => client.next("error", (f) => f.data.code === code);

  test("edit: the author's change reaches everyone live and stays in history; others, unknown ids, empty and too long text are refused", async () => {
    const running = await start({ maxMessageLength: 50 });
    const { a, b, c } = await three(running);
    const sent = await say(a, "helo");
    await b.next("chat", (f) => f.id === sent.id);
    await c.next("chat", (f) => f.id === sent.id);

    a.send({ type: "edit", id: sent.id, data: "  hello  " });
    for (const client of [a, b, c]) {
      const edit = await client.next("edit");
      expect(edit.data).toMatchObject({ id: sent.id, text: "hello" });
      expect(edit.data.editedAt).toBeGreaterThanOrEqual(sent.ts);
      expect(edit.room).toBe("lobby");
      expect(edit.id).toBeGreaterThan(sent.id);
    }
    const history = await lobbyHistory(c);
    expect(history.data.find((m) => m.id === sent.id)).toMatchObject({ data: "hello", editedAt: expect.any(Number) });

    b.send({ type: "edit", id: sent.id, data: "mine now" });
    await error(b, ErrorCode.NotYours);
    a.send({ type: "edit", id: sent.id + 1_000_000, data: "x" });
    await error(a, ErrorCode.MessageNotFound);
    a.send({ type: "edit", id: sent.id, data: "   " });
    await error(a, ErrorCode.EmptyMessage);
    a.send({ type: "edit", id: sent.id, data: "茶".repeat(51) });
    await error(a, ErrorCode.TooLong);
    for (const client of [a, b, c]) expect(changesIn(await client.drain(200))).toEqual([]);
    expect((await lobbyHistory(b)).data.find((m) => m.id === sent.id)!.data).toBe("hello");
  });

  test("delete: a tombstone for everyone, in history too; only the author; a deleted message cannot be edited, reacted to or answered", async () => {
    const running = await start();
    const { a, b, c } = await three(running);
    const sent = await say(a, "oops, wrong room");
    b.send({ type: "delete", id: sent.id });
    await error(b, ErrorCode.NotYours);
    a.send({ type: "delete", id: sent.id });
    for (const client of [a, b, c]) {
      const deleted = await client.next("delete");
      // Every change frame carries the whole state after it: here, no text and no reactions.
      expect(deleted.data).toEqual({ id: sent.id, text: "", deletedAt: expect.any(Number), reactions: [] });
    }
    const tombstone = (await lobbyHistory(b)).data.find((m) => m.id === sent.id)!;
    expect(tombstone.data).toBe("");
    expect(tombstone.deletedAt).toEqual(expect.any(Number));
    expect(JSON.stringify(tombstone)).not.toContain("wrong room");

    a.send({ type: "edit", id: sent.id, data: "again" });
    await error(a, ErrorCode.MessageNotFound);
    a.send({ type: "delete", id: sent.id });
    await error(a, ErrorCode.MessageNotFound);
    b.send({ type: "react", id: sent.id, emoji: "👍" });
    await error(b, ErrorCode.MessageNotFound);
    b.send({ type: "chat", data: "what was it?", replyTo: sent.id, cid: "r1" });
    expect((await error(b, ErrorCode.MessageNotFound)).data.cid).toBe("r1");
    for (const client of [a, b, c]) expect(changesIn(await client.drain(200))).toEqual([]);
  });

  test("reactions toggle per person, count with who, and only one emoji each (ZWJ, flags, keycaps, skin tones)", async () => {
    const running = await start();
    const { alice, bob, a, b, c } = await three(running);
    const sent = await say(a, "lunch?");
    b.send({ type: "react", id: sent.id, emoji: "👍" });
    for (const client of [a, b, c]) {
      const frame = await client.next("react");
      expect(frame.data).toEqual({
        id: sent.id,
        text: "lunch?",
        reactions: [{ emoji: "👍", count: 1, users: [{ id: bob.user.id, name: "bob" }] }],
      });
    }
    a.send({ type: "react", id: sent.id, emoji: "👍" });
    expect((await c.next("react")).data.reactions).toEqual([
      {
        emoji: "👍",
        count: 2,
        users: [
          { id: bob.user.id, name: "bob" },
          { id: alice.user.id, name: "alice" },
        ],
      },
    ]);
    for (const emoji of ["👨‍👩‍👧", "🇨🇳", "1️⃣", "👍🏽", "❤"]) {
      b.send({ type: "react", id: sent.id, emoji });
      await c.next("react");
    }
    b.send({ type: "react", id: sent.id, emoji: "👍" }); // bob takes his 👍 back
    const now = (await c.next("react")).data.reactions;
    expect(now.map((r) => r.emoji)).toEqual(["👍", "👨‍👩‍👧", "🇨🇳", "1️⃣", "👍🏽", "❤️"]);
    expect(now[0]).toEqual({ emoji: "👍", count: 1, users: [{ id: alice.user.id, name: "alice" }] });
    // Everyone saw every change; from here on, refusals change nothing.
    for (const client of [a, b]) expect((await client.drain(200)).filter((f) => f.type === "react").length).toBe(7);

    for (const bad of ["a", "👍👍", "ok 👍", " ", "👍 "]) {
      b.send({ type: "react", id: sent.id, emoji: bad });
      await error(b, ErrorCode.InvalidEmoji);
    }
    b.send({ type: "react", id: sent.id + 1_000_000, emoji: "👍" });
    await error(b, ErrorCode.MessageNotFound);
    for (const client of [a, b, c]) expect(changesIn(await client.drain(200))).toEqual([]);
    const stored = (await lobbyHistory(a)).data.find((m) => m.id === sent.id)!;
    expect(stored.reactions).toEqual(now);
  });

  test("at most 20 different emoji on a message: the 21st is refused, another of the 20 is not", async () => {
    const running = await start();
    const { a, b } = await three(running);
    const sent = await say(a, "vote");
    const emoji = [..."😀😁😂🤣😃😄😅😆😉😊😋😎😍😘🥰😗😙😚🙂🤗"];
    expect(emoji.length).toBe(20);
    for (const one of emoji) {
      a.send({ type: "react", id: sent.id, emoji: one });
      await a.next("react");
    }
    b.send({ type: "react", id: sent.id, emoji: "🤔" });
    await error(b, ErrorCode.TooManyReactions);
    b.send({ type: "react", id: sent.id, emoji: "😀" });
    expect((await b.next("react")).data.reactions[0]).toMatchObject({ emoji: "😀", count: 2 });
  });

  test("replies carry the original's start; another conversation's message or an unknown one is refused", async () => {
    const running = await start();
    const { alice, bob, a, b, c } = await three(running);
    const long = `${"长".repeat(120)}`;
    const original = await say(a, long);
    b.send({ type: "chat", data: "同意", replyTo: original.id, cid: "r" });
    for (const client of [a, b, c]) {
      const reply = await client.next("chat", (f) => f.data === "同意");
      expect(reply.replyTo).toEqual({
        id: original.id,
        user: { type: "guest", id: alice.user.id, name: "alice", image: alice.user.image },
        text: "长".repeat(100),
      });
    }
    // In a direct conversation: a reply to one of its messages, not to the lobby's.
    a.send({ type: "private", to: bob.user.id, data: "psst", cid: "p" });
    const psst = await b.next("private", (f) => f.data === "psst");
    b.send({ type: "private", to: alice.user.id, data: "yes?", replyTo: psst.id, cid: "p2" });
    expect((await a.next("private", (f) => f.data === "yes?")).replyTo).toMatchObject({ id: psst.id, text: "psst" });
    b.send({ type: "private", to: alice.user.id, data: "cross", replyTo: original.id, cid: "p3" });
    expect((await error(b, ErrorCode.InvalidReply)).data.cid).toBe("p3");
    b.send({ type: "chat", data: "cross", replyTo: psst.id, cid: "p4" });
    await error(b, ErrorCode.InvalidReply);
    // carol cannot even learn that alice and bob's message exists.
    c.send({ type: "chat", data: "peek", replyTo: psst.id, cid: "p5" });
    await error(c, ErrorCode.MessageNotFound);
    for (const client of [a, b, c]) expect(changesIn(await client.drain(200))).toEqual([]);
    // History shows the quote as the original is now: deleted, it says so and quotes nothing.
    a.send({ type: "delete", id: original.id });
    await c.next("delete");
    const reply = (await lobbyHistory(c)).data.find((m) => m.data === "同意")!;
    expect(reply.replyTo).toMatchObject({ id: original.id, text: "", deleted: true });
  });

  test("mentions: members named with @ are resolved, counted unread for them, and cleared by reading", async () => {
    const running = await start();
    const { bob, carol, a, b } = await three(running);
    b.send({ type: "join", room: "dev" });
    await b.next("history", (f) => f.room === "dev");
    a.send({ type: "join", room: "dev" });
    await a.next("history", (f) => f.room === "dev");
    // carol is not in dev: not a mention there. Nobody is called "dave".
    a.send({ type: "chat", room: "dev", data: "@bob 看看 @carol @dave", cid: "m1" });
    const frame = await b.next("chat", (f) => f.room === "dev");
    expect(frame.mentions).toEqual([bob.user.id]);
    const lobby = await say(a, "@carol，你好 and @Bob.");
    expect(lobby.mentions).toEqual([carol.user.id, bob.user.id]);
    // Not inside a longer word, and never oneself.
    expect((await say(a, "@bobby and @carolyn, hi")).mentions).toBeUndefined();
    expect((await say(a, "note to @alice: me")).mentions).toBeUndefined();
    b.close();
    const back = await connect(running, bob.cookie);
    const conversations = await back.next("conversations");
    expect(conversations.data.find((e) => e.room === "dev")).toMatchObject({ unread: 1, mentions: 1 });
    expect(conversations.data.find((e) => e.room === "lobby")).toMatchObject({ mentions: 1 });
    back.send({ type: "read", room: "dev", id: frame.id });
    expect((await back.next("read")).data).toEqual({ id: frame.id, unread: 0, mentions: 0 });
    // An edit that drops the mention drops it from the count too.
    a.send({ type: "edit", id: lobby.id, data: "你好 everyone" });
    expect((await back.next("edit")).data.mentions).toBeUndefined();
    back.close();
    const again = await connect(running, bob.cookie);
    expect((await again.next("conversations")).data.find((e) => e.room === "lobby")).toMatchObject({ mentions: 0 });
  });

  test("a client back from a disconnect sees edits, deletions and reactions of messages it already had", async () => {
    const running = await start();
    const { bob, a, b } = await three(running);
    const first = await say(a, "first");
    const second = await say(a, "second");
    const third = await say(a, "third");
    await b.next("chat", (f) => f.id === third.id);
    // bob had everything up to the third message.
    const position = third.id;
    b.close();
    a.send({ type: "edit", id: first.id, data: "first, edited" });
    await a.next("edit");
    a.send({ type: "delete", id: second.id });
    await a.next("delete");
    a.send({ type: "react", id: third.id, emoji: "🎉" });
    await a.next("react");
    const fourth = await say(a, "fourth");

    const back = await connect(running, bob.cookie, `?since=${position}`);
    const missed = await back.next("history", (f) => f.room === "lobby");
    expect(missed.recovered).toBe(true);
    const byId = new Map(missed.data.map((m) => [m.id, m]));
    expect(byId.get(first.id)).toMatchObject({ data: "first, edited", editedAt: expect.any(Number) });
    expect(byId.get(second.id)).toMatchObject({ data: "", deletedAt: expect.any(Number) });
    expect(byId.get(third.id)!.reactions).toEqual([{ emoji: "🎉", count: 1, users: [expect.any(Object)] }]);
    expect(byId.get(fourth.id)!.data).toBe("fourth");
    expect(missed.data.map((m) => m.id)).toEqual([first.id, second.id, third.id, fourth.id]);
    // Resuming from the newest position the client was given (a change's): nothing more to send.
    const at = missed.position.offset;
    back.close();
    const later = await connect(running, bob.cookie, `?since=${at}`);
    const none = await later.next("history", (f) => f.room === "lobby");
    expect({ recovered: none.recovered, data: none.data }).toEqual({ recovered: true, data: [] });
  });

  test("history around a message opens its conversation there; a conversation one is not in answers nothing", async () => {
    const running = await start({ historyPageSize: 10 });
    const { bob, a, b, c } = await three(running);
    a.send({ type: "join", room: "dev" });
    await a.next("history", (f) => f.room === "dev");
    b.send({ type: "join", room: "dev" });
    await b.next("history", (f) => f.room === "dev");
    const ids: number[] = [];
    for (let i = 0; i < 30; i++) {
      a.send({ type: "chat", room: "dev", data: `m${i}`, cid: `d${i}` });
      ids.push((await a.next("chat", (f) => f.data === `m${i}`)).id);
    }
    b.send({ type: "history", around: ids[12]! });
    const page = await b.next("history", (f) => f.around === ids[12]);
    expect(page.room).toBe("dev");
    expect(page.data.map((m) => m.data)).toEqual([
      "m7",
      "m8",
      "m9",
      "m10",
      "m11",
      "m12",
      "m13",
      "m14",
      "m15",
      "m16",
      "m17",
    ]);
    expect({ more: page.more, newer: page.newer }).toEqual({ more: true, newer: true });
    c.send({ type: "history", around: ids[12]! });
    await error(c, ErrorCode.MessageNotFound);
    // A direct conversation's: `with` the other account.
    a.send({ type: "private", to: bob.user.id, data: "dm", cid: "dm" });
    const dm = await b.next("private", (f) => f.data === "dm");
    a.send({ type: "history", around: dm.id });
    const direct = await a.next("history", (f) => f.around === dm.id);
    expect({ with: direct.with, texts: direct.data.map((m) => m.data), newer: direct.newer }).toEqual({
      with: bob.user.id,
      texts: ["dm"],
      newer: false,
    });
  });

  test("notification levels: rooms default to mentions, direct conversations to all; a change reaches every tab and stays", async () => {
    const running = await start();
    const { alice, bob, a } = await three(running);
    a.send({ type: "private", to: bob.user.id, data: "hi", cid: "n1" });
    await a.next("ack");
    const tab = await connect(running, alice.cookie);
    const levels = (await tab.next("conversations")).data.map((entry) => [entry.room ?? entry.with, entry.notify]);
    expect(levels).toEqual([
      ["lobby", "mentions"],
      [bob.user.id, "all"],
    ]);
    a.send({ type: "notify", room: "lobby", level: "none" });
    for (const client of [a, tab]) expect((await client.next("notify")).data).toEqual({ level: "none" });
    a.send({ type: "notify", with: bob.user.id, level: "mentions" });
    expect((await tab.next("notify")).with).toBe(bob.user.id);
    const again = await connect(running, alice.cookie);
    expect((await again.next("conversations")).data.map((entry) => entry.notify)).toEqual(["none", "mentions"]);
    a.send({ type: "notify", room: "nowhere", level: "all" });
    await error(a, ErrorCode.NotAMember);
    a.send({ type: "notify", room: "lobby", level: "loud" });
    await error(a, ErrorCode.BadFrame);
  });

  test("typing in a direct conversation reaches the other person only", async () => {
    const running = await start();
    const { alice, bob, a, b, c } = await three(running);
    a.send({ type: "private", to: bob.user.id, data: "hi", cid: "t" });
    await b.next("private");
    a.send({ type: "typing", to: bob.user.id });
    const typing = await b.next("typing");
    expect({ user: typing.user.id, to: typing.to, room: typing.room }).toEqual({
      user: alice.user.id,
      to: bob.user.id,
      room: undefined,
    });
    expect((await c.drain(200)).filter((f) => f.type === "typing")).toEqual([]);
    expect((await a.drain(50)).filter((f) => f.type === "typing")).toEqual([]);
  });
});
