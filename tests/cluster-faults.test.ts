/**
 * Several instances when something fails, with real processes: Redis
 * stopped and restarted (with its data, then with `--save ''` and nothing
 * kept), and an instance killed with SIGKILL in the middle of a message
 * stream. Nothing acknowledged is lost, and clients recover by themselves.
 */
import { expect, test } from "bun:test";
import { SQL } from "bun";
import { CloseCode } from "../src/protocol";
import { EXPIRY_MS, HEARTBEAT_MS } from "../src/chat/cluster";
import { Client, signIn, trackApps, within } from "./helpers";
import { spawnServer } from "./process";
import { useClusterServices } from "./cluster-services";

const { postgres, redis, twoInstances } = useClusterServices();
const { start, connect } = trackApps();
const SECRET = "cluster-faults-secret-that-is-long-enough";

for (const persist of [true, false])
  test(`Redis stopped and restarted (${persist ? "with its data" : "--save '', nothing kept"}): 1013, back by itself, every missed message recovered`, async () => {
    const [a, b] = await twoInstances(start);
    const alice = await signIn(a.base, "alice");
    const bob = await signIn(b.base, "bob");
    const aliceA = await connect(a, alice.cookie);
    const bobB = await connect(b, bob.cookie);
    const epoch = (await bobB.next("conversations")).position.epoch;
    for (let i = 0; i < 5; i++) aliceA.send({ type: "chat", data: `before ${i}`, cid: `b${i}` });
    let position = 0;
    for (let i = 0; i < 5; i++) position = (await bobB.next("chat")).id;

    await redis.stop();
    expect((await aliceA.waitClose(5000)).code).toBe(CloseCode.TryAgainLater);
    expect((await bobB.waitClose(5000)).code).toBe(CloseCode.TryAgainLater);
    await within(5000, async () => (await fetch(`${b.base}/readyz`)).status === 503);
    const refused = await Client.connect(b.wsUrl, bob.cookie);
    expect((await refused.waitClose()).code).toBe(CloseCode.TryAgainLater);

    await redis.start({ persist });
    const back = await within(10_000, async () =>
      (await Promise.all([a, b].map((x) => fetch(`${x.base}/readyz`)))).every((r) => r.status === 200),
    );
    console.log(`redis back (persist ${persist}): both instances ready ${back} ms after its return`);
    await within(5000, () => a.teahouse.cluster!.peerCount === 1 && b.teahouse.cluster!.peerCount === 1);
    // Sessions and accounts live in PostgreSQL: the same cookies work.
    const aliceAgain = await connect(a, alice.cookie);
    await aliceAgain.next("history");
    for (let i = 0; i < 5; i++) aliceAgain.send({ type: "chat", data: `after ${i}`, cid: `a${i}` });
    for (let i = 0; i < 5; i++) await aliceAgain.next("ack");
    const bobAgain = await connect(b, bob.cookie, `?since=${position}&epoch=${epoch}`);
    const missed = await bobAgain.next("history", (f) => f.room === "lobby");
    expect(missed.recovered).toBe(true);
    expect(missed.data.map((m) => m.data)).toEqual([0, 1, 2, 3, 4].map((i) => `after ${i}`));
    // And live again across instances.
    aliceAgain.send({ type: "chat", data: "live", cid: "l1" });
    expect((await bobAgain.next("chat")).data).toBe("live");
  }, 60_000);

test("an instance killed (SIGKILL) mid-stream: every acknowledged message is stored, in order; its users leave within the bound", async () => {
  const databaseUrl = await postgres.database();
  const env = {
    DATABASE_URL: databaseUrl,
    REDIS_URL: redis.url,
    SECRET,
    RATE_PER_SECOND: "1000",
    RATE_BURST: "1000",
    USER_RATE_PER_SECOND: "1000",
    USER_RATE_BURST: "1000",
  };
  const a = await spawnServer([], { env });
  const b = await spawnServer([], { env });
  try {
    const alice = await signIn(a.base, "alice");
    const bob = await signIn(b.base, "bob");
    const bobB = await Client.connect(b.wsUrl, bob.cookie);
    await bobB.next("history");
    const aliceA = await Client.connect(a.wsUrl, alice.cookie);
    await bobB.next("join", (f) => f.user.id === alice.user.id, 5000);
    const acked: number[] = [];
    let sent = 0;
    const sender = setInterval(() => {
      if (aliceA.closed) return;
      for (let i = 0; i < 3; i++) {
        aliceA.send({ type: "chat", data: `m${sent}`, cid: `c${sent}` });
        sent++;
      }
    }, 40);
    aliceA.ws.addEventListener("message", (event) => {
      const frame = JSON.parse(String(event.data)) as { type: string; data: { id: number } };
      if (frame.type === "ack") acked.push(frame.data.id);
    });
    await within(10_000, () => acked.length >= 60);
    a.proc.kill("SIGKILL");
    const killedAt = Date.now();
    clearInterval(sender);
    await a.proc.exited;
    const left = await bobB.next("left", (f) => f.user.id === alice.user.id, EXPIRY_MS + 2 * HEARTBEAT_MS + 2000);
    const leftAfter = Date.now() - killedAt;
    console.log(`SIGKILL: ${acked.length} acknowledged of ${sent} sent; alice left for bob after ${leftAfter} ms`);
    expect(left.room).toBe("lobby");
    expect(leftAfter).toBeLessThanOrEqual(EXPIRY_MS + 2 * HEARTBEAT_MS + 1000);

    const sql = new SQL(databaseUrl);
    const rows = (await sql`SELECT id::float8 AS id, body FROM messages ORDER BY id`) as Array<{
      id: number;
      body: string;
    }>;
    await sql.close();
    const stored = new Map(rows.map((row) => [row.id, row.body]));
    for (const id of acked) expect(stored.has(id)).toBe(true);
    // In the order sent: the bodies m0, m1, … by ascending id, with no hole among the acknowledged.
    const bodies = rows.map((row) => Number(row.body.slice(1)));
    expect(bodies).toEqual(bodies.map((_, i) => i));
    expect(rows.length).toBeGreaterThanOrEqual(acked.length);
    // Bob saw them live in the same order (whatever reached B before the kill).
    const live = bobB.frames.filter((f) => f.type === "chat").map((f) => f.data);
    expect(live).toEqual(rows.slice(0, live.length).map((row) => row.body));
    bobB.close();
  } finally {
    a.proc.kill("SIGKILL");
    b.proc.kill("SIGTERM");
    await Promise.all([a.proc.exited, b.proc.exited]);
  }
}, 60_000);
