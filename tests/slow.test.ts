/**
 * Slow consumers and dead peers: a socket that stops reading must not stall
 * the others nor grow the server's memory without bound, and is closed with
 * 4100; a peer that vanishes without a FIN is noticed within the idle timeout.
 */
import { afterEach, expect, test } from "bun:test";
import { CloseCode } from "../src/protocol";
import { Client, signIn, startApp, type Running } from "./helpers";
import { RawSocket } from "./raw";

const CHATTERS = 50;
/** Each chatter sends one message this often while the slow socket is being filled. */
const CHAT_INTERVAL_MS = 400;
const SLOW_CONSUMER_BYTES = 64 * 1024;
/** Large enough to fill the kernel's loopback buffers (several MB) in well under a second. */
const FIREHOSE_MESSAGE_CHARS = 8000;

let running: Running | undefined;
const clients: Client[] = [];
const raws: RawSocket[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  for (const raw of raws.splice(0)) raw.destroy();
  await running?.stop();
  running = undefined;
});

/** Opens a raw socket for `cookie` and reads up to its `list` frame. */
const rawChatSocket = async (port: number, cookie: string, path = "/ws/chat") => {
  const { raw, status } = await RawSocket.upgrade(port, { cookie }, path);
  raws.push(raw);
  expect(status).toBe(101);
  for (;;) {
    const frame = await raw.readFrame();
    if (frame && JSON.parse(frame.payload.toString()).type === "list") return raw;
  }
};

test("one socket that never reads while 50 others chat: their latency stays bounded, the slow one is closed with 4100", async () => {
  running = startApp({
    slowConsumerBytes: SLOW_CONSUMER_BYTES,
    maxMessageLength: FIREHOSE_MESSAGE_CHARS,
    maxFrameBytes: 64 * 1024,
    signInPerMinute: 1000,
    rateBurst: 10_000,
    ratePerSecond: 10_000,
    userRateBurst: 10_000,
    userRatePerSecond: 10_000,
  });
  const { teahouse } = running;
  const port = Number(new URL(running.base).port);

  const slowUser = await signIn(running.base, "slow");

  const chatters = await Promise.all(
    Array.from({ length: CHATTERS }, async (_, i) => {
      const user = await signIn(running!.base, `c${i}`);
      const client = await Client.connect(running!.wsUrl, user.cookie);
      clients.push(client);
      return client;
    }),
  );
  const loud = chatters[0]!;

  // The slow one is in the lobby and in a busy room (a membership: it comes back with a resume), and
  // stops reading. Only it and the loud one are in the busy room, which fills the kernel's buffers fast.
  loud.send({ type: "join", room: "firehose" });
  await loud.next("list", (f) => f.room === "firehose");
  const joining = await Client.connect(running!.wsUrl, slowUser.cookie);
  joining.send({ type: "join", room: "firehose" });
  await joining.next("list", (f) => f.room === "firehose");
  joining.close();
  await joining.waitClose();
  const slow = await rawChatSocket(port, slowUser.cookie, "/ws/chat?since=0&rooms=firehose");
  slow.socket.pause();

  const latencies: number[] = [];
  let received = 0;
  for (const client of chatters)
    client.ws.addEventListener("message", (event) => {
      const frame = JSON.parse(String(event.data)) as { type: string; data: unknown };
      if (frame.type === "chat" && typeof frame.data === "string" && frame.data.startsWith("t:")) {
        latencies.push(Date.now() - Number(frame.data.slice(2)));
        received++;
      }
      client.frames.length = 0;
    });
  const rssBefore = process.memoryUsage().rss;
  let sent = 0;
  const chatting = setInterval(() => {
    for (const client of chatters) {
      client.send(`t:${Date.now()}`);
      sent++;
    }
  }, CHAT_INTERVAL_MS);
  const big = "茶".repeat(FIREHOSE_MESSAGE_CHARS); // 24 KB of UTF-8 per message
  const started = Date.now();
  try {
    while (teahouse.guards.slow.closed < 1 && Date.now() - started < 15_000) {
      loud.send({ type: "chat", room: "firehose", data: big });
      await Bun.sleep(2);
    }
    // Let the chatters go on a little after the slow socket was closed.
    await Bun.sleep(CHAT_INTERVAL_MS * 2);
  } finally {
    clearInterval(chatting);
  }
  const fillMs = Date.now() - started;
  await Bun.sleep(300); // the last round arrives
  expect(teahouse.guards.slow.closed).toBe(1);

  // Every chatter got every lobby message, promptly.
  expect(received).toBe(sent * CHATTERS);
  latencies.sort((a, b) => a - b);
  const p99 = latencies[Math.floor(latencies.length * 0.99)]!;
  const max = latencies.at(-1)!;
  console.log(
    `slow consumer: closed after ${fillMs} ms of firehose; ${sent} lobby messages × ${CHATTERS} receivers, ` +
      `latency p50 ${latencies[Math.floor(latencies.length / 2)]} ms, p99 ${p99} ms, max ${max} ms; ` +
      `RSS ${(rssBefore / 2 ** 20).toFixed(0)} → ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`,
  );
  expect(p99).toBeLessThan(1000);
  expect(loud.closed).toBeUndefined();

  // Once the slow socket reads again it finds what was queued, then a Close frame with 4100.
  slow.socket.resume();
  expect(await slow.readClose(10_000)).toEqual({ code: CloseCode.SlowConsumer, reason: "Too slow; reconnect" });
  expect(teahouse.hub.connectionCount).toBe(CHATTERS);
  expect(teahouse.metrics.render()).toMatch(/^teahouse_slow_consumer_closes_total 1$/m);
}, 40_000);

