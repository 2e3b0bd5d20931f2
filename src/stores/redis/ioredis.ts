import { firstById, isNoScript, onceAny, type RedisAccess, type RedisMaster, type RedisScript, type RedisSubscription } from "./client.js";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Method = (...args: any[]) => any;

/** What RedisStore sees of an ioredis 5/6 `Redis` (or a fork such as iovalkey): structural, so no family's types are needed. */
export interface IoredisClientLike {
  get: Method;
  set: Method;
  del: Method;
  evalsha: Method;
  eval: Method;
  publish: Method;
  scan: Method;
  scanStream: Method;
  duplicate: Method;
  on: Method;
  once: Method;
  off: Method;
  status: string;
  options?: { keyPrefix?: string | undefined; db?: number | undefined } | undefined;
}

/** What RedisStore sees of an ioredis `Cluster`. */
export interface IoredisClusterLike extends Omit<IoredisClientLike, "scan" | "scanStream" | "duplicate" | "options"> {
  isCluster: boolean;
  nodes: Method;
  refreshSlotsCache: Method;
  options?: { keyPrefix?: string | undefined } | undefined;
}

/** Whether `client` is an ioredis `Redis` or `Cluster` (or a fork with the same shape), by its methods. */
export function isIoredis(client: unknown): client is IoredisClientLike | IoredisClusterLike {
  const c = client as Partial<IoredisClientLike & IoredisClusterLike> | undefined;
  if (typeof c?.evalsha !== "function" || typeof c.set !== "function" || typeof c.on !== "function") return false;
  return (c.isCluster === true && typeof c.nodes === "function") || (typeof c.scanStream === "function" && typeof c.duplicate === "function");
}

// Subscriber connections wait for Redis as long as it takes and resubscribe themselves (below), not through ioredis.
// A cluster's node connections never reconnect by themselves (the Cluster does it for them): ours must.
const SUBSCRIBER = {
  enableOfflineQueue: true,
  maxRetriesPerRequest: null,
  autoResubscribe: false,
  lazyConnect: false,
  retryStrategy: (times: number) => Math.min(50 * times, 2000),
} as const;

function master(id: string, node: IoredisClientLike): RedisMaster {
  return {
    id,
    async scan(cursor, { MATCH, COUNT }) {
      const [next, keys] = (await node.scan(cursor, "MATCH", MATCH, "COUNT", COUNT)) as [string, string[]];
      return { cursor: next, keys };
    },
    subscribe(channels, onMessage, onSubscribed): RedisSubscription {
      const subscriber = node.duplicate(SUBSCRIBER) as IoredisClientLike & { subscribe: Method; disconnect: Method };
      // Connection errors reach the user through their own client and the failing calls.
      subscriber.on("error", () => {});
      subscriber.on("ready", () => {
        (subscriber.subscribe(...channels) as Promise<unknown>).then(onSubscribed, () => {});
      });
      subscriber.on("message", onMessage);
      return { close: () => subscriber.disconnect() };
    },
  };
}

const nodeId = (node: IoredisClientLike): string => {
  const { host, port } = node.options as { host?: string; port?: number };
  return `${host}:${port}`;
};

/** RedisAccess over an ioredis 5/6 client or cluster. */
export function ioredisAccess(client: IoredisClientLike | IoredisClusterLike): RedisAccess {
  const cluster = "isCluster" in client && client.isCluster === true ? (client as IoredisClusterLike) : undefined;
  const standalone = cluster ? undefined : (client as IoredisClientLike);
  return {
    family: "ioredis",
    isCluster: cluster !== undefined,
    keyPrefix: String(client.options?.keyPrefix ?? ""),
    db: Number(standalone?.options?.db ?? 0),
    get ready() {
      return client.status === "ready";
    },
    get: (key) => client.get(key),
    async set(key, value, { PX, NX }) {
      const reply = await (NX ? client.set(key, value, "PX", PX, "NX") : client.set(key, value, "PX", PX));
      return reply !== null;
    },
    del: (key) => client.del(key),
    async eval(script: RedisScript, keys, args) {
      try {
        return await client.evalsha(script.sha, keys.length, ...keys, ...args);
      } catch (error) {
        if (!isNoScript(error)) throw error;
        return client.eval(script.source, keys.length, ...keys, ...args);
      }
    },
    async publish(channel, message) {
      // Before the cluster knows its nodes, a publish would go to whichever node: wait, to keep the order.
      if (cluster && cluster.status !== "ready") await onceAny(cluster, ["ready", "error", "end"]);
      const via = cluster ? (firstById(cluster.nodes("master") as IoredisClientLike[], nodeId) ?? client) : client;
      await via.publish(channel, message);
    },
    async masters() {
      if (standalone) return [master("standalone", standalone)];
      if (cluster!.status !== "ready") await onceAny(cluster!, ["ready", "error", "end"]);
      return (cluster!.nodes("master") as IoredisClientLike[]).map((node) => {
        return master(nodeId(node), node);
      });
    },
    ...(cluster && {
      discover: () => new Promise<void>((resolve) => (cluster.refreshSlotsCache as (done: () => void) => void)(() => resolve())),
    }),
    onReady(listener) {
      client.on("ready", listener);
      return () => client.off("ready", listener);
    },
  };
}
