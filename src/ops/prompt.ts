/**
 * A password for a command: typed on a terminal without echo (and typed twice), or one line read
 * from stdin when it is not a terminal (`echo "$PASSWORD" | teahouse admin create-owner alice`), so
 * it never appears in the process list or the shell history as an argument would.
 */
import { CommandError } from "./command";

const CTRL_C = "\u0003";
const CTRL_D = "\u0004";
const CTRL_U = "\u0015";
const BACKSPACES = new Set(["\u007f", "\b"]);

/** One line typed on the terminal with echo off (raw mode): Enter ends it, Ctrl-C cancels. */
const typed = (prompt: string): Promise<string> =>
  new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stderr.write(prompt);
    stdin.setRawMode(true);
    stdin.resume();
    stdin.setEncoding("utf8");
    let line = "";
    const done = (error?: Error) => {
      stdin.off("data", onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write("\n");
      if (error) reject(error);
      else resolve(line);
    };
    const onData = (chunk: string) => {
      for (const char of chunk) {
        if (char === "\r" || char === "\n") return done();
        if (char === CTRL_C || (char === CTRL_D && line === "")) return done(new CommandError("cancelled"));
        if (char === CTRL_U) line = "";
        else if (BACKSPACES.has(char)) line = [...line].slice(0, -1).join("");
        else if (char >= " ") line += char;
      }
    };
    stdin.on("data", onData);
  });

/** The first line of stdin (without its line end); reading stops there, the rest is left unread. */
const firstLine = async (): Promise<string> => {
  const decoder = new TextDecoder();
  let text = "";
  for await (const chunk of Bun.stdin.stream()) {
    text += decoder.decode(chunk, { stream: true });
    if (text.includes("\n")) break;
  }
  return text.split("\n")[0]!.replace(/\r$/, "");
};

/** A new password: asked twice on a terminal, else the first line of stdin. */
export const readNewPassword = async (what: string): Promise<string> => {
  if (!process.stdin.isTTY) {
    const line = await firstLine();
    if (line === "") throw new CommandError(`no password: type it, or give it as the first line of stdin`);
    return line;
  }
  const password = await typed(`Password for ${what}: `);
  if (password === "") throw new CommandError("no password given");
  if ((await typed("The same password again: ")) !== password) throw new CommandError("the passwords differ");
  return password;
};
