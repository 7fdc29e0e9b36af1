/**
 * Debian's nginx with deploy/nginx.conf in front of the app, on free loopback
 * ports: pages, cached and gzipped assets, sign-in and chat through the proxy,
 * and a socket idle for longer than nginx's proxy_read_timeout that the
 * server's pings keep open.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { defaultConfig, pingIntervalSeconds } from "../src/config";
import { UPLOAD_OVERHEAD_BYTES } from "../src/files/routes";
import { download, upload } from "./uploads";
import { CHAT_SOCKET_PATH } from "../src/protocol";
import { Client, cookieFrom, signIn, startApp, type Running } from "./helpers";
import { startNginx, type TestNginx } from "./nginx";

/** The app's idle timeout in this test: the server pings a silent socket every 4 s. */
const WS_IDLE_TIMEOUT_S = 8;
/** nginx's proxy_read_timeout in this test: longer than the ping interval, shorter than the idle wait. */
const PROXY_READ_TIMEOUT_S = 6;
/** How long the socket stays silent: well past proxy_read_timeout. */
const IDLE_WAIT_MS = (PROXY_READ_TIMEOUT_S + 3) * 1000;

let app: Running;
let nginx: TestNginx | undefined;
let base: string;
const clients: Client[] = [];

beforeAll(async () => {
  app = startApp({ idleTimeoutSeconds: WS_IDLE_TIMEOUT_S, trustProxy: ["127.0.0.1"] });
  nginx = await startNginx([Number(new URL(app.base).port)], { proxyReadTimeoutS: PROXY_READ_TIMEOUT_S });
  base = nginx.base;
}, 30_000);

afterAll(async () => {
  for (const client of clients.splice(0)) client.close();
  await nginx?.stop();
  await app?.stop();
});

const connect = async (cookie: string, headers: Record<string, string> = {}): Promise<Client> => {
  const client = await Client.connect(`${base.replace("http", "ws")}${CHAT_SOCKET_PATH}`, cookie, headers);
  clients.push(client);
  return client;
};

describe("behind nginx (deploy/nginx.conf)", () => {
  test("the ping interval is shorter than the test's proxy_read_timeout", () => {
    expect(pingIntervalSeconds(WS_IDLE_TIMEOUT_S)).toBeLessThan(PROXY_READ_TIMEOUT_S);
    // And with the defaults, shorter than nginx's own 60 s default.
    expect(pingIntervalSeconds(60)).toBeLessThan(60);
  });

  test("page gzipped, assets cached by nginx, /metrics refused, sign-in and chat through the proxy", async () => {
    const page = await fetch(`${base}/`, { headers: { "accept-encoding": "gzip" } });
    expect(page.status).toBe(200);
    expect(page.headers.get("content-encoding")).toBe("gzip");
    expect(await page.text()).toContain("/static/");

    const first = await fetch(`${base}/static/chat.css`);
    expect(first.status).toBe(200);
    expect(first.headers.get("x-cache-status")).toBe("MISS");
    await first.arrayBuffer();
    const second = await fetch(`${base}/static/chat.css`);
    expect(second.headers.get("x-cache-status")).toBe("HIT");
    expect(await second.text()).toBe(await Bun.file(join(import.meta.dir, "..", "public", "chat.css")).text());

    expect((await fetch(`${base}/metrics`)).status).toBe(403);

    const alice = await signIn(base, "alice");
    const bob = await signIn(base, "bob");
    const a = await connect(alice.cookie);
    const b = await connect(bob.cookie);
    await a.next("join", (frame) => frame.user.name === "bob");
    b.send({ type: "chat", data: "through nginx" });
    expect((await a.next("chat")).data).toBe("through nginx");
    expect((await b.next("chat")).data).toBe("through nginx");

    // A browser sends Origin with the port: nginx must forward Host with the port too, or the app refuses it (403).
    const signedIn = await fetch(`${base}/wsin`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: base },
      body: JSON.stringify({ name: "dora" }),
    });
    expect(signedIn.status).toBe(200);
    const dora = await connect(cookieFrom(signedIn), { origin: base });
    expect((await dora.next("list")).data.map((user) => user.name)).toContain("dora");
  });

  test("a file over nginx's 1 MiB default body size goes through, and comes back identical (client_max_body_size)", async () => {
    const conf = await Bun.file(join(import.meta.dir, "..", "deploy", "nginx.conf")).text();
    const megabytes = Number(/location = \/files \{[^}]*client_max_body_size (\d+)m;/.exec(conf)?.[1]);
    // Above the app's own limit (MAX_FILE_MB and the form around it): the app, not nginx, says no.
    expect(megabytes * 1024 * 1024).toBeGreaterThan(defaultConfig().maxFileBytes + UPLOAD_OVERHEAD_BYTES);
    const erin = await signIn(base, "erin");
    const bytes = new Uint8Array(3 * 1024 * 1024).map((_, i) => (i * 7) % 256);
    const posted = await upload({ base }, erin, "room=lobby", bytes, "big.bin");
    expect(posted.status).toBe(200);
    const got = await download({ base }, erin, posted.body.message!.file!.url);
    expect(got.status).toBe(200);
    expect(Buffer.from(await got.arrayBuffer()).equals(Buffer.from(bytes))).toBe(true);
  });

  test(
    `a socket silent for ${IDLE_WAIT_MS / 1000} s outlives proxy_read_timeout ${PROXY_READ_TIMEOUT_S} s`,
    async () => {
      const carol = await signIn(base, "carol");
      const idle = await connect(carol.cookie);
      await idle.next("list");
      let pings = 0;
      (idle.ws as unknown as EventTarget).addEventListener("ping", () => pings++);
      await Bun.sleep(IDLE_WAIT_MS);
      expect(idle.closed).toBeUndefined();
      // What kept it open: the server's pings, relayed by nginx (about one per pingIntervalSeconds).
      expect(pings).toBeGreaterThanOrEqual(
        Math.floor(IDLE_WAIT_MS / 1000 / pingIntervalSeconds(WS_IDLE_TIMEOUT_S)) - 1,
      );
      expect(pings).toBeGreaterThanOrEqual(1);
      idle.send({ type: "chat", data: "still here" });
      expect((await idle.next("chat")).data).toBe("still here");
    },
    IDLE_WAIT_MS + 15_000,
  );
});
