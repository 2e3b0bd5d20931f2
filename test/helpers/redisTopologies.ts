import { type Cluster, Redis } from "ioredis";
import { REDIS_URL, redisAvailable } from "./redis.js";
import { clusterClient, testCluster } from "./redisCluster.js";
import type { ClientFamily, RedisTopology } from "./redisFlavors.js";

/** The client families the bridge suites run with (their child-process node knows these four). */
export const BRIDGE_FAMILIES: ClientFamily[] = ["ioredis5", "ioredis6", "redis5", "redis6"];

/** The client families the store suites run with: the bridge's and iovalkey. */
export const STORE_FAMILIES: ClientFamily[] = ["ioredis5", "ioredis6", "iovalkey", "redis5", "redis6"];

/**
 * Where the bridge suites run: the standalone Redis when it answers and the
 * test cluster when there is one (`stopTestCluster` in the file's `afterAll`).
 */
export async function testTopologies(): Promise<RedisTopology[]> {
  const available = await redisAvailable();
  const cluster = await testCluster();
  return [
    ...(available ? [{ kind: "standalone" as const, urls: [REDIS_URL] }] : []),
    ...(cluster ? [{ kind: "cluster" as const, urls: cluster.urls }] : []),
  ];
}

/** An ioredis client for the test's own checks and cleanup on `topology`. */
export function adminOf(topology: RedisTopology): Redis | Cluster {
  if (topology.kind === "cluster") return clusterClient(topology.urls);
  const admin = new Redis(topology.urls[0]!, { maxRetriesPerRequest: 1 });
  admin.on("error", () => {});
  return admin;
}