test("a peer that vanishes without closing is noticed within the idle timeout; a live idle one is kept; slowloris is cut", async () => {
  const IDLE_TIMEOUT_S = 8; // Bun's smallest (1–7 round up to 8)
  running = startApp({ idleTimeoutSeconds: IDLE_TIMEOUT_S });
  const port = Number(new URL(running.base).port);
  const dead = await signIn(running.base, "dead");
  const live = await signIn(running.base, "live");
  // Dead: a raw socket that never answers pings (nor sends anything); the TCP connection stays up.
  const raw = await rawChatSocket(port, dead.cookie);
  // Live: Bun's client answers pings by itself.
  const client = await Client.connect(running.wsUrl, live.cookie);
  clients.push(client);
  // Meanwhile, HTTP connections that say nothing or never finish their headers (slowloris).
  const silent = await RawSocket.connect(port);
  const trickling = await RawSocket.connect(port);
  raws.push(silent, trickling);
  trickling.write("GET / HTTP/1.1\r\nHost: x\r\n");
  const started = Date.now();
  const httpCut = Promise.all([silent.waitEnd(20_000), trickling.waitEnd(20_000)]).then(() => Date.now() - started);
  let pingedAfterMs: number | undefined;
  while (!raw.ended && Date.now() - started < (IDLE_TIMEOUT_S * 2 + 4) * 1000) {
    const frame = await raw.readFrame(500).catch(() => undefined);
    if (frame?.opcode === 9) pingedAfterMs ??= Date.now() - started; // asked, never answered
    if (frame?.opcode === 8) break; // the server gave up on it
  }
  const noticedMs = Date.now() - started;
  console.log(
    `dead peer pinged after ${pingedAfterMs} ms, dropped after ${noticedMs} ms (idle timeout ${IDLE_TIMEOUT_S} s)`,
  );
  expect(pingedAfterMs).toBeDefined();
  expect(noticedMs).toBeLessThan((IDLE_TIMEOUT_S * 2 + 4) * 1000);
  await Bun.sleep(100);
  expect(running.teahouse.hub.connectionCount).toBe(1);
  expect(client.closed).toBeUndefined();
  const httpCutMs = await httpCut;
  console.log(`idle HTTP connections cut after ${httpCutMs} ms`);
  expect(httpCutMs).toBeLessThan(16_000); // 10 s, on a 4 s timer grain
}, 40_000);
