/**
 * Redis's CPU per chat message, taken apart: the send script as teahouse runs
 * it (EVAL, src/broker/redis.ts) against EVALSHA, the same work as plain
 * commands, and its parts alone. `bench/cluster.ts` measures the whole; this
 * says where Redis's share of it goes.
 *
 *   bun bench/redis-ops.ts              ≈ 30 s; a markdown table and one JSON line
 *   bun bench/redis-ops.ts --smoke      a second
 *
 * redis-server is pinned to CPU 0, this process (sender and subscribers) to
 * CPU 1; commands are pipelined `PIPELINE` at a time, as a loaded instance's
 * are. CPU is redis-server's utime + stime from /proc per message (10 ms ticks:
 * each variant runs long enough for ≈ 1 % resolution).
 */
import { RedisClient } from "bun";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { processCpuUs } from "./client";
import { CPU_COUNT, HAS_TASKSET, ROOT, fmt, median, spread } from "./harness";
import { startRedis } from "./redis-server";

/** Commands in flight at once. */
const PIPELINE = 256;
/** The stream cap teahouse passes by default (`--history-max-per-room`). */
const MAX_PER_STREAM = 100_000;
const CID_TTL_S = 24 * 3600;

/**
 * The send script, read from the broker's source rather than copied, so this
 * measures what teahouse runs (it is not exported: the broker keeps it private).
 */
const sendScript = (): string => {
  const source = readFileSync(join(ROOT, "src/broker/redis.ts"), "utf8");
  const match = /const SEND_SCRIPT = `([\s\S]*?)`;/.exec(source);
  if (!match) throw new Error("SEND_SCRIPT not found in src/broker/redis.ts");
  // The source is a template literal: `\\n` there is `\n` (Lua's escape) in the string.
  return match[1]!.replaceAll("\\\\", "\\");
};

// A chat frame as the hub makes it: id 0 (the script puts the real one in), 40 characters of text.
const TEMPLATE =
  '{"id":0,"type":"chat","room":"lobby","user":{"type":"guest","id":17,"name":"bq3x9a-17"},' +
  `"data":"~17~1764136987123456~${"x".repeat(32)}","ts":1764136987123}`;
const CHANNEL = "bench:deliver";
const ONE_CALL_SCRIPT = "return redis.call('INCR', KEYS[1])";
const HEADER = "1\nroom:lobby\n";

interface Variant {
  name: string;
  subscribers: number;
  /** Sends one message's worth of commands; resolves when Redis answered. */
  send(pub: RedisClient, i: number): Promise<unknown>;
}

const variants = (script: string, sha: string): Variant[] => {
  const evalArgs = () => [
    "3",
    "teahouse:msgid",
    "",
    "teahouse:room:lobby",
    TEMPLATE,
    CHANNEL,
    HEADER,
    String(MAX_PER_STREAM),
    String(CID_TTL_S),
    "",
  ];
  const frame = (id: number) => `{"id":${id}${TEMPLATE.slice(7)}`;
  return [
    {
      name: "EVAL send script (as teahouse)",
      subscribers: 1,
      send: (pub) => pub.send("EVAL", [script, ...evalArgs()]),
    },
    {
      name: "EVAL send script, 2 subscribers",
      subscribers: 2,
      send: (pub) => pub.send("EVAL", [script, ...evalArgs()]),
    },
    { name: "EVALSHA send script", subscribers: 1, send: (pub) => pub.send("EVALSHA", [sha, ...evalArgs()]) },
    {
      name: "INCR + XADD MAXLEN ~ + PUBLISH, plain commands",
      subscribers: 1,
      send: (pub, i) =>
        Promise.all([
          pub.send("INCR", ["plain:msgid"]),
          pub.send("XADD", [
            "plain:room",
            "MAXLEN",
            "~",
            String(MAX_PER_STREAM),
            `${i + 1}-1`,
            "f",
            frame(i + 1),
            "o",
            "",
          ]),
          pub.send("PUBLISH", [CHANNEL, `m${i + 1}\n${HEADER}${frame(i + 1)}`]),
        ]),
    },
    {
      name: "XADD MAXLEN ~ alone",
      subscribers: 0,
      send: (pub, i) =>
        pub.send("XADD", [
          "alone:room",
          "MAXLEN",
          "~",
          String(MAX_PER_STREAM),
          `${i + 1}-1`,
          "f",
          frame(i + 1),
          "o",
          "",
        ]),
    },
    {
      name: "PUBLISH alone, 1 subscriber",
      subscribers: 1,
      send: (pub, i) => pub.send("PUBLISH", [CHANNEL, `m${i + 1}\n${HEADER}${frame(i + 1)}`]),
    },
    {
      name: "EVAL of a one-call script (INCR): a script's fixed cost",
      subscribers: 0,
      send: (pub) => pub.send("EVAL", [ONE_CALL_SCRIPT, "1", "tiny:msgid"]),
    },
    { name: "INCR alone", subscribers: 0, send: (pub) => pub.send("INCR", ["alone:msgid"]) },
    { name: "PING (one round of the protocol)", subscribers: 0, send: (pub) => pub.send("PING", []) },
  ];
};

