/** Running teahouse's operator commands (`admin …`, `backup`, `restore`) as real processes, and cleaning up after them. */
import { afterEach } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Client } from "./helpers";
import { runToExit, stopProcess, type ServerProcess } from "./process";

/** `bun src/index.ts ...args`, with `env` added and `stdin` (text) on its standard input. */
export const cli = (args: string[], { env = {}, stdin = "" }: { env?: Record<string, string>; stdin?: string } = {}) =>
  runToExit(args, env, 30_000, stdin);

/**
 * What one test file's tests leave behind, cleaned after each: temporary folders (`tempDir`),
 * server processes (stopped with SIGTERM) and sockets.
 */
export const trackLeftovers = (prefix: string) => {
  const dirs: string[] = [];
  const servers: ServerProcess[] = [];
  const clients: Client[] = [];
  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    for (const server of servers.splice(0)) await stopProcess(server.proc);
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  return {
    servers,
    clients,
    tempDir(): string {
      const dir = mkdtempSync(join(tmpdir(), prefix));
      dirs.push(dir);
      return dir;
    },
  };
};
