/**
 * A hand-written WebSocket client over plain TCP, for tests that must send
 * what a well-behaved client library never would: bad upgrades, unmasked or
 * malformed frames, a socket that stops reading.
 */
import net from "node:net";
import { createHash, randomBytes } from "node:crypto";

export const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** The Sec-WebSocket-Accept a server must answer for a key (RFC 6455 §4.2.2). */
export const acceptFor = (key: string): string =>
  createHash("sha1")
    .update(key + WS_GUID)
    .digest("base64");

export const Opcode = { Continuation: 0, Text: 1, Binary: 2, Close: 8, Ping: 9, Pong: 10 } as const;

export interface FrameOptions {
  fin?: boolean;
  /** Mask the payload (clients must). Default true. */
  masked?: boolean;
  /** RSV1–3 bits, 0–7. */
  rsv?: number;
}

/** Encodes one frame as a client would send it. */
export const encodeFrame = (opcode: number, payload: Uint8Array | string, options: FrameOptions = {}): Buffer => {
  const { fin = true, masked = true, rsv = 0 } = options;
  const data = typeof payload === "string" ? Buffer.from(payload) : Buffer.from(payload);
  const length = data.length;
  const header: number[] = [(fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0f)];
  const maskBit = masked ? 0x80 : 0;
  if (length < 126) header.push(maskBit | length);
  else if (length < 65536) header.push(maskBit | 126, length >> 8, length & 0xff);
  else {
    header.push(maskBit | 127, 0, 0, 0, 0);
    header.push((length >>> 24) & 0xff, (length >>> 16) & 0xff, (length >>> 8) & 0xff, length & 0xff);
  }
  if (!masked) return Buffer.concat([Buffer.from(header), data]);
  const mask = randomBytes(4);
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = data[i]! ^ mask[i % 4]!;
  return Buffer.concat([Buffer.from(header), mask, out]);
};

/** A close frame payload: code and reason. */
export const closePayload = (code: number, reason = ""): Buffer => {
  const out = Buffer.alloc(2 + Buffer.byteLength(reason));
  out.writeUInt16BE(code, 0);
  out.write(reason, 2);
  return out;
};

export interface ServerFrameRaw {
  fin: boolean;
  opcode: number;
  payload: Buffer;
}

/** A TCP connection that collects everything the server sends. */
export class RawSocket {
  private buffer = Buffer.alloc(0);
  private wakers: Array<() => void> = [];
  ended = false;

  private constructor(readonly socket: net.Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.wake();
    });
    const end = () => {
      this.ended = true;
      this.wake();
    };
    socket.on("end", end);
    socket.on("close", end);
    socket.on("error", end);
  }

  static connect(port: number): Promise<RawSocket> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, "127.0.0.1");
      socket.once("connect", () => resolve(new RawSocket(socket)));
      socket.once("error", reject);
    });
  }

  /** Opens a socket and sends an upgrade request with these headers (null drops a default one). */
  static async upgrade(
    port: number,
    headers: Record<string, string | null> = {},
    path = "/ws/chat",
  ): Promise<{ raw: RawSocket; status: number; head: string; key: string }> {
    const raw = await RawSocket.connect(port);
    const key = randomBytes(16).toString("base64");
    const all: Record<string, string | null> = {
      host: `127.0.0.1:${port}`,
      upgrade: "websocket",
      connection: "Upgrade",
      "sec-websocket-key": key,
      "sec-websocket-version": "13",
      ...headers,
    };
    const lines = Object.entries(all)
      .filter((entry): entry is [string, string] => entry[1] !== null)
      .map(([name, value]) => `${name}: ${value}`);
    raw.write(`GET ${path} HTTP/1.1\r\n${lines.join("\r\n")}\r\n\r\n`);
    const head = await raw.readHead();
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
    return { raw, status, head, key: all["sec-websocket-key"] ?? "" };
  }

  write(data: string | Uint8Array): void {
    this.socket.write(data);
  }

  /** The HTTP response head (up to the blank line); the rest stays buffered. */
  async readHead(timeoutMs = 3000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = this.buffer.indexOf("\r\n\r\n");
      if (end >= 0) {
        const head = this.buffer.subarray(0, end).toString("latin1");
        this.buffer = this.buffer.subarray(end + 4);
        return head;
      }
      await this.waitData(deadline, "an HTTP response");
    }
  }

  /** The next complete frame from the server, or undefined when the connection ended first. */
  async readFrame(timeoutMs = 3000): Promise<ServerFrameRaw | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const frame = this.parseFrame();
      if (frame) return frame;
      if (this.ended) return undefined;
      await this.waitData(deadline, "a frame");
    }
  }

  /** Reads frames until a close frame; returns its code (1005 if none) or undefined if the TCP connection just ended. */
  async readClose(timeoutMs = 3000): Promise<{ code: number; reason: string } | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const frame = await this.readFrame(Math.max(1, deadline - Date.now()));
      if (!frame) return undefined;
      if (frame.opcode === Opcode.Close)
        return frame.payload.length >= 2
          ? { code: frame.payload.readUInt16BE(0), reason: frame.payload.subarray(2).toString("utf8") }
          : { code: 1005, reason: "" };
    }
  }

  /** Resolves once the server has closed the TCP connection. */
  async waitEnd(timeoutMs = 3000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended) await this.waitData(deadline, "the connection to end");
  }

  destroy(): void {
    this.socket.destroy();
  }

  private parseFrame(): ServerFrameRaw | undefined {
    const b = this.buffer;
    if (b.length < 2) return undefined;
    const fin = (b[0]! & 0x80) !== 0;
    const opcode = b[0]! & 0x0f;
    if (b[1]! & 0x80) throw new Error("the server sent a masked frame (RFC 6455 §5.1 forbids it)");
    let length = b[1]! & 0x7f;
    let offset = 2;
    if (length === 126) {
      if (b.length < 4) return undefined;
      length = b.readUInt16BE(2);
      offset = 4;
    } else if (length === 127) {
      if (b.length < 10) return undefined;
      length = Number(b.readBigUInt64BE(2));
      offset = 10;
    }
    if (b.length < offset + length) return undefined;
    const payload = b.subarray(offset, offset + length);
    this.buffer = b.subarray(offset + length);
    return { fin, opcode, payload };
  }

  private async waitData(deadline: number, what: string): Promise<void> {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`timed out waiting for ${what}`);
    if (this.ended) throw new Error(`connection ended while waiting for ${what}`);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, left);
      this.wakers.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private wake(): void {
    for (const wake of this.wakers.splice(0)) wake();
  }
}
