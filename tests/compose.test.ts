/**
 * deploy/compose.yaml's wiring, read as data (no container engine with
 * registry access here: tests/nginx-cluster.test.ts runs the same shape with
 * real processes). Every service has a health check; the instances share the
 * store, the bus and the secret; nginx gets deploy/nginx.conf with its
 * upstream line rewritten to list every instance, and is the one proxy
 * trusted; every variable set on an instance is a configuration option.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { OPTIONS } from "../src/config";
import { UPSTREAM_LINE } from "./nginx";

type Service = {
  image?: string;
  build?: unknown;
  command?: string[] | string;
  environment?: Record<string, string>;
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  volumes?: string[];
  networks?: Record<string, { ipv4_address?: string }> | string[];
};

const compose = Bun.YAML.parse(await Bun.file(join(import.meta.dir, "..", "deploy", "compose.yaml")).text()) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};
const services = compose.services;
const instances = Object.keys(services).filter((name) => name.startsWith("teahouse-"));

test("deploy/compose.yaml: two instances on one PostgreSQL and one Redis, nginx in front, every service health-checked", async () => {
  expect(instances).toEqual(["teahouse-1", "teahouse-2"]);
  for (const name of Object.keys(services)) expect(services[name]!.healthcheck?.test.length).toBeGreaterThan(0);
  const known = new Set(OPTIONS.map((option) => option.env));
  const environments = instances.map((name) => services[name]!.environment!);
  for (const environment of environments) {
    for (const key of Object.keys(environment)) expect(known.has(key)).toBe(true);
    expect(environment.DATABASE_URL).toStartWith("postgres://teahouse:");
    expect(environment.DATABASE_URL).toContain("@postgres:5432/teahouse");
    expect(environment.REDIS_URL).toBe("redis://redis:6379");
    expect(environment).toEqual(environments[0]!);
  }
  for (const name of instances) {
    expect(services[name]!.depends_on?.postgres?.condition).toBe("service_healthy");
    expect(services[name]!.depends_on?.redis?.condition).toBe("service_healthy");
  }
  // PostgreSQL keeps its data in a named volume; Redis keeps nothing.
  expect(services.postgres!.volumes).toContain("postgres-data:/var/lib/postgresql/data");
  expect(Object.keys(compose.volumes)).toEqual(["postgres-data"]);
  expect(services.redis!.command).toEqual(["redis-server", "--save", "", "--appendonly", "no"]);

  // nginx: deploy/nginx.conf with the upstream line listing both instances; its fixed address is the trusted proxy.
  const nginx = services.nginx!;
  const script = (nginx.command as string[]).join(" ");
  const upstreams = instances.map((instance) => `server ${instance}:3000;`).join(" ");
  expect(script).toContain(`s/${UPSTREAM_LINE}/${upstreams}/`);
  expect(await Bun.file(join(import.meta.dir, "..", "deploy", "nginx.conf")).text()).toContain(UPSTREAM_LINE);
  const address = (nginx.networks as Record<string, { ipv4_address?: string }>).teahouse!.ipv4_address;
  expect(environments[0]!.TRUST_PROXY).toBe(address!);
  for (const instance of instances) expect(nginx.depends_on?.[instance]?.condition).toBe("service_healthy");
});
