/** Runs one of teahouse's operator commands (`admin …`, `backup`, `restore`) as a real process. */
import { join } from "node:path";

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
