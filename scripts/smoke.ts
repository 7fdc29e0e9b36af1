/**
 * Smoke check of a running teahouse over HTTP and WebSocket: page, an asset,
 * health, readiness, sign-in of two users, a chat message between them and
 * the metrics that counted it. `bun scripts/smoke.ts http://127.0.0.1:3000`;
 * exit 0 when everything answered as expected.
 */
import { CHAT_SOCKET_PATH, type ServerFrame } from "../src/protocol";

const TIMEOUT_MS = 5_000;

const check = (ok: boolean, what: string): void => {
  if (!ok) throw new Error(`smoke check failed: ${what}`);
  console.log(`ok  ${what}`);
};

/** Signs in under `name`; returns the cookie pair. */
const signIn = async (base: string, name: string): Promise<string> => {
  const response = await fetch(`${base}/wsin`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name }),
  });
  check(response.status === 200, `POST /wsin as ${name} → ${response.status}`);
  return response.headers.getSetCookie()[0]!.split(";")[0]!;
};

/** Opens the chat socket and resolves with it and a way to await a frame. */
const open = async (base: string, cookie: string) => {
  const ws = new WebSocket(`${base.replace(/^http/, "ws")}${CHAT_SOCKET_PATH}`, {
    headers: { cookie },
  } as unknown as string[]);
  const frames: ServerFrame[] = [];
  ws.addEventListener("message", (event) => frames.push(JSON.parse(String(event.data)) as ServerFrame));
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener("open", () => resolve(), { once: true });
    ws.addEventListener("close", (event) => reject(new Error(`socket closed before open: ${event.code}`)), {
      once: true,
    });
  });
  const next = async (match: (frame: ServerFrame) => boolean): Promise<ServerFrame> => {
    const deadline = Date.now() + TIMEOUT_MS;
    while (Date.now() < deadline) {
      const index = frames.findIndex(match);
      if (index >= 0) return frames.splice(index, 1)[0]!;
      await Bun.sleep(10);
    }
    throw new Error("smoke check failed: no matching frame in time");
  };
  return { ws, next };
};

export const smoke = async (base: string): Promise<void> => {
  const page = await fetch(`${base}/`);
  check(page.status === 200 && (await page.text()).includes("/static/"), "GET / serves the page");
  check((await fetch(`${base}/static/chat.css`)).status === 200, "GET /static/chat.css");
  check((await fetch(`${base}/healthz`)).status === 200, "GET /healthz");
  check((await fetch(`${base}/readyz`)).status === 200, "GET /readyz");

  const suffix = Math.random().toString(36).slice(2, 8);
  const alice = await open(base, await signIn(base, `alice-${suffix}`));
  const bob = await open(base, await signIn(base, `bob-${suffix}`));
  const text = `smoke ${suffix}`;
  alice.ws.send(JSON.stringify({ type: "chat", data: text }));
  const got = await bob.next((frame) => frame.type === "chat" && frame.data === text);
  check(got.type === "chat", "a chat message from alice reaches bob over the socket");
  alice.ws.close(1000);
  bob.ws.close(1000);

  const metrics = await (await fetch(`${base}/metrics`)).text();
  check(/^teahouse_deliveries_total [1-9]/m.test(metrics), "GET /metrics counted the delivery");
};

if (import.meta.main) {
  const base = process.argv[2];
  if (!base) {
    console.error("usage: bun scripts/smoke.ts http://HOST:PORT");
    process.exit(2);
  }
  try {
    await smoke(base.replace(/\/$/, ""));
  } catch (error) {
    console.error((error as Error).message);
    process.exit(1);
  }
}
