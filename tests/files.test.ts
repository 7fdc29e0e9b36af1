/**
 * Files over HTTP, on both stores: an upload with the session cookie becomes a message that reaches
 * the conversation live, in history and on resume with its `file`; the bytes come back identical,
 * to members only; every refusal (size before and while the body streams, quota, rate, target,
 * origin, signed out) with its status; what the bytes are decides how they are served (an SVG or
 * HTML "image" is an attachment, with nosniff and a sandbox CSP); GPS is gone from a JPEG; a
 * deleted or pruned message's file is removed once nothing refers to it; search by file name.
 */
import { describe, expect, test } from "bun:test";
import { ORPHAN_GRACE_MS } from "../src/services/files";
import { UPLOAD_OVERHEAD_BYTES } from "../src/files/routes";
import type { FileRef } from "../src/protocol";
import type { Config } from "../src/config";
import { signIn, trackApps, within, type Client, type Running } from "./helpers";
import { download, upload, type Answer } from "./uploads";
import { storeFlavours } from "./postgres";
import { contains, GPS_LATITUDE, jpegWithGps, png } from "./images";

const flavours = storeFlavours();

/** A raw HTTP connection: what we write, and what came back so far. */
const rawConnection = async (running: Running) => {
  const { port } = new URL(running.base);
  let received = "";
  let closed = false;
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port: Number(port),
    socket: {
      data(_socket, data) {
        received += data.toString();
      },
      close() {
        closed = true;
      },
      error() {
        closed = true;
      },
    },
  });
  return {
    write: (data: string | Uint8Array) => {
      if (!closed) socket.write(data);
    },
    received: () => received,
    end: () => socket.end(),
  };
};

