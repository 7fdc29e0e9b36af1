/** Runs one of teahouse's operator commands (`admin …`, `backup`, `restore`) as a real process. */
import { afterEach } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Client } from "./helpers";
import { stopProcess, type ServerProcess } from "./process";

const ROOT = join(import.meta.dir, "..");

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `bun src/index.ts ...args`, with `env` added and `stdin` (text) on its standard input. */
export const cli = async (
  args: string[],
  { env = {}, stdin = "" }: { env?: Record<string, string>; stdin?: string } = {},
): Promise<CliResult> => {
  const proc = Bun.spawn([process.execPath, join(ROOT, "src/index.ts"), ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdin: new TextEncoder().encode(stdin),
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), 30_000);
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  clearTimeout(timer);
  return { code, stdout, stderr };
};

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
