/**
 * The tutorial's design on Node + `ws`: every broadcast loops over the open
 * clients and calls `send` on each. Same sign-in (`POST /wsin` → signed
 * `session` cookie), same socket path, same frames and semantics as teahouse
 * (join/list on open, `chat` to everyone including the sender). The frame is
 * encoded once per broadcast, which is kinder than the tutorial (it encodes
 * per recipient): this measures the looping, not an avoidable JSON cost.
 *
 * Usage: node bench/servers/node-ws.mjs --port N
 */
import { createServer } from "node:http";
import { createHmac, randomUUID } from "node:crypto";
import { WebSocketServer, WebSocket } from "ws";

const portArg = process.argv.indexOf("--port");
const port = portArg >= 0 ? Number(process.argv[portArg + 1]) : 3000;
const SECRET = randomUUID();
const sign = (value) => `${value}.${createHmac("sha256", SECRET).update(value).digest("base64url")}`;
const unsign = (signed) => {
  const dot = signed.lastIndexOf(".");
  if (dot < 0) return undefined;
  const value = signed.slice(0, dot);
  return sign(value) === signed ? value : undefined;
};
const cookieValue = (header, name) => {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
};

const sessions = new Map();
const online = new Map();
const clients = new Set();
let nextUserId = 0;
let nextFrameId = 0;
const encode = (frame) => JSON.stringify({ id: ++nextFrameId, ...frame, ts: Date.now() });
const broadcast = (text) => {
  for (const client of clients) if (client.readyState === WebSocket.OPEN) client.send(text);
};

const http = createServer((request, response) => {
  if (request.url === "/wsin" && request.method === "POST") {
    let body = "";
    request.setEncoding("utf8");
    request.on("data", (chunk) => (body += chunk));
    request.on("end", () => {
      let name;
      try {
        name = JSON.parse(body).name;
      } catch {}
      name = typeof name === "string" && name.trim() ? name.trim() : `guest${nextUserId + 1}`;
      const user = { type: "guest", id: ++nextUserId, name, image: nextUserId % 10 };
      const sid = randomUUID();
      sessions.set(sid, user);
      response.writeHead(200, {
        "content-type": "application/json",
        "set-cookie": `session=${encodeURIComponent(sign(sid))}; Path=/; HttpOnly; SameSite=Lax`,
      });
      response.end(JSON.stringify({ code: 0, data: `Signed in as ${name}`, user }));
    });
    return;
  }
  response.writeHead(request.url === "/" ? 200 : 404, { "content-type": "text/plain" });
  response.end(request.url === "/" ? "node ws chat" : "not found");
});

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
http.on("upgrade", (request, socket, head) => {
  const signed = cookieValue(request.headers.cookie, "session");
  const sid = signed === undefined ? undefined : unsign(signed);
  const user = sid === undefined ? undefined : sessions.get(sid);
  if (request.url !== "/ws/chat" || !user) {
    socket.end("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n");
    return;
  }
  wss.handleUpgrade(request, socket, head, (ws) => {
    clients.add(ws);
    online.set(user.id, user);
    broadcast(encode({ type: "join", user, data: null, room: "lobby" }));
    ws.send(encode({ type: "list", user, data: [...online.values()], room: "lobby" }));
    ws.on("message", (raw, isBinary) => {
      if (isBinary) return;
      const message = raw.toString();
      let data = message;
      if (message.charCodeAt(0) === 123) {
        try {
          const frame = JSON.parse(message);
          if (frame.type === "chat" && typeof frame.data === "string") data = frame.data;
        } catch {}
      }
      const text = data.trim();
      if (text) broadcast(encode({ type: "chat", user, data: text, room: "lobby" }));
    });
    ws.on("close", () => {
      clients.delete(ws);
      online.delete(user.id);
      broadcast(encode({ type: "left", user, data: null, room: "lobby" }));
    });
  });
});

http.listen(port, "127.0.0.1", () => console.log(JSON.stringify({ listening: port })));
process.on("SIGTERM", () => process.exit(0));