describe.each(flavours)("%s", (_name, configure) => {
  const apps = trackApps();
  const fast = { ratePerSecond: 1000, rateBurst: 1000, userRatePerSecond: 1000, userRateBurst: 1000 };
  const start = async (overrides: Partial<Config> = {}) =>
    apps.start({ ...(await configure()), ...fast, ...overrides });

  const two = async (running: Running) => {
    const alice = await signIn(running.base, "alice");
    const bob = await signIn(running.base, "bob");
    const a = await apps.connect(running, alice.cookie);
    const b = await apps.connect(running, bob.cookie);
    for (const socket of [a, b]) await socket.next("history", (f) => f.room === "lobby");
    return { alice, bob, a, b };
  };
  const lobbyPage = async (client: Client) => {
    client.send({ type: "history" });
    return client.next("history", (f) => f.room === "lobby" && f.recovered === undefined);
  };

  test("an image with a caption reaches the room live and in history; its bytes come back identical, inline, to members", async () => {
    const running = await start();
    const { alice, bob, a, b } = await two(running);
    const image = png(30, 20);
    const posted = await upload(running, alice, "room=lobby", image, "cat picture.png", {
      caption: " look @bob ",
      type: "text/html",
    });
    expect(posted.status).toBe(200);
    const message = posted.body.message!;
    expect(message).toMatchObject({ type: "chat", room: "lobby", data: "look @bob", mentions: [bob.user.id] });
    const file = message.file!;
    expect(file).toEqual({
      url: `/files/${message.id}/cat%20picture.png`,
      name: "cat picture.png",
      type: "image/png",
      size: image.length,
      width: 30,
      height: 20,
    });
    // Live, to everyone in the room (the uploader's own sockets too), with the same file.
    for (const socket of [a, b]) expect((await socket.next("chat", (f) => f.id === message.id)).file).toEqual(file);
    expect((await lobbyPage(b)).data.find((m) => m.id === message.id)?.file).toEqual(file);

    const got = await download(running, bob, file.url);
    expect(got.status).toBe(200);
    expect(Buffer.from(await got.arrayBuffer()).equals(Buffer.from(image))).toBe(true);
    expect(got.headers.get("content-type")).toBe("image/png");
    expect(got.headers.get("content-disposition")).toStartWith("inline;");
    expect(got.headers.get("content-security-policy")).toBe("sandbox; default-src 'none'");
    expect(got.headers.get("x-content-type-options")).toBe("nosniff");
    // Revalidated, not refetched: the content never changes under its URL.
    const etag = got.headers.get("etag")!;
    expect((await download(running, bob, file.url, { "if-none-match": etag })).status).toBe(304);
    // ?download asks for a download of an image too.
    expect((await download(running, bob, `${file.url}?download=1`)).headers.get("content-disposition")).toStartWith(
      "attachment;",
    );

    // Someone who is not in the room: the same answer as for no such file.
    const carol = await signIn(running.base, "carol");
    const carolSocket = await apps.connect(running, carol.cookie);
    await carolSocket.next("history", (f) => f.room === "lobby");
    carolSocket.send({ type: "leave", room: "lobby" });
    await carolSocket.next("room", (f) => f.data.event === "left");
    const refused = await download(running, carol, file.url);
    expect(refused.status).toBe(404);
    expect(((await refused.json()) as { error: string }).error).toBe("not_found");
    expect((await download(running, carol, `/files/${message.id + 1000}/x`)).status).toBe(404);
    expect((await download(running, undefined, file.url)).status).toBe(401);
    expect((await download(running, bob, "/files/abc/x")).status).toBe(404);
  });

  test("a direct conversation (?with=): both get it, created on first use; nobody else downloads it", async () => {
    const running = await start();
    const { alice, bob, a, b } = await two(running);
    const posted = await upload(running, alice, `with=${bob.user.id}`, "meeting notes\n", "notes.txt");
    expect(posted.status).toBe(200);
    const message = posted.body.message!;
    expect(message).toMatchObject({ type: "private", to: bob.user.id, data: "" });
    expect(message.file).toMatchObject({ name: "notes.txt", type: "text/plain", size: 14 });
    expect(message.file!.width).toBeUndefined();
    for (const socket of [a, b])
      expect((await socket.next("private", (f) => f.id === message.id)).file).toEqual(message.file!);
    const got = await download(running, bob, message.file!.url);
    expect(got.status).toBe(200);
    expect(got.headers.get("content-type")).toBe("application/octet-stream");
    expect(got.headers.get("content-disposition")).toBe(`attachment; filename="notes.txt"; filename*=UTF-8''notes.txt`);
    const carol = await signIn(running.base, "carol");
    expect((await download(running, carol, message.file!.url)).status).toBe(404);
    expect((await upload(running, alice, "with=999999", "x")).body.error).toBe("unknown_user");
  });

  test("the type comes from the bytes: HTML called cat.png and an SVG are attachments, with nosniff and a sandbox", async () => {
    const running = await start();
    const { alice, bob } = await two(running);
    const html = await upload(
      running,
      alice,
      "room=lobby",
      "<html><script>alert(document.cookie)</script>",
      "cat.png",
      {
        type: "image/png",
      },
    );
    expect(html.status).toBe(200);
    expect(html.body.message!.file).toMatchObject({ name: "cat.png", type: "text/html" });
    expect(html.body.message!.file!.width).toBeUndefined();
    const svg = await upload(
      running,
      alice,
      "room=lobby",
      '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><circle r="5"/></svg>',
      "logo.svg",
      { type: "image/svg+xml" },
    );
    expect(svg.body.message!.file!.type).toBe("image/svg+xml");
    for (const posted of [html, svg]) {
      const got = await download(running, bob, posted.body.message!.file!.url);
      expect(got.status).toBe(200);
      expect(got.headers.get("content-type")).toBe("application/octet-stream");
      expect(got.headers.get("content-disposition")).toStartWith("attachment;");
      expect(got.headers.get("x-content-type-options")).toBe("nosniff");
      expect(got.headers.get("content-security-policy")).toBe("sandbox; default-src 'none'");
    }
  });

  test("a JPEG's GPS position (Exif and XMP) is gone before anyone can download it; its orientation stays", async () => {
    const running = await start();
    const { alice, bob } = await two(running);
    const photo = jpegWithGps(64, 48, 6);
    const posted = await upload(running, alice, "room=lobby", photo, "IMG_0001.JPG", { type: "image/jpeg" });
    expect(posted.status).toBe(200);
    // Orientation 6: shown 48 wide, 64 high.
    expect(posted.body.message!.file).toMatchObject({ type: "image/jpeg", width: 48, height: 64 });
    const got = new Uint8Array(await (await download(running, bob, posted.body.message!.file!.url)).arrayBuffer());
    expect(contains(photo, GPS_LATITUDE)).toBe(true);
    expect(contains(got, GPS_LATITUDE)).toBe(false);
    expect(contains(got, "GPSLatitude")).toBe(false);
    expect(got.length).toBe(posted.body.message!.file!.size);
    const broken = await upload(running, alice, "room=lobby", photo.subarray(0, 30), "broken.jpg");
    expect([broken.status, broken.body.error]).toEqual([400, "invalid_image"]);
  });

  test("refusals: where, what, who and from where, each with its status and nothing posted", async () => {
    const running = await start({ maxMessageLength: 20 });
    const { alice, b } = await two(running);
    const cases: Array<[Answer, number, string]> = [
      [await upload(running, alice, "", "x"), 400, "invalid_target"],
      [await upload(running, alice, "room=lobby&with=1", "x"), 400, "invalid_target"],
      [await upload(running, alice, "with=-3", "x"), 400, "invalid_target"],
      [await upload(running, alice, "room=nowhere", "x"), 403, "not_a_member"],
      [await upload(running, alice, "room=lobby", ""), 400, "empty_file"],
      [await upload(running, alice, "room=lobby", "x", "a.txt", { caption: "c".repeat(21) }), 400, "too_long"],
      [await upload(running, undefined, "room=lobby", "x"), 401, "not_signed_in"],
      [
        await upload(running, alice, "room=lobby", "x", "a.txt", { headers: { origin: "https://evil.example" } }),
        403,
        "forbidden_origin",
      ],
    ];
    for (const [answer, status, error] of cases) expect([answer.status, answer.body.error]).toEqual([status, error]);
    const notForm = await fetch(`${running.base}/files?room=lobby`, {
      method: "POST",
      headers: { cookie: alice.cookie, "content-type": "application/json" },
      body: JSON.stringify({ file: "x" }),
    });
    expect(notForm.status).toBe(400);
    const noFile = new FormData();
    noFile.set("caption", "no file here");
    const noFileAnswer = await fetch(`${running.base}/files?room=lobby`, {
      method: "POST",
      headers: { cookie: alice.cookie },
      body: noFile,
    });
    expect([noFileAnswer.status, ((await noFileAnswer.json()) as { error: string }).error]).toEqual([400, "no_file"]);
    expect((await b.drain(100)).filter((f) => f.type === "chat")).toEqual([]);
  });

  test("413 before the body is read when Content-Length says so, and while it streams without one", async () => {
    const running = await start({ maxFileBytes: 1024 * 1024 });
    const { alice, b } = await two(running);
    // Headers only: the answer comes before a byte of the 50 MB body is sent.
    const announced = await rawConnection(running);
    announced.write(
      `POST /files?room=lobby HTTP/1.1\r\nhost: 127.0.0.1\r\ncookie: ${alice.cookie}\r\n` +
        "content-type: multipart/form-data; boundary=xyz\r\ncontent-length: 50000000\r\n\r\n",
    );
    await within(3000, () => announced.received().length > 0);
    // Far past the limit Bun itself refuses it (no body); just past it, teahouse says why.
    expect(announced.received()).toStartWith("HTTP/1.1 413");
    announced.end();
    const justOver = await rawConnection(running);
    justOver.write(
      `POST /files?room=lobby HTTP/1.1\r\nhost: 127.0.0.1\r\ncookie: ${alice.cookie}\r\n` +
        `content-type: multipart/form-data; boundary=xyz\r\ncontent-length: ${1024 * 1024 + UPLOAD_OVERHEAD_BYTES + 1}\r\n\r\n`,
    );
    await within(3000, () => justOver.received().includes("}"));
    expect(justOver.received()).toStartWith("HTTP/1.1 413");
    expect(justOver.received()).toContain('"error":"file_too_large"');
    justOver.end();
    // Chunked, no length: refused once the body passes the limit, long before its end.
    const streamed = await rawConnection(running);
    streamed.write(
      `POST /files?room=lobby HTTP/1.1\r\nhost: 127.0.0.1\r\ncookie: ${alice.cookie}\r\n` +
        "content-type: multipart/form-data; boundary=xyz\r\ntransfer-encoding: chunked\r\n\r\n",
    );
    const chunk = new Uint8Array(64 * 1024).fill(65);
    let sent = 0;
    for (let i = 0; i < 400 && streamed.received() === ""; i++) {
      streamed.write(`${chunk.length.toString(16)}\r\n`);
      streamed.write(chunk);
      streamed.write("\r\n");
      sent += chunk.length;
      await Bun.sleep(2);
    }
    await within(3000, () => streamed.received().length > 0);
    expect(streamed.received()).toStartWith("HTTP/1.1 413");
    expect(sent).toBeLessThan(4 * 1024 * 1024);
    streamed.end();
    // A file just under the limit goes through.
    expect(
      (await upload(running, alice, "room=lobby", new Uint8Array(1024 * 1024 - 10).fill(7), "ok.bin")).status,
    ).toBe(200);
    expect((await b.next("chat")).file!.size).toBe(1024 * 1024 - 10);
    // Just over: 413, also when it fits in the request's overhead.
    const over = await upload(running, alice, "room=lobby", new Uint8Array(1024 * 1024 + 1), "over.bin");
    expect([over.status, over.body.error]).toEqual([413, "file_too_large"]);
    // The page says the limit before anyone tries.
    const page = await (await fetch(running.base, { headers: { cookie: alice.cookie } })).text();
    expect(page).toContain(`data-max-file-bytes="${1024 * 1024}"`);
  });

  test("other routes keep their 64 KiB body limit, and need a length", async () => {
    const running = await start();
    const big = await fetch(`${running.base}/wsin`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "x".repeat(100 * 1024) }),
    });
    expect(big.status).toBe(413);
    const chunked = await rawConnection(running);
    chunked.write(
      "POST /wsin HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n",
    );
    await within(3000, () => chunked.received().length > 0);
    expect(chunked.received()).toStartWith("HTTP/1.1 411");
    chunked.end();
  });

  test("quota per account, and the upload rate per account (429 with Retry-After)", async () => {
    const running = await start({ fileQuotaPerAccountBytes: 1000, fileUploadsPerMinute: 3 });
    const { alice, bob } = await two(running);
    expect((await upload(running, alice, "room=lobby", new Uint8Array(600).fill(1))).status).toBe(200);
    const over = await upload(running, alice, "room=lobby", new Uint8Array(600).fill(2));
    expect([over.status, over.body.error]).toEqual([413, "quota_exceeded"]);
    // Another account has its own quota.
    expect((await upload(running, bob, "room=lobby", new Uint8Array(600).fill(2))).status).toBe(200);
    expect((await upload(running, alice, "room=lobby", new Uint8Array(300).fill(3))).status).toBe(200);
    const limited = await upload(running, alice, "room=lobby", new Uint8Array(10).fill(4));
    expect([limited.status, limited.body.error]).toEqual([429, "rate_limited"]);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
  });

  test("a deleted message's file goes once no message refers to it; the same content in another message stays", async () => {
    const running = await start();
    const { alice, bob, a } = await two(running);
    const bytes = png(8, 8, [1, 2, 3]);
    const first = (await upload(running, alice, "room=lobby", bytes, "one.png")).body.message!;
    const second = (await upload(running, alice, "room=lobby", bytes, "two.png")).body.message!;
    expect(first.file!.url).not.toBe(second.file!.url);
    const files = running.teahouse.files!;
    const later = Date.now() + ORPHAN_GRACE_MS + 1000;
    a.send({ type: "delete", id: first.id });
    await a.next("delete", (f) => f.data.id === first.id);
    expect((await lobbyPage(a)).data.find((m) => m.id === first.id)?.file).toBeUndefined();
    expect((await download(running, bob, first.file!.url)).status).toBe(404);
    expect(await files.collect(later)).toBe(0);
    expect((await download(running, bob, second.file!.url)).status).toBe(200);
    a.send({ type: "delete", id: second.id });
    await a.next("delete", (f) => f.data.id === second.id);
    // Within the grace an upload may be about to refer to it: kept.
    expect(await files.collect(Date.now())).toBe(0);
    expect(await files.collect(later)).toBe(1);
    expect((await running.teahouse.store.fileUsage(alice.user.id)).total).toBe(0);
    expect((await download(running, bob, second.file!.url)).status).toBe(404);
    // Uploaded again, it is stored again.
    const third = (await upload(running, alice, "room=lobby", bytes, "three.png")).body.message!;
    expect(
      Buffer.from(await (await download(running, bob, third.file!.url)).arrayBuffer()).equals(Buffer.from(bytes)),
    ).toBe(true);
  });

  test("retention prunes a file's message like any other, and then its file", async () => {
    const running = await start({ historyMaxPerRoom: 1 });
    const { alice, bob, a } = await two(running);
    const posted = (await upload(running, alice, "room=lobby", "old notes", "old.txt")).body.message!;
    a.send({ type: "chat", data: "newer", cid: "n1" });
    await a.next("ack");
    await running.teahouse.housekeeping();
    expect(await running.teahouse.files!.collect(Date.now() + ORPHAN_GRACE_MS + 1000)).toBe(1);
    expect((await download(running, bob, posted.file!.url)).status).toBe(404);
  });

  test("resume: a file posted while away comes back in the recovered history, with its file", async () => {
    const running = await start();
    const { alice, bob, b } = await two(running);
    const position = (await lobbyPage(b)).position;
    b.close();
    const posted = (await upload(running, alice, "room=lobby", png(4, 4), "away.png")).body.message!;
    const back = await apps.connect(running, bob.cookie, `?since=${position.offset}&epoch=${position.epoch}`);
    const history = await back.next("history", (f) => f.room === "lobby");
    expect(history.recovered).toBe(true);
    expect(history.data.map((m) => [m.id, m.file?.name])).toEqual([[posted.id, "away.png"]]);
  });

  test("search finds a file by its name and caption; has:file and has:image", async () => {
    const running = await start();
    const { alice, a } = await two(running);
    await upload(running, alice, "room=lobby", png(4, 4), "quarterly-report.png");
    await upload(running, alice, "room=lobby", "text", "budget.xlsx", { caption: "the spreadsheet" });
    a.send({ type: "chat", data: "no file at all budget", cid: "c1" });
    await a.next("ack");
    await running.teahouse.indexer!.drain();
    const search = async (q: string) => {
      const response = await fetch(`${running.base}/search?q=${encodeURIComponent(q)}`, {
        headers: { cookie: alice.cookie },
      });
      expect(response.status).toBe(200);
      return ((await response.json()) as { data: Array<{ text: string; file?: FileRef }> }).data.map(
        (hit) => hit.file?.name ?? hit.text,
      );
    };
    expect(await search("quarterly")).toEqual(["quarterly-report.png"]);
    expect(await search("budget")).toEqual(["no file at all budget", "budget.xlsx"]);
    expect(await search("spreadsheet")).toEqual(["budget.xlsx"]);
    expect(await search("budget has:file")).toEqual(["budget.xlsx"]);
    expect(await search("has:image")).toEqual(["quarterly-report.png"]);
    expect(await search("has:file")).toEqual(["budget.xlsx", "quarterly-report.png"]);
  });

  test("with the disk store the bytes live under DATA_DIR/files by their hash", async () => {
    const { mkdtempSync, existsSync, rmSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const dir = mkdtempSync(join(tmpdir(), "teahouse-files-"));
    try {
      const running = await start({ dataDir: dir });
      const alice = await signIn(running.base, "alice");
      const bytes = png(5, 5);
      const posted = (await upload(running, alice, "room=lobby", bytes, "disk.png")).body.message!;
      const hash = new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
      expect(existsSync(join(dir, "files", hash.slice(0, 2), hash))).toBe(true);
      expect((await download(running, alice, posted.file!.url)).status).toBe(200);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
