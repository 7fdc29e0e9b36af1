/**
 * The README's configuration table, generated from src/config.ts.
 * `bun scripts/config-table.ts` prints it; `--write` replaces it in README.md
 * (between the config-table markers). A test checks the README is current.
 */
import { OPTIONS, shownDefault } from "../src/config";

export const configTable = (): string =>
  [
    "| Variable | Flag | Default | Meaning |",
    "| --- | --- | --- | --- |",
    ...OPTIONS.map((o) => `| \`${o.env}\` | \`${o.flag}\` | \`${shownDefault(o)}\` | ${o.doc} |`),
  ].join("\n");

const START = "<!-- config-table:start -->";
const END = "<!-- config-table:end -->";

if (import.meta.main) {
  if (!process.argv.includes("--write")) console.log(configTable());
  else {
    const path = new URL("../README.md", import.meta.url);
    const readme = await Bun.file(path).text();
    const [before, rest] = readme.split(START);
    const after = rest?.split(END)[1];
    if (before === undefined || after === undefined) throw new Error(`README.md lacks ${START} … ${END}`);
    await Bun.write(path, `${before}${START}\n\n${configTable()}\n\n${END}${after}`);
  }
}
