/**
 * Protocol fuzz: seeded, bounded in frames and time, loopback only. Several
 * sockets throw random and malformed frames at the server while two honest
 * clients chat; afterwards the server is up, the honest clients got every
 * message in order, no state is left behind and memory is near its baseline.
 *
 * FUZZ_SEED=<n> replays a run (the seed is printed on failure).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { Client, signIn, startApp, type Running, type SignedIn } from "./helpers";
import { RawSocket, encodeFrame, Opcode } from "./raw";

const SEED = Number(Bun.env.FUZZ_SEED ?? 0x7ea5);
/** Frames all fuzzers send together. */
const FUZZ_FRAMES = 12_000;
/** The fuzz phase stops here even if frames are left. */
const FUZZ_BUDGET_MS = 4000;
const WEBSOCKET_FUZZERS = 4;
/** Honest messages each side sends at least; they keep chatting as long as the fuzzers run. */
const HONEST_MESSAGES = 40;
const MAX_FRAME_BYTES = 16 * 1024;

/** mulberry32: small, fast, good enough to pick frames; the same seed gives the same run. */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

let running: Running;
beforeAll(() => {
  // Rate limits high: this test is about what frames do, not how many (security.test.ts covers rates).
  running = startApp({
    maxFrameBytes: MAX_FRAME_BYTES,
    ratePerSecond: 100_000,
    rateBurst: 100_000,
    userRatePerSecond: 100_000,
    userRateBurst: 100_000,
    signInPerMinute: 1000,
  });
});
afterAll(() => running.stop());

type Random = () => number;
const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
const int = (random: Random, max: number) => Math.floor(random() * max);

const WEIRD_STRINGS = [
  "",
  " ",
  "\u0000",
  "\u202Eevil",
  "\uD800", // a lone surrogate
  "<script>alert(1)</script>",
  "lobby",
  "a".repeat(65),
  "🍵".repeat(40),
  "__proto__",
  "constructor",
  "\n\r\t",
];
const WEIRD_VALUES: unknown[] = [
  null,
  true,
  0,
  -1,
  1e308,
  -1e308,
  2 ** 53 + 1,
  Number.MAX_SAFE_INTEGER,
  0.5,
  [],
  {},
  [1, "a"],
  { nested: { deeper: [null] } },
  ...WEIRD_STRINGS,
];
const TYPES = ["chat", "private", "typing", "join", "leave", "rooms", "history", "ack", "CHAT", "", "hello"];
const FIELDS = ["data", "room", "to", "cid", "before", "limit", "with", "type", "__proto__", "extra"];

/** One random text frame: mostly almost-valid JSON, some garbage. */
const fuzzText = (random: Random, honestIds: number[]): string => {
  switch (int(random, 9)) {
    case 0: {
      // A known type with random fields of random types.
      const frame: Record<string, unknown> = { type: pick(random, TYPES) };
      for (let i = int(random, 4); i > 0; i--) frame[pick(random, FIELDS)] = pick(random, WEIRD_VALUES);
      return JSON.stringify(frame);
    }
    case 1: // A well-formed frame cut short.
      return JSON.stringify({ type: "chat", data: "truncated", room: "lobby", cid: "c1" }).slice(
        0,
        1 + int(random, 50),
      );
    case 2: {
      // Deep nesting, inside the frame size.
      const depth = 100 + int(random, 7000);
      return random() < 0.5
        ? `${"[".repeat(depth)}${"]".repeat(depth)}`
        : `{"type":"chat","data":${'{"a":'.repeat(depth / 5)}1${"}".repeat(depth / 5)}}`;
    }
    case 3: // Numbers JSON can write but an integer field cannot hold.
      return `{"type":"private","to":${pick(random, ["1e400", "-0", "1.5", "99999999999999999999999", "0x10", "NaN"])},"data":"n"}`;
    case 4: // Private messages to the honest users with odd payloads (they may receive them; that is fine).
      return JSON.stringify({ type: "private", to: pick(random, honestIds), data: pick(random, WEIRD_STRINGS) });
    case 5: // Rooms and history with odd names and bounds.
      return JSON.stringify({
        type: pick(random, ["join", "leave", "history", "rooms", "typing"]),
        room: pick(random, WEIRD_STRINGS),
        before: pick(random, WEIRD_VALUES),
        limit: pick(random, WEIRD_VALUES),
      });
    case 6: // Random printable and non-printable code points.
      return Array.from({ length: 1 + int(random, 200) }, () => String.fromCharCode(int(random, 0x3000))).join("");
    case 7: // Near the size limit (an over-long message, not an over-long frame).
      return "x".repeat(MAX_FRAME_BYTES - 1 - int(random, 100));
    default: // A plain chat message, so fuzzers also exercise the happy path.
      return `fuzz ${int(random, 1e6)}`;
  }
};

