/**
 * The upgrade and the framing, with hand-written bytes over TCP: the server
 * answers per RFC 6455, closes protocol violators with the right code, and
 * carries on serving everybody else.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { CloseCode } from "../src/protocol";
import { Client, signIn, startApp, type Running, type SignedIn } from "./helpers";
import { RawSocket, acceptFor, closePayload, encodeFrame, Opcode } from "./raw";

let running: Running;
let port: number;
let alice: SignedIn;
const opened: RawSocket[] = [];

beforeAll(async () => {
  // Every test here opens sockets as alice and some stay open until the end.
  running = startApp({ maxSocketsPerUser: 100 });
  port = Number(new URL(running.base).port);
  alice = await signIn(running.base, "alice");
});
afterAll(async () => {
  for (const raw of opened) raw.destroy();
  await running.stop();
});

const upgrade = async (headers: Record<string, string | null> = {}) => {
  const result = await RawSocket.upgrade(port, { cookie: alice.cookie, ...headers });
  opened.push(result.raw);
  return result;
};

/** An open chat socket over raw TCP, past its `list` frame (and `join`, for alice's first socket). */
const open = async () => {
  const { raw, status } = await upgrade();
  expect(status).toBe(101);
  for (;;) {
    const frame = await raw.readFrame();
    expect(frame?.opcode).toBe(Opcode.Text);
    if (JSON.parse(frame!.payload.toString()).type === "list") return raw;
  }
};

/** The next frame with this opcode (and, for text, this `type`), skipping others (history, presence). */
const nextFrame = async (raw: RawSocket, opcode: number, type?: string) => {
  for (;;) {
    const frame = await raw.readFrame();
    if (!frame) throw new Error(`connection ended before opcode ${opcode}`);
    if (frame.opcode !== opcode) continue;
    if (type === undefined || JSON.parse(frame.payload.toString()).type === type) return frame;
  }
};

/** The server is still fine: a normal client connects and chats. */
const serverStillServes = async () => {
  const bob = await signIn(running.base);
  const client = await Client.connect(running.wsUrl, bob.cookie);
  client.send("still here");
  expect((await client.next("chat")).data).toBe("still here");
  client.close();
};

describe("the upgrade", () => {
  test("a valid one gets 101 with the Sec-WebSocket-Accept of RFC 6455 §4.2.2", async () => {
    const { status, head, key } = await upgrade();
    expect(status).toBe(101);
    expect(head).toMatch(/^upgrade: websocket$/im);
    expect(head).toMatch(/^connection: upgrade$/im);
    expect(head).toContain(`Sec-WebSocket-Accept: ${acceptFor(key)}`);
  });

  test("a missing or malformed Sec-WebSocket-Key gets 400; no socket is opened", async () => {
    const before = running.teahouse.hub.connectionCount;
    for (const key of [null, "short", "not base64 at all!!", ""]) {
      const { status, head } = await upgrade({ "sec-websocket-key": key });
      expect({ key, status }).toEqual({ key, status: 400 });
      expect(head).not.toMatch(/Sec-WebSocket-Accept/i);
    }
    expect(running.teahouse.hub.connectionCount).toBe(before);
  });

  test("a wrong or missing version gets 426 naming version 13 (§4.4)", async () => {
    for (const version of ["8", "12", null]) {
      const { status, head } = await upgrade({ "sec-websocket-version": version });
      expect(status).toBe(426);
      expect(head).toMatch(/^Sec-WebSocket-Version: 13$/im);
    }
  });

  test("no cookie: 401 before any upgrade, whatever the framing headers", async () => {
    const { raw, status } = await RawSocket.upgrade(port, {});
    opened.push(raw);
    expect(status).toBe(401);
  });
});

