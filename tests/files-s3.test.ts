/**
 * Files in an S3-compatible bucket (S3_BUCKET), against a local S3 server started by the test
 * (s3rver): the bytes are objects named by their hash, downloaded identical, removed when nothing
 * refers to them; and two instances on one PostgreSQL, one Redis and one bucket: a file uploaded on
 * one reaches a member on the other live, who downloads it from the other.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { S3Client } from "bun";
import S3rver from "@20minutes/s3rver";
import { ORPHAN_GRACE_MS } from "../src/services/files";
import type { Config } from "../src/config";
import { signIn, trackApps } from "./helpers";
import { useClusterServices } from "./cluster-services";
import { download, upload } from "./uploads";
import { png } from "./images";

const BUCKET = "teahouse-files";
const services = useClusterServices();
const { start, connect } = trackApps();
let folder: string;
let server: S3rver;
let s3: Partial<Config>;
let bucket: S3Client;

beforeAll(async () => {
  folder = mkdtempSync(join(tmpdir(), "teahouse-s3-"));
  server = new S3rver({
    port: 0,
    address: "127.0.0.1",
    silent: true,
    directory: folder,
    configureBuckets: [{ name: BUCKET, configs: [] }],
  });
  const { port } = await server.run();
  // s3rver takes any key pair (its default is S3RVER/S3RVER).
  s3 = {
    s3Bucket: BUCKET,
    s3Endpoint: `http://127.0.0.1:${port}`,
    s3Region: "us-east-1",
    s3AccessKeyId: "S3RVER",
    s3SecretAccessKey: "S3RVER",
  };
  bucket = new S3Client({
    bucket: BUCKET,
    endpoint: s3.s3Endpoint!,
    region: "us-east-1",
    accessKeyId: "S3RVER",
    secretAccessKey: "S3RVER",
  });
});

afterAll(async () => {
  await server?.close();
  rmSync(folder, { recursive: true, force: true });
});

const hashOf = (bytes: Uint8Array) => new Bun.CryptoHasher("sha256").update(bytes).digest("hex");

test("S3 mode: the bytes are an object named by their hash, come back identical, and go when nothing refers to them", async () => {
  const running = await start({ ...s3 });
  const alice = await signIn(running.base, "alice");
  const socket = await connect(running, alice.cookie);
  await socket.next("history", (f) => f.room === "lobby");
  const bytes = png(12, 9);
  const posted = await upload(running, alice, "room=lobby", bytes, "bucket.png");
  expect(posted.status).toBe(200);
  const key = `files/${hashOf(bytes)}`;
  expect(await bucket.exists(key)).toBe(true);
  expect(Buffer.from(await bucket.file(key).arrayBuffer()).equals(Buffer.from(bytes))).toBe(true);
  const got = await download(running, alice, posted.body.message!.file!.url);
  expect(got.status).toBe(200);
  expect(got.headers.get("content-type")).toBe("image/png");
  expect(Buffer.from(await got.arrayBuffer()).equals(Buffer.from(bytes))).toBe(true);

  socket.send({ type: "delete", id: posted.body.message!.id });
  await socket.next("delete");
  expect(await running.teahouse.files!.collect(Date.now() + ORPHAN_GRACE_MS + 1000)).toBe(1);
  expect(await bucket.exists(key)).toBe(false);
});

test("two instances on PostgreSQL, Redis and one bucket: uploaded on one, live and downloadable on the other", async () => {
  const [a, b] = await services.twoInstances(start, s3);
  const alice = await signIn(a.base, "alice");
  const bob = await signIn(b.base, "bob");
  const bobOnB = await connect(b, bob.cookie);
  await bobOnB.next("history", (f) => f.room === "lobby");
  const bytes = new TextEncoder().encode("shared across instances\n".repeat(1000));
  const posted = await upload(a, alice, "room=lobby", bytes, "shared.txt", { caption: "from A" });
  expect(posted.status).toBe(200);
  const live = await bobOnB.next("chat", (f) => f.id === posted.body.message!.id, 5000);
  expect(live.data).toBe("from A");
  expect(live.file).toEqual(posted.body.message!.file!);
  const got = await download(b, bob, live.file!.url);
  expect(got.status).toBe(200);
  expect(Buffer.from(await got.arrayBuffer()).equals(Buffer.from(bytes))).toBe(true);
  // The direct conversation too: created by an upload on A, its file downloaded on B.
  const direct = await upload(a, alice, `with=${bob.user.id}`, png(3, 3), "for-bob.png");
  const delivered = await bobOnB.next("private", (f) => f.id === direct.body.message!.id, 5000);
  expect((await download(b, bob, delivered.file!.url)).status).toBe(200);
});