/** Redis CPU µs per message for `messages` messages of one variant. */
const measure = async (url: string, redisPid: number, variant: Variant, messages: number): Promise<number> => {
  const pub = new RedisClient(url);
  let received = 0;
  const subs = await Promise.all(
    Array.from({ length: variant.subscribers }, async () => {
      const sub = new RedisClient(url);
      await sub.subscribe(CHANNEL, () => void received++);
      return sub;
    }),
  );
  await pub.send("PING", []);
  const before = processCpuUs(redisPid)!;
  for (let sent = 0; sent < messages;) {
    const batch: Promise<unknown>[] = [];
    for (let k = 0; k < PIPELINE && sent < messages; k++, sent++) batch.push(variant.send(pub, sent));
    await Promise.all(batch);
  }
  // Published messages are written to subscribers after the reply: count them in.
  const expected = messages * variant.subscribers;
  while (received < expected) await Bun.sleep(5);
  const after = processCpuUs(redisPid)!;
  pub.close();
  for (const sub of subs) sub.close();
  return (after - before) / messages;
};

const main = async (): Promise<void> => {
  const smoke = process.argv.includes("--smoke");
  // Keep this process off Redis's core (CPU 0), as the load client is in bench/cluster.ts.
  if (HAS_TASKSET && CPU_COUNT >= 2) Bun.spawnSync(["taskset", "-p", "-c", `1-${CPU_COUNT - 1}`, String(process.pid)]);
  const messages = smoke ? 2000 : 100_000;
  const rounds = smoke ? 1 : 5;
  const redis = await startRedis();
  const results: Record<string, number[]> = {};
  try {
    const script = sendScript();
    /** FLUSHALL keeps the script cache; loading again is harmless and makes EVALSHA independent of that. */
    const load = async (): Promise<string> => {
      const client = new RedisClient(redis.url);
      const sha = (await client.send("SCRIPT", ["LOAD", script])) as string;
      client.close();
      return sha;
    };
    const all = variants(script, await load());
    for (let round = 0; round < rounds; round++) {
      // Rotate the order each round, and start each variant from an empty Redis (streams grow to the cap).
      for (let k = 0; k < all.length; k++) {
        const variant = all[(k + round) % all.length]!;
        await redis.flush();
        await load();
        (results[variant.name] ??= []).push(await measure(redis.url, redis.pid, variant, messages));
      }
    }
  } finally {
    await redis.stop();
  }
  const reference = median(results[Object.keys(results)[0]!] ?? [0]);
  const lines = [
    `### Redis CPU per message (${fmt(messages)} messages per variant, ${rounds} interleaved rounds, pipelined ${PIPELINE})`,
    "",
    "| variant | Redis CPU µs/message | × EVAL |",
    "| --- | --- | --- |",
    ...Object.entries(results).map(
      ([name, values]) => `| ${name} | ${spread(values, 2)} | ${(median(values) / reference).toFixed(2)}× |`,
    ),
  ];
  console.log(lines.join("\n"));
  console.log(JSON.stringify({ messages, rounds, pipeline: PIPELINE, smoke, results }));
};

await main();
