import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { invalidType, message } from "../errors.js";
import { readBoolean, readPositive, readString } from "../validate.js";
import { RedisLock } from "./redisLock.js";
import type { SessionStore, StoreChange, StoreChangeMeta, StoreState } from "./types.js";

/** Options of `new RedisStore(opt)`. */
export interface RedisStoreOptions {
  /**
   * Your `ioredis` client. The store never closes it; its subscriber is a
   * `client.duplicate()`. Recommended: `maxRetriesPerRequest: 1` so calls fail
   * fast while Redis is unreachable (see the README).
   */
  client: Redis;
  /** Prefix of the session keys; the change channel (`prefix + "changes"`) and lock keys (`"lock:" + prefix + id`) derive from it. Default: `"kis:sess:"`. */
  prefix?: string;
  /**
   * Listen to Redis keyspace notifications, so a key Redis expires or evicts
   * is reported at once (needs `notify-keyspace-events` with `E` and `x`/`e`).
   * Without them an expiry is noticed on the next read. Default: `true`.
   */
  expiryEvents?: boolean;
  /** Lifetime of a session lock in ms, renewed while its task runs. Default: `10000`. */
  lockTtlMs?: number;
  /** How long `withLock` waits for a lock another process holds, in ms, before it rejects. Default: `10000`. */
  lockWaitMs?: number;
  /** Receives failures no caller can see (a delayed publish, a throwing listener). Default: a process warning. */
  onError?: (error: Error) => void;
}

/** One change on the channel: type, session id, client id, whether the session is new. */
interface WireChange {
  t: "set" | "destroy";
  s: string;
  c?: string | undefined;
  i?: boolean;
}

/** A message on the change channel: the node that made the changes, and the changes in their order. */
interface Wire {
  n: string;
  c: WireChange[];
}

/** Escapes the glob characters of a SCAN pattern. */
const escapeGlob = (text: string): string => text.replace(/[*?[\]\\]/g, "\\$&");

function parseState(raw: string): StoreState {
  try {
    const state = JSON.parse(raw) as StoreState;
    if (typeof state?.session === "string" && typeof state.expiresAt === "number") return state;
  } catch {
    // Not a record of this store: hand the raw text on, so the bridge destroys it and names the id.
  }
  return { session: raw, expiresAt: Number.MAX_SAFE_INTEGER, ttl: 0 };
}

/**
 * Sessions in Redis (`koa-io-session/redis`): one key per session with
 * native expiry, a change feed over pub/sub so several processes share one
 * set of sessions, and a lock per session for `withSession`.
 */
export class RedisStore implements SessionStore {
  readonly #client: Redis;
  readonly #prefix: string;
  readonly #lockPrefix: string;
  /** The prefix as Redis sees it: ioredis adds the client's `keyPrefix` to keys, but not to SCAN patterns or notifications. */
  readonly #rawPrefix: string;
  readonly #rawLockPrefix: string;
  readonly #channel: string;
  readonly #expiryChannels: string[];
  readonly #node = randomUUID();
  /** How this process's own messages start (`#announce` writes `n` first). */
  readonly #ownWirePrefix = `{"n":"${this.#node}"`;
  readonly #lock: RedisLock;
  readonly #onError: (error: Error) => void;
  readonly #listeners = new Set<(change: StoreChange) => void>();
  #subscriber: Redis | undefined;
  /** Changes written but not yet announced: one PUBLISH per event-loop turn carries them all. */
  #outbox: WireChange[] = [];