describe("framing", () => {
  const violations: Array<[string, Buffer[], number]> = [
    ["an unmasked client frame (§5.1)", [encodeFrame(Opcode.Text, "hi", { masked: false })], 1002],
    ["a reserved data opcode (0x3)", [encodeFrame(3, "hi")], 1002],
    ["a reserved control opcode (0xB)", [encodeFrame(11, "hi")], 1002],
    ["RSV1 without a negotiated extension", [encodeFrame(Opcode.Text, "hi", { rsv: 4 })], 1002],
    ["a continuation with no message started", [encodeFrame(Opcode.Continuation, "x")], 1002],
    [
      "a new message inside a fragmented one",
      [encodeFrame(Opcode.Text, "a", { fin: false }), encodeFrame(Opcode.Text, "b")],
      1002,
    ],
    ["a control frame over 125 bytes", [encodeFrame(Opcode.Ping, "a".repeat(126))], 1002],
    ["a fragmented control frame", [encodeFrame(Opcode.Ping, "a", { fin: false })], 1002],
    ["invalid UTF-8 in a text frame", [encodeFrame(Opcode.Text, Buffer.from([0xc3, 0x28]))], 1007],
    ["a close frame with a 1-byte payload", [encodeFrame(Opcode.Close, Buffer.from([3]))], 1002],
    ["a close frame with a code that is not allowed", [encodeFrame(Opcode.Close, closePayload(999))], 1002],
  ];
  for (const [what, bytes, code] of violations)
    test(`${what} closes with ${code} and the TCP connection ends`, async () => {
      const raw = await open();
      for (const chunk of bytes) raw.write(chunk);
      expect((await raw.readClose())?.code).toBe(code);
      await raw.waitEnd();
    });

  test("a fragmented text message is reassembled, with a ping between the fragments answered", async () => {
    const raw = await open();
    raw.write(encodeFrame(Opcode.Text, "frag", { fin: false }));
    raw.write(encodeFrame(Opcode.Ping, "between"));
    raw.write(encodeFrame(Opcode.Continuation, "men", { fin: false }));
    raw.write(encodeFrame(Opcode.Continuation, "ted"));
    const pong = await nextFrame(raw, Opcode.Pong);
    expect(pong.payload.toString()).toBe("between");
    const chat = await nextFrame(raw, Opcode.Text, "chat");
    expect(JSON.parse(chat.payload.toString())).toMatchObject({ type: "chat", data: "fragmented" });
  });

  test("a ping gets a pong with the same payload; an unsolicited pong is ignored", async () => {
    const raw = await open();
    raw.write(encodeFrame(Opcode.Pong, "unasked"));
    raw.write(encodeFrame(Opcode.Ping, Buffer.from([0, 1, 2, 255])));
    const pong = await nextFrame(raw, Opcode.Pong);
    expect([...pong.payload]).toEqual([0, 1, 2, 255]);
  });

  test("a ping flood is limited like any frame flood: closed with 4008, counted in /metrics", async () => {
    const raw = await open();
    for (let i = 0; i < 2000; i++) raw.write(encodeFrame(Opcode.Ping, "p"));
    expect((await raw.readClose(5000))?.code).toBe(CloseCode.PolicyViolation);
    const metrics = await (await fetch(`${running.base}/metrics`)).text();
    expect(Number(/^teahouse_pings_received_total (\d+)/m.exec(metrics)?.[1])).toBeGreaterThan(20);
  });

  test("close codes a client makes up are one metric label, not one each", async () => {
    for (const code of [4321, 4322, 3999]) {
      const raw = await open();
      raw.write(encodeFrame(Opcode.Close, closePayload(code, "mine")));
      await raw.readClose();
    }
    await Bun.sleep(100);
    const metrics = await (await fetch(`${running.base}/metrics`)).text();
    expect(metrics).not.toContain('code="4321"');
    expect(
      Number(/^teahouse_connections_closed_total\{code="other"\} (\d+)/m.exec(metrics)?.[1]),
    ).toBeGreaterThanOrEqual(3);
  });

  test("close handshake: the server answers a close with a close and ends the connection", async () => {
    const raw = await open();
    raw.write(encodeFrame(Opcode.Close, closePayload(1000, "bye")));
    expect(await raw.readClose()).toEqual({ code: 1000, reason: "bye" });
    await raw.waitEnd();
  });

  test("a frame over the maximum size closes with 1009 before its payload is even sent", async () => {
    const raw = await open();
    // Only the header of a 1 GiB frame: the server must not wait for (or allocate) the payload.
    raw.write(Buffer.from([0x81, 0xff, 0, 0, 0, 0, 0x40, 0, 0, 0, 1, 2, 3, 4]));
    expect((await raw.readClose())?.code).toBe(CloseCode.MessageTooBig);
    await raw.waitEnd();
  });

  test("a peer that vanishes mid-frame leaves the server serving", async () => {
    const raw = await open();
    raw.write(encodeFrame(Opcode.Text, "x".repeat(1000)).subarray(0, 300));
    raw.destroy();
    await Bun.sleep(50);
    await serverStillServes();
  });

  test("after all of the above the server still serves, and once every socket is gone no state is left", async () => {
    await serverStillServes();
    for (const raw of opened.splice(0)) raw.destroy();
    const { teahouse } = running;
    for (let i = 0; i < 40 && teahouse.hub.connectionCount > 0; i++) await Bun.sleep(25);
    expect(teahouse.hub.connectionCount).toBe(0);
    expect(teahouse.guards.gate.usersOnline).toBe(0);
    expect(teahouse.guards.gate.addresses).toBe(0);
    expect(teahouse.guards.flood.trackedUsers).toBe(0);
  });
});
