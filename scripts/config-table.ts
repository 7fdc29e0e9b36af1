/** Prints the README's configuration table from src/config.ts (a test checks the README has it verbatim). */
import { OPTIONS, shownDefault } from "../src/config";

export const configTable = (): string =>
  [
    "| Variable | Flag | Default | Meaning |",
    "| --- | --- | --- | --- |",
    ...OPTIONS.map((o) => `| \`${o.env}\` | \`${o.flag}\` | \`${shownDefault(o)}\` | ${o.doc} |`),
  ].join("\n");

if (import.meta.main) console.log(configTable());