  constructor(opt: RedisStoreOptions) {
    const options = (opt ?? {}) as unknown as Record<string, unknown>;
    const client = options.client as Redis | undefined;
    if (typeof client?.duplicate !== "function" || typeof client.set !== "function") {
      throw invalidType("client", "an ioredis client", client);
    }
    const prefix = readString(options, "prefix", () => "kis:sess:");
    const onError = options.onError ?? ((error: Error) => process.emitWarning(error));
    if (typeof onError !== "function") throw invalidType("onError", "a function", onError);
    const expiryEvents = readBoolean(options, "expiryEvents", true);

    this.#client = client;
    this.#prefix = prefix;
    this.#lockPrefix = `lock:${prefix}`;
    this.#rawPrefix = String(client.options?.keyPrefix ?? "") + prefix;
    this.#rawLockPrefix = String(client.options?.keyPrefix ?? "") + this.#lockPrefix;
    this.#channel = `${prefix}changes`;
    const db = Number(client.options?.db ?? 0);
    this.#expiryChannels = expiryEvents ? [`__keyevent@${db}__:expired`, `__keyevent@${db}__:evicted`] : [];
    this.#onError = onError as (error: Error) => void;
    const timings = { ttlMs: readPositive(options, "lockTtlMs", 10_000), waitMs: readPositive(options, "lockWaitMs", 10_000) };
    this.#lock = new RedisLock(client, timings, this.#onError);
  }

  /** The key prefix of the session records. */
  get prefix(): string {
    return this.#prefix;
  }

  /** The pub/sub channel of the change feed. */
  get channel(): string {
    return this.#channel;
  }

  /** The Redis key of `sessionId`'s record. */
  keyOf(sessionId: string): string {
    return this.#prefix + sessionId;
  }

  /** The Redis key of `sessionId`'s lock. */
  lockKeyOf(sessionId: string): string {
    return this.#lockPrefix + sessionId;
  }

  async get(sessionId: string): Promise<StoreState | undefined> {
    const raw = await this.#call(`read session "${sessionId}"`, () => this.#client.get(this.keyOf(sessionId)));
    if (raw !== null) return parseState(raw);
    // Redis may have expired it without a keyspace notification: let the bridge detach it now.
    this.#emit({ type: "destroy", sessionId });
    return undefined;
  }

  async set(sessionId: string, state: StoreState, meta?: StoreChangeMeta): Promise<boolean> {
    const key = this.keyOf(sessionId);
    const ttl = Math.ceil(state.expiresAt - Date.now());
    const what = `write session "${sessionId}"`;
    if (ttl <= 0) {
      // Already dead: Redis rejects a non-positive PX, and keeping it would only delay its removal.
      await this.#call(what, () => this.#client.del(key));
      return false;
    }
    const value = JSON.stringify({ session: state.session, expiresAt: state.expiresAt, ttl: state.ttl });
    await this.#call(what, () => this.#client.set(key, value, "PX", ttl));
    if (!meta?.refresh) this.#announce({ t: "set", s: sessionId, c: meta?.clientId, i: meta?.isNew === true });
    return true;
  }

