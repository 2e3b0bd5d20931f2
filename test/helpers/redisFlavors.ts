import { Cluster as Cluster5, Redis as Redis5 } from "ioredis";
import { Cluster as Cluster6, Redis as Redis6 } from "ioredis6";
import { Cluster as ValkeyCluster, Redis as Valkey } from "iovalkey";
import { createClient as createClient5, createCluster as createCluster5 } from "redis";
import { createClient as createClient6, createCluster as createCluster6 } from "redis6";
import type { RedisClientLike } from "../../src/redis.js";

/** The client packages the Redis suites run with. */
export type ClientFamily = "ioredis5" | "ioredis6" | "iovalkey" | "redis5" | "redis6";

/** Where Redis is: one server, or the node URLs of a cluster. */
export interface RedisTopology {
  kind: "standalone" | "cluster";
  urls: string[];
}

/** A user's client of `family` on `topology`, and how the user would close it. */
export interface FamilyClient {
  client: RedisClientLike;
  close(): Promise<void>;
}

const hostPort = (url: string) => ({ host: new URL(url).hostname, port: Number(new URL(url).port) });

/**
 * Opens a client the way the README shows for its family, with the fail-fast
 * settings it recommends. node-redis 5 is handed over unconnected (the store
 * connects it), node-redis 6 connected first (connect-redis' way).
 */
export async function openClient(family: ClientFamily, topology: RedisTopology): Promise<FamilyClient> {
  const cluster = topology.kind === "cluster";
  switch (family) {
    case "ioredis5":
    case "ioredis6":
    case "iovalkey": {
      const [R, C] = (family === "ioredis5" ? [Redis5, Cluster5] : family === "ioredis6" ? [Redis6, Cluster6] : [Valkey, ValkeyCluster]) as unknown as [
        typeof Redis5,
        typeof Cluster5,
      ];
      const options = { maxRetriesPerRequest: 1 };
      const client = cluster ? new C(topology.urls.map(hostPort), { redisOptions: options }) : new R(topology.urls[0]!, options);
      client.on("error", () => {});
      return { client: client as unknown as RedisClientLike, close: async () => void (await client.quit().catch(() => client.disconnect())) };
    }
    case "redis5":
    case "redis6": {
      const [createClient, createCluster] = (family === "redis5" ? [createClient5, createCluster5] : [createClient6, createCluster6]) as [
        typeof createClient5,
        typeof createCluster5,
      ];
      const client = cluster
        ? createCluster({ rootNodes: topology.urls.map((url) => ({ url })), defaults: { disableOfflineQueue: true } })
        : createClient({ url: topology.urls[0]!, disableOfflineQueue: true });
      client.on("error", () => {});
      if (family === "redis6") await client.connect();
      return {
        client: client as unknown as RedisClientLike,
        async close() {
          if (client.isOpen) await client.close().catch(() => client.destroy());
        },
      };
    }
  }
}