interface Honest {
  user: SignedIn;
  client: Client;
}

/** Sends numbered messages, paced, while `busy()` (at least HONEST_MESSAGES), then "<tag>-end"; returns how many. */
const chatHonestly = async (honest: Honest, tag: string, busy: () => boolean) => {
  let sent = 0;
  for (; sent < HONEST_MESSAGES || busy(); sent++) {
    honest.client.send({ type: "chat", data: `${tag}-${sent}`, cid: `${tag}${sent}` });
    await Bun.sleep(10);
  }
  honest.client.send(`${tag}-end`);
  return sent;
};

/** Every chat frame from `from`, in arrival order, up to its "-end" message. */
const collectFrom = async (client: Client, from: number) => {
  const texts: string[] = [];
  for (;;) {
    const text = (await client.next("chat", (f) => f.user.id === from, 15_000)).data;
    if (text.endsWith("-end")) return texts;
    texts.push(text);
  }
};

/** One fuzzer over Bun's WebSocket client: random frames, reconnecting whenever the server closes it. */
const websocketFuzzer = async (random: Random, frames: number, deadline: number, honestIds: number[]) => {
  const user = await signIn(running.base);
  let client = await Client.connect(running.wsUrl, user.cookie);
  const closes: number[] = [];
  let sent = 0;
  for (; sent < frames && Date.now() < deadline; sent++) {
    if (client.closed) {
      closes.push(client.closed.code);
      client = await Client.connect(running.wsUrl, user.cookie);
    }
    const roll = random();
    if (roll < 0.08) client.ws.send(Uint8Array.from({ length: int(random, 64) }, () => int(random, 256)));
    else if (roll < 0.09)
      client.send("y".repeat(MAX_FRAME_BYTES + 1 + int(random, 1000))); // closes with 1009
    else client.send(fuzzText(random, honestIds));
    client.frames.length = 0; // nobody reads what the fuzzer gets back
    if (sent % 50 === 0) await Bun.sleep(0); // let the server and the honest clients breathe
  }
  client.close();
  return { sent, closes };
};

/** One fuzzer over raw TCP: what no WebSocket library sends — invalid UTF-8, garbage bytes, bad frames. */
const rawFuzzer = async (random: Random, rounds: number, deadline: number, port: number, cookie: string) => {
  let round = 0;
  for (; round < rounds && Date.now() < deadline; round++) {
    const { raw, status } = await RawSocket.upgrade(port, { cookie });
    expect(status).toBe(101);
    const bytes = Uint8Array.from({ length: 1 + int(random, 40) }, () => int(random, 256));
    switch (int(random, 4)) {
      case 0:
        raw.write(
          encodeFrame(Opcode.Text, Buffer.concat([Buffer.from('{"type":"chat","data":"'), Buffer.from([0xff, 0xfe])])),
        );
        break;
      case 1:
        raw.write(bytes); // not even a frame
        break;
      case 2:
        raw.write(encodeFrame(int(random, 16), bytes, { fin: random() < 0.5, rsv: int(random, 8) }));
        break;
      default:
        raw.write(encodeFrame(Opcode.Text, bytes.toString(), { fin: false })); // never finished
    }
    await Bun.sleep(int(random, 5));
    raw.destroy();
  }
  return round;
};

