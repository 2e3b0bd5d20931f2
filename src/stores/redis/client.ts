import { createHash } from "node:crypto";

/**
 * The few Redis commands RedisStore uses, in one shape for every client
 * family (ioredis 5/6 and its forks, node-redis 5+), standalone or cluster.
 * Each family's own command shapes live in its file (`ioredis.ts`,
 * `nodeRedis.ts`); callers never branch on the family.
 */
export interface RedisAccess {
  /** Which family the client belongs to, for messages. */
  readonly family: "ioredis" | "node-redis";
  /** Whether the client talks to a Redis Cluster. */
  readonly isCluster: boolean;
  /** The prefix the client itself adds to keys (ioredis' `keyPrefix`), which SCAN replies and notifications carry. */
  readonly keyPrefix: string;
  /** The database number keyspace notifications name (always 0 on a cluster). */
  readonly db: number;
  /** Whether commands can be sent right now. */
  readonly ready: boolean;
  get(key: string): Promise<string | null>;
  /** `SET key value PX ttl [NX]`; resolves whether the key was written. */
  set(key: string, value: string, options: { PX: number; NX?: boolean }): Promise<boolean>;
  del(key: string): Promise<number>;
  /** Runs a Lua script by its SHA, loading it first where the node does not know it yet. */
  eval(script: RedisScript, keys: string[], args: (string | number)[]): Promise<unknown>;
  /**
   * Classic PUBLISH. On a cluster it goes through one master, the first by
   * id (where the feed subscribes too): publishes sent to random nodes could
   * reach a subscriber out of order.
   */
  publish(channel: string, message: string): Promise<void>;
  /** The masters right now: the client itself when standalone, one entry per master on a cluster. */
  masters(): Promise<RedisMaster[]>;
  /**
   * Asks the cluster for its current slots, so masters added since are
   * known even when no command of the user's met a MOVED reply. Absent
   * where the client offers no public way (node-redis: it rediscovers on MOVED).
   */
  discover?(): Promise<void>;
  /** Calls `listener` each time the client (re)connects and can send commands; returns the function that stops it. */
  onReady(listener: () => void): () => void;
}

/** One master: SCAN runs on it, and a subscriber connection can be opened to it. */
export interface RedisMaster {
  /** `host:port`, or `"standalone"`: stable while the topology stays the same. */
  readonly id: string;
  scan(cursor: string, options: { MATCH: string; COUNT: number }): Promise<{ cursor: string; keys: string[] }>;
  /**
   * Opens a connection of its own to this master, subscribes `channels`
   * on every (re)connect and calls `onSubscribed` after each subscription;
   * messages go to `onMessage`.
   */
  subscribe(channels: string[], onMessage: (channel: string, message: string) => void, onSubscribed: () => void): RedisSubscription;
}

/** A subscriber connection. */
export interface RedisSubscription {
  /** Ends the connection at once, without waiting for Redis. */
  close(): void;
}

/** A Lua script and its SHA1, for EVALSHA. */
export interface RedisScript {
  readonly source: string;
  readonly sha: string;
}

/** The first of `items` by `id`: the master that carries the change channel. */
export function firstById<T>(items: readonly T[], id: (item: T) => string): T | undefined {
  let first: T | undefined;
  for (const item of items) if (first === undefined || id(item) < id(first)) first = item;
  return first;
}

/** Whether `error` is Redis' answer to an EVALSHA of a script it does not know. */
export const isNoScript = (error: unknown): boolean => /NOSCRIPT/.test(String((error as Error)?.message));
export const isTryAgain = (error: unknown): boolean => /^TRYAGAIN/.test(String((error as Error)?.message));

/** A script with its SHA1 computed once. */
export function redisScript(source: string): RedisScript {
  return { source, sha: createHash("sha1").update(source).digest("hex") };
}

/** Resolves on the first of `events` that `emitter` emits. */
export function onceAny(emitter: { once(event: string, listener: () => void): unknown; off(event: string, listener: () => void): unknown }, events: string[]): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      for (const event of events) emitter.off(event, done);
      resolve();
    };
    for (const event of events) emitter.once(event, done);
  });
}
