/**
 * Structured one-line logs: JSON when stdout is not a terminal (containers,
 * files), readable text on a terminal. Callers pass facts (user id, IP, close
 * code) — never message bodies, cookies or secrets.
 */
import type { LogLevel } from "./config";

export type Fields = Record<string, string | number | boolean | null | undefined>;

export interface Logger {
  debug(event: string, fields?: Fields): void;
  info(event: string, fields?: Fields): void;
  warn(event: string, fields?: Fields): void;
  error(event: string, fields?: Fields): void;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export const createLogger = (
  level: LogLevel,
  write: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
  json = !process.stdout.isTTY,
): Logger => {
  const emit =
    (at: Exclude<LogLevel, "silent">) =>
    (event: string, fields: Fields = {}) => {
      if (RANK[at] < RANK[level]) return;
      const time = new Date().toISOString();
      if (json) return write(JSON.stringify({ time, level: at, event, ...fields }));
      const rest = Object.entries(fields)
        .filter(([, value]) => value !== undefined)
        .map(
          ([key, value]) => `${key}=${typeof value === "string" && /\s/.test(value) ? JSON.stringify(value) : value}`,
        )
        .join(" ");
      write(`${time} ${at.toUpperCase().padEnd(5)} ${event}${rest ? ` ${rest}` : ""}`);
    };
  return { debug: emit("debug"), info: emit("info"), warn: emit("warn"), error: emit("error") };
};
