/**
 * The limit: a chat room on raw `Bun.serve` with uWebSockets' pub/sub, nothing
 * else. Same sign-in (`POST /wsin` → signed `session` cookie), same socket path,
 * same frames and broadcast semantics as teahouse (join/list on open, `chat`
 * to the whole lobby including the sender, encoded once per broadcast), so
 * the same load client drives both. No validation beyond what the frame
 * shape needs, no storage, no framework.
 *
 * Usage: bun bench/servers/raw-bun.ts --port N
 */
import { createHmac, randomUUID } from "node:crypto";

interface User {
  type: "guest";
  id: number;
  name: string;
  image: number;
}

const portArg = process.argv.indexOf("--port");
const port = portArg >= 0 ? Number(process.argv[portArg + 1]) : 3000;
const SECRET = randomUUID();
const LOBBY = "room:lobby";
const sign = (value: string): string => `${value}.${createHmac("sha256", SECRET).update(value).digest("base64url")}`;
const unsign = (signed: string): string | undefined => {
  const dot = signed.lastIndexOf(".");
  if (dot < 0) return undefined;
  const value = signed.slice(0, dot);
  return sign(value) === signed ? value : undefined;
};
const cookieValue = (header: string | null, name: string): string | undefined => {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
};

const sessions = new Map<string, User>();
const online = new Map<number, User>();
let nextUserId = 0;
let nextFrameId = 0;
const encode = (frame: Record<string, unknown>): string =>
  JSON.stringify({ id: ++nextFrameId, ...frame, ts: Date.now() });

const server = Bun.serve<{ user: User }>({
  port,
  hostname: "127.0.0.1",
  async fetch(request, server) {
    const { pathname } = new URL(request.url);
    if (pathname === "/wsin" && request.method === "POST") {
      const body = (await request.json().catch(() => ({}))) as { name?: unknown };
      const name = typeof body.name === "string" && body.name.trim() ? body.name.trim() : `guest${nextUserId + 1}`;
      const user: User = { type: "guest", id: ++nextUserId, name, image: nextUserId % 10 };
      const sid = randomUUID();
      sessions.set(sid, user);
      return Response.json(
        { code: 0, data: `Signed in as ${name}`, user },
        { headers: { "set-cookie": `session=${encodeURIComponent(sign(sid))}; Path=/; HttpOnly; SameSite=Lax` } },
      );
    }
    if (pathname === "/ws/chat") {
      const signed = cookieValue(request.headers.get("cookie"), "session");
      const sid = signed === undefined ? undefined : unsign(signed);
      const user = sid === undefined ? undefined : sessions.get(sid);
      if (!user) return new Response("not signed in", { status: 401 });
      if (server.upgrade(request, { data: { user } })) return undefined;
      return new Response("upgrade failed", { status: 400 });
    }
    if (pathname === "/") return new Response("raw bun chat");
    return new Response("not found", { status: 404 });
  },
  websocket: {
    perMessageDeflate: false,
    idleTimeout: 60,
    sendPings: true,
    open(ws) {
      const { user } = ws.data;
      ws.subscribe(LOBBY);
      online.set(user.id, user);
      server.publish(LOBBY, encode({ type: "join", user, data: null, room: "lobby" }));
      ws.send(encode({ type: "list", user, data: [...online.values()], room: "lobby" }));
    },
    message(ws, raw) {
      if (typeof raw !== "string") return;
      let data = raw;
      if (raw.charCodeAt(0) === 123) {
        try {
          const frame = JSON.parse(raw) as { type?: unknown; data?: unknown };
          if (frame.type === "chat" && typeof frame.data === "string") data = frame.data;
        } catch {}
      }
      const text = data.trim();
      if (!text) return;
      server.publish(LOBBY, encode({ type: "chat", user: ws.data.user, data: text, room: "lobby" }));
    },
    close(ws) {
      const { user } = ws.data;
      online.delete(user.id);
      server.publish(LOBBY, encode({ type: "left", user, data: null, room: "lobby" }));
    },
  },
});

process.on("SIGTERM", () => {
  server.stop(true);
  process.exit(0);
});
console.log(JSON.stringify({ listening: server.port }));