  async destroy(sessionId: string, meta?: StoreChangeMeta): Promise<boolean> {
    const removed = await this.#call(`destroy session "${sessionId}"`, () => this.#client.del(this.keyOf(sessionId)));
    const change: WireChange = { t: "destroy", s: sessionId };
    // Inside a request, the destroy may be half of a login: announce it once the new session is saved.
    if (meta?.settled) void meta.settled.then(() => this.#announce(change));
    else this.#announce(change);
    return removed > 0;
  }

  /** Every stored session id, by `SCAN` (never `KEYS`). */
  async list(): Promise<string[]> {
    const ids = new Set<string>();
    const pattern = `${escapeGlob(this.#rawPrefix)}*`;
    const start = this.#rawPrefix.length;
    let cursor = "0";
    do {
      const [next, keys] = await this.#call("list sessions", () => this.#client.scan(cursor, "MATCH", pattern, "COUNT", 1000));
      cursor = next;
      for (const key of keys) if (!key.startsWith(this.#rawLockPrefix)) ids.add(key.slice(start));
    } while (cursor !== "0");
    return [...ids];
  }

  /**
   * Reports writes and destroys of other processes, and records Redis itself
   * dropped, to `listener`; returns the function that stops it.
   */
  subscribe(listener: (change: StoreChange) => void): () => void {
    this.#listeners.add(listener);
    if (!this.#subscriber) this.#subscriber = this.#startSubscriber();
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size > 0) return;
      this.#stopSubscriber();
      // Queued before anything the caller sends next, such as its client's QUIT.
      void this.#flush();
    };
  }

  /** Runs `task` holding the session's lock, which every process on this Redis respects. */
  withLock<T>(sessionId: string, task: () => Promise<T>): Promise<T> {
    return this.#lock.run(this.lockKeyOf(sessionId), `session "${sessionId}"`, task);
  }

  /** Sends the changes not yet announced and ends the change feed (the subscriber connection). The client stays open. */
  async close(): Promise<void> {
    this.#listeners.clear();
    this.#stopSubscriber();
    await this.#flush();
  }

  #startSubscriber(): Redis {
    // Its own connection: a subscribed connection can run no other command. It waits for Redis as long as it takes.
    const subscriber = this.#client.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null, autoResubscribe: false, lazyConnect: false });
    const channels = [this.#channel, ...this.#expiryChannels];
    let subscribedBefore = false;
    // Connection errors reach the user through their own client and the failing calls.
    subscriber.on("error", () => {});
    subscriber.on("ready", () => {
      subscriber.subscribe(...channels).then(
        () => {
          // Messages published while the connection was down are lost: have the bridge re-check its map.
          if (subscribedBefore) void this.#resync(subscriber);
          subscribedBefore = true;
        },
        () => {},
      );
    });
    subscriber.on("message", (channel: string, text: string) => this.#receive(channel, text));
    return subscriber;
  }

  #stopSubscriber(): void {
    this.#subscriber?.disconnect();
    this.#subscriber = undefined;
  }

  async #resync(subscriber: Redis): Promise<void> {
    const client = this.#client;
    if (client.status !== "ready") {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          client.off("ready", done);
          subscriber.off("end", done);
          resolve();
        };
        client.once("ready", done);
        subscriber.once("end", done);
      });
    }
    if (this.#subscriber === subscriber) this.#emit({ type: "resync" });
  }

  #receive(channel: string, text: string): void {
    if (channel !== this.#channel) {
      // A keyspace notification: the payload is the key Redis expired or evicted.
      if (text.startsWith(this.#rawPrefix) && !text.startsWith(this.#rawLockPrefix)) this.#emit({ type: "destroy", sessionId: text.slice(this.#rawPrefix.length) });
      return;
    }
    // Every process receives its own announcements too: skip them before parsing.
    if (text.startsWith(this.#ownWirePrefix)) return;
    let wire: Wire;
    try {
      wire = JSON.parse(text) as Wire;
    } catch {
      return;
    }
    if (!Array.isArray(wire?.c)) return;
    for (const change of wire.c) {
      if (typeof change?.s !== "string") continue;
      if (change.t === "set") this.#emit({ type: "set", sessionId: change.s, clientId: change.c, isNew: change.i === true });
      else if (change.t === "destroy") this.#emit({ type: "destroy", sessionId: change.s });
    }
  }

  #emit(change: StoreChange): void {
    for (const listener of this.#listeners) {
      try {
        listener(change);
      } catch (error) {
        this.#onError(error as Error);
      }
    }
  }

  /**
   * Queues a change for other processes. Writes completed in the same
   * event-loop turn share one PUBLISH, so a busy process sends (and every
   * process receives) one message per turn instead of one per request.
   */
  #announce(change: WireChange): void {
    if (this.#outbox.push(change) === 1) setImmediate(() => void this.#flush());
  }

  async #flush(): Promise<void> {
    const changes = this.#outbox;
    if (changes.length === 0) return;
    this.#outbox = [];
    const wire: Wire = { n: this.#node, c: changes };
    try {
      await this.#client.publish(this.#channel, JSON.stringify(wire));
    } catch (error) {
      const reason = (error as Error).message;
      this.#onError(new Error(message(`RedisStore could not announce ${changes.length} session change(s) to other processes: ${reason}`), { cause: error }));
    }
  }

  /** Runs a Redis call and names the session and the operation when it fails. */
  async #call<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw new Error(message(`RedisStore could not ${what}: ${(error as Error).message}`), { cause: error });
    }
  }
}
