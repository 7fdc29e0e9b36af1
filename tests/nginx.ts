/**
 * Debian's nginx running deploy/nginx.conf for tests: the file's own lines,
 * with the test's ports, paths and timeouts put in (each replaced line must
 * still exist, so the file and the tests cannot drift apart). `upstreams`
 * lists the app instances: two or more is the compose deployment's shape.
 */
import { chmodSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, waitFor200 } from "./process";

const NGINX = ["/usr/sbin/nginx", "/usr/bin/nginx"].find((path) => existsSync(path));
const DEPLOY_CONF = join(import.meta.dir, "..", "deploy", "nginx.conf");

/** The upstream line of deploy/nginx.conf (deploy/compose.yaml rewrites it the same way). */
export const UPSTREAM_LINE = "server 127.0.0.1:3000;";

export interface TestNginx {
  base: string;
  stop(): Promise<void>;
}

export const startNginx = async (
  upstreams: readonly number[],
  { proxyReadTimeoutS = 300 }: { proxyReadTimeoutS?: number } = {},
): Promise<TestNginx> => {
  if (!NGINX)
    throw new Error("nginx is not installed: apt-get install -y --no-install-recommends nginx (.ci/run does)");
  const tmp = mkdtempSync(join(tmpdir(), "teahouse-nginx-"));
  chmodSync(tmp, 0o755); // nginx workers run as an unprivileged user and write the cache here
  const port = freePort();
  let conf = await Bun.file(DEPLOY_CONF).text();
  const replace = (from: string, to: string) => {
    if (!conf.includes(from)) throw new Error(`deploy/nginx.conf no longer contains "${from}"; update tests/nginx.ts`);
    conf = conf.replaceAll(from, to);
  };
  replace(UPSTREAM_LINE, upstreams.map((upstream) => `server 127.0.0.1:${upstream};`).join(" "));
  replace("listen 80;", `listen 127.0.0.1:${port};`);
  replace("proxy_read_timeout 300s;", `proxy_read_timeout ${proxyReadTimeoutS}s;`);
  replace("/var/cache/nginx/teahouse", join(tmp, "cache"));
  const temp = (name: string) => join(tmp, name);
  await Bun.write(
    join(tmp, "nginx.conf"),
    `daemon off;
worker_processes 1;
pid ${temp("nginx.pid")};
error_log ${temp("error.log")} info;
events { worker_connections 128; }
http {
  access_log ${temp("access.log")};
  client_body_temp_path ${temp("client_body")};
  proxy_temp_path ${temp("proxy")};
  fastcgi_temp_path ${temp("fastcgi")};
  uwsgi_temp_path ${temp("uwsgi")};
  scgi_temp_path ${temp("scgi")};
  types { text/html html; }
${conf}
}
`,
  );
  const proc = Bun.spawn([NGINX, "-p", tmp, "-c", join(tmp, "nginx.conf"), "-e", join(tmp, "error.log")], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const base = `http://127.0.0.1:${port}`;
  const stop = async () => {
    proc.kill("SIGQUIT");
    const timer = setTimeout(() => proc.kill("SIGKILL"), 5_000);
    await proc.exited;
    clearTimeout(timer);
    rmSync(tmp, { recursive: true, force: true });
  };
  try {
    await waitFor200(`${base}/healthz`, 10_000);
  } catch (error) {
    const log = await Bun.file(join(tmp, "error.log"))
      .text()
      .catch(() => "");
    await stop();
    throw new Error(`nginx did not start: ${(error as Error).message}\n${log}`);
  }
  return { base, stop };
};
