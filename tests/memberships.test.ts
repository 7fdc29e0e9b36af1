/**
 * An online account's conversations: found by id, room name and peer the same whether they are few
 * (a list searched) or many (maps), in the order they came; and one object per conversation for
 * every account (the interner), dropped once nobody holds it.
 */
import { expect, test } from "bun:test";
import type { Conversation } from "../src/domain/model";
import { ConversationInterner, Memberships } from "../src/chat/memberships";

const ME = 7;
const room = (id: number, name: string): Conversation => ({ id, kind: "room", name, pair: null, createdAt: id });
const direct = (id: number, a: number, b: number): Conversation => ({
  id,
  kind: "direct",
  name: null,
  pair: [Math.min(a, b), Math.max(a, b)],
  createdAt: id,
});

for (const count of [3, 40])
  test(`lookups by id, room name and peer, adding in place and removing (${count} conversations)`, () => {
    const memberships = new Memberships(ME);
    for (let i = 1; i <= count; i++) memberships.add(i % 2 ? room(i, `r${i}`) : direct(i, ME, 100 + i));
    memberships.add(direct(1000, ME, ME)); // notes to oneself
    expect(memberships.get(1)?.name).toBe("r1");
    expect(memberships.room("r3")?.id).toBe(3);
    expect(memberships.direct(102)?.id).toBe(2);
    expect(memberships.direct(ME)?.id).toBe(1000);
    expect(memberships.direct(ME + 1)).toBeUndefined();
    expect(memberships.room("nowhere")).toBeUndefined();
    expect(memberships.roomCount).toBe(Math.ceil(count / 2));
    expect(memberships.rooms().map((c) => c.id)).toEqual(
      Array.from({ length: count }, (_, i) => i + 1).filter((i) => i % 2),
    );

    // Added again: replaced where it was, not moved to the end.
    const again = room(1, "r1");
    memberships.add(again);
    expect(memberships.get(1)).toBe(again);
    expect(memberships.rooms()[0]).toBe(again);

    expect(memberships.delete(3)).toBe(true);
    expect(memberships.delete(3)).toBe(false);
    expect(memberships.has(3)).toBe(false);
    expect(memberships.room("r3")).toBeUndefined();
    expect(memberships.delete(2)).toBe(true);
    expect(memberships.direct(102)).toBeUndefined();
    expect(memberships.roomCount).toBe(Math.ceil(count / 2) - 1);
  });

test("one object per conversation; a different conversation under the same id is not mistaken for it", () => {
  const interner = new ConversationInterner();
  const lobby = interner.intern(room(1, "lobby"));
  expect(interner.intern(room(1, "lobby"))).toBe(lobby);
  expect(interner.intern(direct(2, 3, 4))).toBe(interner.intern(direct(2, 3, 4)));
  const other = room(1, "other");
  expect(interner.intern(other)).toBe(other);
});

test("a conversation nobody holds is forgotten", async () => {
  const interner = new ConversationInterner();
  (() => {
    for (let i = 0; i < 100; i++) interner.intern(room(i, `r${i}`));
  })();
  expect(interner.size).toBe(100);
  for (let i = 0; i < 50 && interner.size > 0; i++) {
    Bun.gc(true);
    await Bun.sleep(10);
  }
  expect(interner.size).toBe(0);
});
