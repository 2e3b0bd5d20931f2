import { type Cluster, Redis, type RedisOptions } from "ioredis";
import { generateUid } from "../../src/index.js";

/** The Redis the tests use: `REDIS_URL`, or the local default. */
export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

/** Client options that make calls fail fast while Redis is unreachable (what the README recommends). */
export const FAST_FAIL: RedisOptions = { maxRetriesPerRequest: 1, retryStrategy: () => 100 };

/** A new ioredis client on `url` (default `REDIS_URL`), failing fast. */
export function redisClient(url = REDIS_URL, options: RedisOptions = {}): Redis {
  const client = new Redis(url, { ...FAST_FAIL, ...options });
  client.on("error", () => {});
  return client;
}

/** Whether a Redis server answers PING at `url`. */
export async function answers(url: string = REDIS_URL): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000 });
  client.on("error", () => {});
  try {
    await client.connect();
    return (await client.ping()) === "PONG";
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/**
 * Whether Redis answers. Unreachable: the Redis tests are skipped with a
 * visible message, or fail when `REQUIRE_REDIS=1` (as in CI).
 */
export async function redisAvailable(): Promise<boolean> {
  if (await answers()) return true;
  if (process.env.REQUIRE_REDIS === "1") {
    throw new Error(`REQUIRE_REDIS=1 but Redis does not answer at ${REDIS_URL}`);
  }
  console.warn(`[redis tests] SKIPPED: Redis does not answer at ${REDIS_URL} (set REDIS_URL, or REQUIRE_REDIS=1 to fail instead).`);
  return false;
}

/** A key prefix of one test's own. */
export function testPrefix(): string {
  return `kis:test:${generateUid(10)}:`;
}

/** The masters of `client`: the client itself, or each master of a Cluster. */
export function mastersOf(client: Redis | Cluster): Redis[] {
  return "isCluster" in client && client.isCluster ? (client as Cluster).nodes("master") : [client as Redis];
}

/**
 * Deletes every key of `prefix` (records, locks, and keys of the layout
 * before 0.2) on every master, one key per DEL (a cluster has no cross-slot
 * DEL); resolves how many were deleted.
 */
export async function deleteKeys(client: Redis | Cluster, prefix: string): Promise<number> {
  let deleted = 0;
  for (const node of mastersOf(client)) {
    for (const pattern of [`${prefix}*`, `lock:${prefix}*`]) {
      let cursor = "0";
      do {
        const [next, keys] = await node.scan(cursor, "MATCH", pattern, "COUNT", 1000);
        cursor = next;
        for (const key of keys) deleted += await node.del(key);
      } while (cursor !== "0");
    }
  }
  return deleted;
}

/** Polls `check` every 10 ms until it resolves true; rejects after `timeoutMs`. */
export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** How many connections are subscribed to `channel` (PUBSUB NUMSUB). */
export async function subscriberCount(client: Redis | Cluster, channel: string): Promise<number> {
  let count = 0;
  for (const node of mastersOf(client)) {
    const reply = (await node.pubsub("NUMSUB", channel)) as [string, number];
    count += Number(reply[1]);
  }
  return count;
}

/** Resolves once `count` connections are subscribed to `channel`. */
export function subscribed(client: Redis | Cluster, channel: string, count: number): Promise<void> {
  return waitUntil(async () => (await subscriberCount(client, channel)) === count, 10_000, `${count} subscriber(s) on ${channel}`);
}
