import { firstById, isNoScript, isTryAgain, onceAny, type RedisAccess, type RedisMaster, type RedisScript, type RedisSubscription } from "./client.js";

/** How often, and how far apart, a script is tried again while its slot migrates (as ioredis does). */
const TRY_AGAIN_ATTEMPTS = 16;
const TRY_AGAIN_DELAY_MS = 50;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Method = (...args: any[]) => any;

/** What RedisStore sees of a node-redis 5+ client (`createClient()`): structural, so the package never imports `redis`. */
export interface NodeRedisClientLike {
  get: Method;
  set: Method;
  del: Method;
  evalSha: Method;
  eval: Method;
  publish: Method;
  sPublish: Method;
  scan: Method;
  duplicate: Method;
  connect: Method;
  on: Method;
  once: Method;
  off: Method;
  readonly isOpen: boolean;
  readonly isReady: boolean;
  readonly options?: { database?: number | undefined } | undefined;
}

/** What RedisStore sees of a node-redis 5+ cluster (`createCluster()`). */
export interface NodeRedisClusterLike extends Omit<NodeRedisClientLike, "scan" | "isReady" | "options"> {
  readonly masters: readonly { host: string; port: number }[];
  nodeClient: Method;
}

/** Whether `client` is a node-redis client or cluster, by its methods. */
export function isNodeRedis(client: unknown): client is NodeRedisClientLike | NodeRedisClusterLike {
  const c = client as Partial<NodeRedisClientLike> | undefined;
  return typeof c?.sPublish === "function" && typeof c.evalSha === "function" && typeof c.connect === "function";
}

const isCluster = (client: NodeRedisClientLike | NodeRedisClusterLike): client is NodeRedisClusterLike =>
  Array.isArray((client as NodeRedisClusterLike).masters) && typeof (client as NodeRedisClusterLike).nodeClient === "function";

function master(id: string, node: () => Promise<NodeRedisClientLike>): RedisMaster {
  return {
    id,
    async scan(cursor, options) {
      const reply = (await (await node()).scan(cursor, options)) as { cursor: string | number; keys: string[] };
      return { cursor: String(reply.cursor), keys: reply.keys };
    },
    subscribe(channels, onMessage, onSubscribed): RedisSubscription {
      let closed = false;
      let subscriber: (NodeRedisClientLike & { subscribe: Method; destroy: Method }) | undefined;
      const listener = (message: string, channel: string): void => onMessage(channel, message);
      void node().then((source) => {
        if (closed) return;
        const connection = source.duplicate() as NonNullable<typeof subscriber>;
        subscriber = connection;
        connection.on("error", () => {});
        // node-redis restores its subscriptions on reconnect; subscribing again with the same listener is a no-op then.
        connection.on("ready", () => {
          (connection.subscribe(channels, listener) as Promise<unknown>).then(onSubscribed, () => {});
        });
        (connection.connect() as Promise<unknown>).catch(() => {});
      }, () => {});
      return {
        close() {
          closed = true;
          subscriber?.destroy();
        },
      };
    },
  };
}

/** RedisAccess over a node-redis 5+ client or cluster; connects it when the caller has not. */
export function nodeRedisAccess(client: NodeRedisClientLike | NodeRedisClusterLike): RedisAccess {
  const cluster = isCluster(client) ? client : undefined;
  // connect-redis' users connect their client themselves; others hand it over unconnected. Only a client
  // that was not open when the store got it is connected here: one the user closes later stays closed.
  let connected = client.isOpen;
  let discovering: Promise<void> | undefined;
  const open = async (): Promise<void> => {
    if (connected) return;
    if (!cluster) {
      // A client retries its connection by itself: wait for the first attempt only, so that an
      // unreachable Redis fails calls at once (disableOfflineQueue) instead of holding them.
      discovering ??= Promise.race([(client.connect() as Promise<unknown>).catch(() => {}), onceAny(client, ["error", "end"])]).then(() => {
        connected = true;
      });
      return discovering;
    }
    // A cluster routes commands only once it has found its slots; a failed discovery is tried again on the next call.
    discovering ??= (async () => {
      try {
        await cluster.connect();
        connected = true;
      } finally {
        discovering = undefined;
      }
    })();
    await discovering;
  };
  const commands = async (): Promise<NodeRedisClientLike | NodeRedisClusterLike> => {
    if (!connected) await open();
    return client;
  };
  return {
    family: "node-redis",
    isCluster: cluster !== undefined,
    keyPrefix: "",
    db: Number((cluster ? undefined : (client as NodeRedisClientLike).options?.database) ?? 0),
    get ready() {
      return cluster ? cluster.isOpen : (client as NodeRedisClientLike).isReady;
    },
    get: async (key) => (await commands()).get(key),
    async set(key, value, { PX, NX }) {
      const reply = await (await commands()).set(key, value, NX ? { PX, NX: true } : { PX });
      return reply !== null;
    },
    del: async (key) => (await commands()).del(key),
    async eval(script: RedisScript, keys, args) {
      const c = await commands();
      const options = { keys, arguments: args.map(String) };
      const run = async (): Promise<unknown> => {
        try {
          return await c.evalSha(script.sha, options);
        } catch (error) {
          if (!isNoScript(error)) throw error;
          return c.eval(script.source, options);
        }
      };
      // A script over two keys of one slot gets TRYAGAIN while that slot migrates; ioredis retries it by itself.
      for (let attempt = 1; ; attempt++) {
        try {
          return await run();
        } catch (error) {
          if (!isTryAgain(error) || attempt === TRY_AGAIN_ATTEMPTS) throw error;
          await new Promise((resolve) => setTimeout(resolve, TRY_AGAIN_DELAY_MS));
        }
      }
    },
    async publish(channel, message) {
      const c = await commands();
      const first = cluster ? firstById(cluster.masters, (m) => `${m.host}:${m.port}`) : undefined;
      await (first ? ((await cluster!.nodeClient(first)) as NodeRedisClientLike) : c).publish(channel, message);
    },
    async masters() {
      if (!cluster) return [master("standalone", commands as () => Promise<NodeRedisClientLike>)];
      await commands();
      return cluster.masters.map((m) => master(`${m.host}:${m.port}`, () => cluster.nodeClient(m) as Promise<NodeRedisClientLike>));
    },
    onReady(listener) {
      const events = cluster ? ["connect", "node-ready"] : ["ready"];
      for (const event of events) client.on(event, listener);
      return () => {
        for (const event of events) client.off(event, listener);
      };
    },
  };
}
