/**
 * Runs teahouse as a real child process (for crash, restart and signal tests):
 * `bun src/index.ts` with flags, waiting for its "listening" log line.
 */
import type { Subprocess } from "bun";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..");

export interface ServerProcess {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  port: number;
  base: string;
  wsUrl: string;
  /** Everything the process printed so far (stdout and stderr). */
  output(): string;
}

/**
 * Starts `command` (default: bun src/index.ts) with `args`; resolves once it
 * logs its URL. Rejects with its output if it exits first or takes too long.
 */
export const spawnServer = async (
  args: string[],
  { command = [process.execPath, join(ROOT, "src/index.ts")], cwd = ROOT, env = {}, timeoutMs = 15_000 } = {},
): Promise<ServerProcess> => {
  const proc = Bun.spawn([...command, "--host", "127.0.0.1", "--port", "0", ...args], {
    cwd,
    env: { ...process.env, LOG_LEVEL: "info", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  let text = "";
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) text += decoder.decode(chunk);
  };
  void pump(proc.stdout);
  void pump(proc.stderr);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = /"url":"http:\/\/[^:]+:(\d+)\//.exec(text) ?? /listening url=http:\/\/[^:]+:(\d+)\//.exec(text);
    if (match) {
      const port = Number(match[1]);
      return {
        proc,
        port,
        base: `http://127.0.0.1:${port}`,
        wsUrl: `ws://127.0.0.1:${port}/ws/chat`,
        output: () => text,
      };
    }
    if (proc.exitCode !== null || Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`server did not start (exit ${proc.exitCode}):\n${text}`);
    }
    await Bun.sleep(25);
  }
};

/** Polls `GET /` until it answers 200. */
export const waitUntilServing = async (base: string, timeoutMs = 10_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while ((await fetch(`${base}/`).catch(() => undefined))?.status !== 200) {
    if (Date.now() > deadline) throw new Error(`${base} did not start serving`);
    await Bun.sleep(50);
  }
};

/** Runs the server expecting it to exit (with `stdin`: that text on its input); returns its exit code and output. */
export const runToExit = async (
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 15_000,
  stdin?: string,
) => {
  const proc = Bun.spawn([process.execPath, join(ROOT, "src/index.ts"), ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    ...(stdin === undefined ? {} : { stdin: new TextEncoder().encode(stdin) }),
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  clearTimeout(timer);
  return { code, stdout, stderr };
};

/** Sends `signal` and resolves with the exit code; SIGKILL after `timeoutMs`. */
export const stopProcess = async (
  proc: Subprocess<"ignore" | "pipe" | "inherit", "pipe" | "inherit" | "ignore", "pipe" | "inherit" | "ignore">,
  signal: NodeJS.Signals = "SIGTERM",
  timeoutMs = 10_000,
): Promise<number> => {
  if (proc.exitCode !== null) return proc.exitCode;
  proc.kill(signal);
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  const code = await proc.exited;
  clearTimeout(timer);
  return code;
};

/** A port that was free a moment ago on 127.0.0.1 (for programs that cannot take port 0, like nginx). */
export const freePort = (): number => {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
};

/** Polls `url` until it answers 200 or `timeoutMs` passes. */
export const waitFor200 = async (url: string, timeoutMs = 10_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url);
      if (response.status === 200) return;
      last = `status ${response.status}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await Bun.sleep(25);
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms (${last})`);
};

/** Runs a command to completion with a minimal environment; returns its exit code and output. */
export const runCommand = (cmd: string[], cwd: string, env: Record<string, string> = {}) => {
  const result = Bun.spawnSync(cmd, { cwd, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env } });
  return { code: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
};

/**
 * Runs a bench script (`bench/<name>.ts --smoke`) to its end and returns the
 * JSON report it prints as its last line; throws with its output if it fails.
 */
export const runBenchSmoke = async <T>(script: string): Promise<T> => {
  const child = Bun.spawn([process.execPath, script, "--smoke"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  if (code !== 0) throw new Error(`${script} --smoke failed (${code}):\n${out}\n${err}`);
  return JSON.parse(out.trim().split("\n").pop()!) as T;
};
