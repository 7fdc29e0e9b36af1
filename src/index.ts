/**
 * Entry point: read the configuration, start the app, stop cleanly on
 * SIGTERM/SIGINT. Everything else lives in createApp.
 */
import { ConfigError, helpText, loadConfig } from "./config";
import { createApp } from "./app";
import { StoreError } from "./store/db";
import pkg from "../package.json" with { type: "json" };

const argv = process.argv.slice(2);
if (argv.includes("--help") || argv.includes("-h")) {
  console.log(helpText());
  process.exit(0);
}
if (argv.includes("--version")) {
  console.log(pkg.version);
  process.exit(0);
}

let teahouse: ReturnType<typeof createApp>;
try {
  teahouse = createApp(loadConfig(Bun.env, argv));
} catch (error) {
  if (error instanceof ConfigError || error instanceof StoreError) {
    console.error(`teahouse: ${error.message}`);
    process.exit(2);
  }
  throw error;
}

const server = teahouse.listen();
teahouse.log.info("listening", {
  url: `http://${server.hostname === "0.0.0.0" ? "localhost" : server.hostname}:${server.port}/`,
});

let stopping = false;
const stop = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  teahouse.log.info("stopping", { signal });
  await teahouse.stop();
  process.exit(0);
};
process.on("SIGTERM", () => void stop("SIGTERM"));
process.on("SIGINT", () => void stop("SIGINT"));
