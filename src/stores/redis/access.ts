import { invalidType } from "../../errors.js";
import type { RedisAccess } from "./client.js";
import { type IoredisClientLike, type IoredisClusterLike, ioredisAccess, isIoredis } from "./ioredis.js";
import { isNodeRedis, type NodeRedisClientLike, type NodeRedisClusterLike, nodeRedisAccess } from "./nodeRedis.js";

/**
 * A Redis client RedisStore accepts: ioredis 5/6 `Redis` or `Cluster`, a
 * fork of the same shape (iovalkey), node-redis 5+ `createClient()` or
 * `createCluster()`. Typed by shape: no family has to be installed.
 */
export type RedisClientLike = IoredisClientLike | IoredisClusterLike | NodeRedisClientLike | NodeRedisClusterLike;

/** The RedisAccess for `client`, recognised by its methods (never by its constructor's name); a TypeError for anything else. */
export function redisAccess(client: unknown): RedisAccess {
  if (isNodeRedis(client)) return nodeRedisAccess(client);
  if (isIoredis(client)) return ioredisAccess(client);
  throw invalidType("client", "an ioredis or node-redis client (standalone or cluster)", client);
}
