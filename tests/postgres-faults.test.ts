/**
 * One instance on PostgreSQL when PostgreSQL goes away and comes back: a
 * real server stopped (fast shutdown) and restarted on the same data. The
 * sockets are told 1013 within a few seconds, readiness and sign-in answer
 * 503 at once (never a hang), and everything comes back by itself; nothing
 * acknowledged is lost.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { CloseCode } from "../src/protocol";
import { Client, signIn, trackApps, within } from "./helpers";
import { TestPostgres } from "./postgres";

const postgres = new TestPostgres();
beforeAll(() => postgres.start());
afterAll(() => postgres.dispose());
const { start, connect } = trackApps();

test("PostgreSQL stopped and restarted: 1013 and 503 within seconds, back by itself, nothing acknowledged lost", async () => {
  const running = await start({ databaseUrl: await postgres.database() });
  const alice = await signIn(running.base, "alice");
  const a = await connect(running, alice.cookie);
  for (let i = 0; i < 5; i++) a.send({ type: "chat", data: `before ${i}`, cid: `b${i}` });
  for (let i = 0; i < 5; i++) await a.next("ack");

  await postgres.stop();
  const stoppedAt = Date.now();
  expect((await a.waitClose(6000)).code).toBe(CloseCode.TryAgainLater);
  const readyDown = await within(5000, async () => (await fetch(`${running.base}/readyz`)).status === 503);
  const signInStarted = Date.now();
  const refused = await fetch(`${running.base}/wsin`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: "bob" }),
  });
  expect(refused.status).toBe(503);
  expect(((await refused.json()) as { error: string }).error).toBe("unavailable");
  expect(Date.now() - signInStarted).toBeLessThan(6000);
  console.log(`postgres down: 1013 after ${Date.now() - stoppedAt} ms at most, /readyz 503 after ${readyDown} ms more`);

  await postgres.restart();
  const backIn = await within(15_000, async () => (await fetch(`${running.base}/readyz`)).status === 200);
  console.log(`postgres back: ready again ${backIn} ms after its return`);
  const again = await Client.connect(running.wsUrl, alice.cookie);
  const lobby = await again.next("history", (f) => f.room === "lobby");
  expect(lobby.data.map((m) => m.data)).toEqual([0, 1, 2, 3, 4].map((i) => `before ${i}`));
  again.send({ type: "chat", data: "after", cid: "a1" });
  expect((await again.next("ack")).data.cid).toBe("a1");
  expect((await signIn(running.base, "bob")).user.name).toBe("bob");
  again.close();
}, 60_000);

test("PostgreSQL that stops answering (frozen): 503 within the deadline, never a hang; back when it thaws", async () => {
  const running = await start({ databaseUrl: await postgres.database() });
  const alice = await signIn(running.base, "alice");
  const a = await connect(running, alice.cookie);
  await a.next("history", (f) => f.room === undefined);
  postgres.freeze(true);
  try {
    expect((await a.waitClose(8000)).code).toBe(CloseCode.TryAgainLater);
    const asked = Date.now();
    const answer = await fetch(`${running.base}/wsin`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "bob" }),
    });
    expect(answer.status).toBe(503);
    expect(Date.now() - asked).toBeLessThan(7000);
    expect((await fetch(`${running.base}/readyz`)).status).toBe(503);
  } finally {
    postgres.freeze(false);
  }
  await within(15_000, async () => (await fetch(`${running.base}/readyz`)).status === 200);
  expect((await signIn(running.base, "bob")).user.name).toBe("bob");
}, 60_000);
