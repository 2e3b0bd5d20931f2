// Type check only (`npm run typecheck`): every supported client is a `client` without a cast.
import { Cluster as Cluster5, Redis as Redis5 } from "ioredis";
import { Cluster as Cluster6, Redis as Redis6 } from "ioredis6";
import { Cluster as ValkeyCluster, Redis as Valkey } from "iovalkey";
import { createClient as createClient5, createCluster as createCluster5 } from "redis";
import { createClient as createClient6, createCluster as createCluster6 } from "redis6";
import type { RedisStoreOptions } from "../src/redis.js";

export const accepted: RedisStoreOptions["client"][] = [
  new Redis5({ lazyConnect: true }),
  new Cluster5([]),
  new Redis6({ lazyConnect: true }),
  new Cluster6([]),
  new Valkey({ lazyConnect: true }),
  new ValkeyCluster([]),
  createClient5(),
  createCluster5({ rootNodes: [] }),
  createClient6(),
  createCluster6({ rootNodes: [] }),
];