test(`protocol fuzz (seed ${SEED}): server up, honest clients get every message, no state left, memory near baseline`, async () => {
  const random = prng(SEED);
  const port = Number(new URL(running.base).port);
  const alice: Honest = { user: await signIn(running.base, "alice"), client: undefined! };
  const bob: Honest = { user: await signIn(running.base, "bob"), client: undefined! };
  alice.client = await Client.connect(running.wsUrl, alice.user.cookie);
  bob.client = await Client.connect(running.wsUrl, bob.user.cookie);
  const honestIds = [alice.user.user.id, bob.user.user.id];
  const rawUser = await signIn(running.base);

  // Warm up, then take the baseline.
  for (let i = 0; i < 200; i++) fuzzText(random, honestIds);
  Bun.gc(true);
  const baselineHeap = process.memoryUsage().heapUsed;
  const baselineRss = process.memoryUsage().rss;

  const started = Date.now();
  const deadline = started + FUZZ_BUDGET_MS;
  const perFuzzer = Math.floor(FUZZ_FRAMES / WEBSOCKET_FUZZERS);
  let fuzzersDone = false;
  const fuzzing = Promise.all([
    Promise.all(
      Array.from({ length: WEBSOCKET_FUZZERS }, (_, i) =>
        websocketFuzzer(prng(SEED + i + 1), perFuzzer, deadline, honestIds),
      ),
    ),
    rawFuzzer(prng(SEED - 1), 300, deadline, port, rawUser.cookie),
  ]).finally(() => (fuzzersDone = true));
  const [aliceSent, bobSent, bobGot, aliceGot] = await Promise.all([
    chatHonestly(alice, "a", () => !fuzzersDone),
    chatHonestly(bob, "b", () => !fuzzersDone),
    collectFrom(bob.client, alice.user.user.id),
    collectFrom(alice.client, bob.user.user.id),
  ]);
  const [fuzzers, rawRounds] = await fuzzing;
  const closes = fuzzers.flatMap((fuzzer) => fuzzer.closes);
  const fuzzFrames = fuzzers.reduce((sum, fuzzer) => sum + fuzzer.sent, 0);
  const elapsedMs = Date.now() - started;

  const expected = (tag: string, count: number) => Array.from({ length: count }, (_, i) => `${tag}-${i}`);
  expect(aliceGot).toEqual(expected("b", bobSent));
  expect(bobGot).toEqual(expected("a", aliceSent));
  // Only the oversize frames closed fuzzers (1009); nothing else made the server drop a socket.
  expect(closes.every((code) => code === 1009)).toBe(true);
  expect(alice.client.closed).toBeUndefined();
  expect(bob.client.closed).toBeUndefined();

  // The server still answers HTTP and new sockets.
  expect((await fetch(`${running.base}/wsme`, { headers: { cookie: alice.user.cookie } })).status).toBe(200);
  alice.client.send("after the storm");
  expect((await bob.client.next("chat", (f) => f.data === "after the storm")).user.id).toBe(alice.user.user.id);

  // Fuzzers gone: only the two honest sockets are left, and the per-socket state with them.
  const { teahouse } = running;
  for (let i = 0; i < 80 && teahouse.hub.connectionCount > 2; i++) await Bun.sleep(25);
  expect(teahouse.hub.connectionCount).toBe(2);
  expect(teahouse.guards.gate.usersOnline).toBe(2);
  expect(teahouse.guards.flood.trackedUsers).toBe(2);

  alice.client.frames.length = 0;
  bob.client.frames.length = 0;
  Bun.gc(true);
  const heapGrowth = process.memoryUsage().heapUsed - baselineHeap;
  const rssGrowth = process.memoryUsage().rss - baselineRss;
  console.log(
    `fuzz seed ${SEED}: ${fuzzFrames} frames + ${rawRounds} raw-TCP rounds in ${elapsedMs} ms ` +
      `(${Math.round((fuzzFrames / elapsedMs) * 1000)} frames/s) while alice and bob sent ${aliceSent}+${bobSent}; ` +
      `${closes.length} closes (1009); ` +
      `heap ${(baselineHeap / 2 ** 20).toFixed(1)} → ${((baselineHeap + heapGrowth) / 2 ** 20).toFixed(1)} MiB, ` +
      `RSS ${(baselineRss / 2 ** 20).toFixed(1)} → ${((baselineRss + rssGrowth) / 2 ** 20).toFixed(1)} MiB`,
  );
  expect(heapGrowth).toBeLessThan(16 * 2 ** 20);
  alice.client.close();
  bob.client.close();
}, 30_000);
