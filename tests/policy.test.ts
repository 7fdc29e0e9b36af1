/**
 * The permission rules as a table: every server role (and room role) × every action × acting on
 * one's own message or account or on someone else's (of each role). The expected table is written
 * out here by hand, row by row, so a change to the rules shows as a change to this table.
 */
import { describe, expect, test } from "bun:test";
import { ACTIONS, allowed, type Action, type RoomRole, type ServerRole } from "../src/domain/policy";

type Who = `${ServerRole}${"" | "+owner" | "+mod"}`;
const parse = (who: Who): { role: ServerRole; roomRole?: RoomRole } => {
  const [role, room] = who.split("+") as [ServerRole, string | undefined];
  return {
    role,
    ...(room === "owner" ? { roomRole: "owner" as const } : room === "mod" ? { roomRole: "moderator" as const } : {}),
  };
};

/** Actors, in the table's column order. */
const ACTORS: Who[] = ["guest", "member", "member+mod", "member+owner", "admin", "owner"];

/**
 * For each action: a row per target (own: the actor itself; else someone of that role), and in
 * each row one letter per actor above: Y allowed, . refused.
 */
const TABLE: Record<Action, Array<[target: "own" | Who, expected: string]>> = {
  edit_message: [
    ["own", "YYYYYY"],
    ["guest", "......"],
    ["member", "......"],
    ["admin", "......"],
  ],
  delete_message: [
    ["own", "YYYYYY"],
    ["guest", "..YYYY"],
    ["member", "..YYYY"],
    ["member+mod", "...YYY"],
    ["member+owner", "....YY"],
    ["admin", ".....Y"],
    ["owner", "......"],
  ],
  mute: [
    ["own", "......"],
    ["guest", "..YYYY"],
    ["member", "..YYYY"],
    ["member+mod", "...YYY"],
    ["member+owner", "....YY"],
    ["admin", ".....Y"],
    ["owner", "......"],
  ],
  remove_member: [
    ["member", "..YYYY"],
    ["member+mod", "...YYY"],
    ["admin", ".....Y"],
    ["owner", "......"],
  ],
  slow_mode: [["own", "..YYYY"]],
  set_topic: [["own", "..YYYY"]],
  invite_to_room: [["own", "..YYYY"]],
  set_visibility: [["own", "...YYY"]],
  name_moderator: [["member", "...YYY"]],
  invite_to_server: [["own", "....YY"]],
  change_settings: [["own", "....YY"]],
  read_audit: [["own", "....YY"]],
  ban: [
    ["own", "......"],
    ["guest", "....YY"],
    ["member", "....YY"],
    ["member+owner", "....YY"],
    ["admin", ".....Y"],
    ["owner", "......"],
  ],
  reset_password: [
    ["own", "......"],
    ["member", "....YY"],
    ["admin", ".....Y"],
    ["owner", "......"],
  ],
  set_role: [],
  report: [
    ["own", "......"],
    ["member", "YYYYYY"],
    ["admin", "YYYYYY"],
  ],
};

describe("the permission table", () => {
  test("every action has rows", () => {
    for (const action of ACTIONS)
      if (action !== "set_role") expect({ action, rows: TABLE[action].length > 0 }).toEqual({ action, rows: true });
  });

  for (const action of ACTIONS)
    for (const [target, expected] of TABLE[action])
      test(`${action} on ${target === "own" ? "one's own" : `a ${target}'s`}: ${expected}`, () => {
        const got = ACTORS.map((who, column) => {
          const actor = { id: column + 1, ...parse(who) };
          const on = target === "own" ? { id: actor.id, ...parse(who) } : { id: 100, ...parse(target) };
          return allowed(actor, action, on) ? "Y" : ".";
        }).join("");
        expect(got).toBe(expected);
      });

  test("set_role: admins make members admins; only the owner makes an admin a member; nobody makes an owner or changes a guest or the owner", () => {
    const cases: Array<[actor: ServerRole, target: ServerRole, to: ServerRole, ok: boolean]> = [
      ["member", "member", "admin", false],
      ["admin", "member", "admin", true],
      ["admin", "admin", "member", false],
      ["owner", "admin", "member", true],
      ["owner", "member", "admin", true],
      ["owner", "member", "owner", false],
      ["admin", "guest", "admin", false],
      ["owner", "guest", "member", false],
      ["admin", "owner", "member", false],
      ["owner", "owner", "member", false],
    ];
    for (const [actor, target, to, ok] of cases)
      expect({
        actor,
        target,
        to,
        ok: allowed({ id: 1, role: actor }, "set_role", { id: 2, role: target, newRole: to }),
      }).toEqual({
        actor,
        target,
        to,
        ok,
      });
  });
});
