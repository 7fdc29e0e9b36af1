/**
 * A real PostgreSQL and a real Redis for one test file (started before its
 * tests, removed after), and two in-process instances on them that have
 * heard each other.
 */
import { afterAll, beforeAll } from "bun:test";
import type { Config } from "../src/config";
import { within, type Running } from "./helpers";
import { TestPostgres } from "./postgres";
import { TestRedis } from "./redis";

const SECRET = "cluster-test-secret-that-is-long-enough";

export const useClusterServices = () => {
  const postgres = new TestPostgres();
  const redis = new TestRedis();
  beforeAll(async () => {
    await Promise.all([postgres.start(), redis.start()]);
  });
  afterAll(async () => {
    await Promise.all([postgres.dispose(), redis.dispose()]);
  });
  /** Two instances on one fresh database (`start` from trackApps), each having heard the other. */
  const twoInstances = async (
    start: (overrides: Partial<Config>) => Promise<Running>,
    overrides: Partial<Config> = {},
  ): Promise<[Running, Running]> => {
    const options = { databaseUrl: await postgres.database(), redisUrl: redis.url, secrets: [SECRET], ...overrides };
    const a = await start(options);
    const b = await start(options);
    await within(5000, () => a.teahouse.cluster!.peerCount === 1 && b.teahouse.cluster!.peerCount === 1);
    return [a, b];
  };
  return { postgres, redis, twoInstances };
};
