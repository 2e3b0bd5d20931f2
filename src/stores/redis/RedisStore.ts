import { AsyncLocalStorage } from "node:async_hooks";
import { randomUUID } from "node:crypto";
import { invalidType, message } from "../../errors.js";
import { readBoolean, readPositive, readString } from "../../validate.js";
import type { LockedSession, SessionStore, StoreChange, StoreChangeMeta, StoreState } from "../types.js";
import { type RedisClientLike, redisAccess } from "./access.js";
import type { RedisAccess } from "./client.js";
import { InOrder } from "./inOrder.js";
import { RedisFeed } from "./feed.js";
import { type HeldLock, RedisLock, type WriteOutcome } from "./lock.js";
import { LockedBatch, type PendingWrite, type StagedWrite } from "./lockedBatch.js";
import { type RedisUserIndex, redisUserIndex, USER_KEY_PART } from "./userIndex.js";

/** Options of `new RedisStore(opt)`. */
export interface RedisStoreOptions {
  /**
   * Your Redis client: ioredis 5/6 `Redis` or `Cluster`, iovalkey, or
   * node-redis 5+ `createClient()` / `createCluster()` (connected or not).
   * The store never closes it; its subscribers are connections of their own.
   * Make calls fail fast while Redis is unreachable (ioredis:
   * `maxRetriesPerRequest: 1`; node-redis: `disableOfflineQueue: true`).
   */
  client: RedisClientLike;
  /** Prefix of the session keys (`prefix + "{" + id + "}"`, lock `… + ":lock"`, its waiters `… + ":lock:waiting"`) and of the channels (`prefix + "changes"`, `prefix + "locks"`). Default: `"kis:sess:"`. */
  prefix?: string;
  /**
   * Listen to Redis keyspace notifications, so a key Redis expires or evicts
   * is reported at once (needs `notify-keyspace-events` with `E` and `x`/`e`,
   * on every node of a cluster). Without them an expiry is noticed on the next read. Default: `true`.
   */
  expiryEvents?: boolean;
  /**
   * Also read records of the layout before 0.2 (`prefix + id`, no hash tag)
   * when a session has none in the current one, and delete them with the
   * session; turn off once they have expired. Default: `true`.
   */
  legacyKeys?: boolean;
  /** Lifetime of a session lock in ms, renewed while its task runs. Default: `10000`. */
  lockTtlMs?: number;
  /** How long `withLock` waits for a lock another process holds, in ms, before it rejects. Default: `10000`. */
  lockWaitMs?: number;
  /** Receives failures no caller can see (a delayed publish, a throwing listener). Default: a process warning. */
  onError?: (error: Error) => void;
}

/** How long `close()` waits for Redis to take the last announcements and lock releases. */
const CLOSE_WAIT_MS = 2000;

/** One change on the channel: type, session id, client id, whether the session is new. */
interface WireChange {
  t: "set" | "destroy";
  s: string;
  c?: string | undefined;
  i?: boolean;
}

/** A message on the change channel: the node that made the changes, its message number, and the changes in their order. */
interface Wire {
  n: string;
  q?: number;
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

/** Resolves `promise`, or `undefined` once `ms` have passed. */
function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Sessions in Redis (`koa-io-session/redis`): one key per session with
 * native expiry, a change feed over pub/sub so several processes share one
 * set of sessions, and a lock per session for `withSession`. Works the same
 * on every supported client family, standalone or on a Redis Cluster: a
 * session's record and lock share one hash slot, and nothing spans sessions.
 */
export class RedisStore implements SessionStore {
  readonly #redis: RedisAccess;
  readonly #prefix: string;
  /** The prefix as Redis sees it: ioredis adds the client's `keyPrefix` to keys, but not to SCAN patterns or notifications. */
  readonly #rawPrefix: string;
  readonly #legacyKeys: boolean;
  readonly #channel: string;
  /** Where a release that hands a lock to a waiter tells it so. */
  readonly #lockChannel: string;
  readonly #expiryChannels: string[];
  readonly #node = randomUUID();
  /** How this process's own messages start (`#flush` writes `n` first). */
  readonly #ownWirePrefix = `{"n":"${this.#node}"`;
  readonly #lock: RedisLock;
  readonly #users: RedisUserIndex;
  readonly #onError: (error: Error) => void;
  readonly #listeners = new Set<(change: StoreChange) => void>();
  /** The batches of calls holding a session's lock here, by session. */
  readonly #batches = new Map<string, LockedBatch<WireChange>>();
  /** The batch the running call belongs to, if any: only its own calls read and write through it. */
  readonly #calls = new AsyncLocalStorage<LockedBatch<WireChange>>();
  #feed: RedisFeed | undefined;
  /** Changes written but not yet announced: one PUBLISH per event-loop turn carries them all. */
  #outbox: WireChange[] = [];
  #flushQueued = false;
  /** Announcements on their way to Redis. */
  readonly #sending = new Set<Promise<void>>();
  /** The number of this store's next announcement. */
  #sequence = 0;
  /** Other processes' announcements, put back in the order they were sent. */
  readonly #inOrder = new InOrder<Wire>(
    (wire) => this.#apply(wire),
    () => this.#emit({ type: "resync" }),
  );

  constructor(opt: RedisStoreOptions) {
    const options = (opt ?? {}) as unknown as Record<string, unknown>;
    const redis = redisAccess(options.client);
    const prefix = readString(options, "prefix", () => "kis:sess:");
    const onError = options.onError ?? ((error: Error) => process.emitWarning(error));
    if (typeof onError !== "function") throw invalidType("onError", "a function", onError);
    const expiryEvents = readBoolean(options, "expiryEvents", true);

    this.#redis = redis;
    this.#prefix = prefix;
    this.#rawPrefix = redis.keyPrefix + prefix;
    this.#legacyKeys = readBoolean(options, "legacyKeys", true);
    this.#channel = `${prefix}changes`;
    this.#lockChannel = `${prefix}locks`;
    this.#expiryChannels = expiryEvents ? [`__keyevent@${redis.db}__:expired`, `__keyevent@${redis.db}__:evicted`] : [];
    this.#onError = onError as (error: Error) => void;
    const timings = { ttlMs: readPositive(options, "lockTtlMs", 10_000), waitMs: readPositive(options, "lockWaitMs", 10_000) };
    this.#lock = new RedisLock(redis, timings, this.#lockChannel, this.#onError);
    this.#users = redisUserIndex(redis, prefix);
  }

  /** The key prefix of the session records. */
  get prefix(): string {
    return this.#prefix;
  }

  /** The pub/sub channel of the change feed. */
  get channel(): string {
    return this.#channel;
  }

  /** The Redis key of `sessionId`'s record: `prefix + "{" + sessionId + "}"`; the braces are its cluster hash tag. */
  keyOf(sessionId: string): string {
    return `${this.#prefix}{${sessionId}}`;
  }

  /** The Redis key of `sessionId`'s lock: the record's key + `":lock"`, in the record's hash slot. */
  lockKeyOf(sessionId: string): string {
    return `${this.keyOf(sessionId)}:lock`;
  }

  async get(sessionId: string): Promise<StoreState | undefined> {
    const what = `read session "${sessionId}"`;
    // A call of a batch holding the lock reads what the lock's read and the calls before it left.
    const known = this.#batchOf(sessionId)?.value;
    let raw = known !== undefined ? known : await this.#call(what, () => this.#redis.get(this.keyOf(sessionId)));
    if (raw === null && this.#legacyKeys) raw = await this.#call(what, () => this.#redis.get(this.#prefix + sessionId));
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
      const removed = this.#call(what, () => this.#delete(sessionId));
      this.#forget(sessionId, removed);
      await removed;
      return false;
    }
    const value = JSON.stringify({ session: state.session, expiresAt: state.expiresAt, ttl: state.ttl });
    const change: WireChange | undefined = meta?.refresh ? undefined : { t: "set", s: sessionId, c: meta?.clientId, i: meta?.isNew === true };
    // A call of a batch holding the lock: written with the others (its caller waits for that).
    if (this.#batchOf(sessionId)?.stage(value, state.expiresAt, change)) return true;
    await this.#call(what, () => this.#redis.set(key, value, { PX: ttl }));
    if (change) this.#announce(change);
    return true;
  }

  async destroy(sessionId: string, meta?: StoreChangeMeta): Promise<boolean> {
    const removing = this.#call(`destroy session "${sessionId}"`, () => this.#delete(sessionId));
    this.#forget(sessionId, removing);
    const removed = await removing;
    const change: WireChange = { t: "destroy", s: sessionId };
    // Inside a request, the destroy may be half of a login: announce it once the new session is saved.
    if (meta?.settled) void meta.settled.then(() => this.#announce(change));
    else this.#announce(change);
    return removed > 0;
  }

  /** Every stored session id, by `SCAN` on every master (never `KEYS`). */
  async list(): Promise<string[]> {
    const ids = new Set<string>();
    const pattern = `${escapeGlob(this.#rawPrefix)}*`;
    const masters = await this.#call("list sessions", () => this.#redis.masters());
    for (const master of masters) {
      let cursor = "0";
      do {
        const reply = await this.#call("list sessions", () => master.scan(cursor, { MATCH: pattern, COUNT: 1000 }));
        cursor = reply.cursor;
        for (const key of reply.keys) {
          const id = this.#idOf(key);
          if (id !== undefined) ids.add(id);
        }
      } while (cursor !== "0");
    }
    return [...ids];
  }

  /**
   * Reports writes and destroys of other processes, and records Redis itself
   * dropped, to `listener`; returns the function that stops it.
   */
  subscribe(listener: (change: StoreChange) => void): () => void {
    this.#listeners.add(listener);
    if (!this.#feed) {
      this.#feed = new RedisFeed(this.#redis, {
        changeChannels: [this.#channel, this.#lockChannel],
        expiryChannels: this.#expiryChannels,
        onMessage: (channel, text) => this.#receive(channel, text),
        // Messages published while a subscriber was down are lost: have the bridge re-check its map.
        onResync: () => this.#emit({ type: "resync" }),
      });
      this.#feed.start();
    }
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size > 0) return;
      this.#stopFeed();
      // Queued before anything the caller sends next, such as its client's QUIT.
      void this.#flush();
    };
  }

  /** Adds `sessionId` to `userId`'s sorted set (`prefix + "user:{" + userId + "}"`), scored by its expiry. */
  indexUser(userId: string, sessionId: string, expiresAt: number): Promise<void> {
    return this.#call(`index session "${sessionId}" of user "${userId}"`, () => this.#users.indexUser(userId, sessionId, expiresAt));
  }

  /** Removes `sessionId` from `userId`'s sorted set. */
  unindexUser(userId: string, sessionId: string): Promise<void> {
    return this.#call(`unindex session "${sessionId}" of user "${userId}"`, () => this.#users.unindexUser(userId, sessionId));
  }

  /** The session ids in `userId`'s sorted set whose expiry has not passed (dropping the others). */
  sessionsOfUser(userId: string): Promise<string[]> {
    return this.#call(`list the sessions of user "${userId}"`, () => this.#users.sessionsOfUser(userId));
  }

  /**
   * Runs `task` holding the session's lock, which every process on this
   * Redis respects. The calls it runs through `locked.run` read the record
   * taken with the lock, and their writes go out together (see `LockedBatch`).
   */
  withLock<T>(sessionId: string, task: (locked?: LockedSession) => Promise<T>): Promise<T> {
    let batch: LockedBatch<WireChange> | undefined;
    const run = (held: HeldLock): Promise<T> => {
      batch = new LockedBatch(sessionId, held, this.#calls, (staged) => this.#pendingWrite(sessionId, staged));
      this.#batches.set(sessionId, batch);
      return task(batch);
    };
    return this.#lock.run(this.lockKeyOf(sessionId), `session "${sessionId}"`, run, {
      read: this.keyOf(sessionId),
      release: () => {
        if (this.#batches.get(sessionId) === batch) this.#batches.delete(sessionId);
        return batch?.takeLast();
      },
    });
  }

  /** The batch of the running call when it holds `sessionId`'s lock. */
  #batchOf(sessionId: string): LockedBatch<WireChange> | undefined {
    const batch = this.#calls.getStore();
    return batch?.sessionId === sessionId ? batch : undefined;
  }

  /**
   * A batch's kept write, as the lock sends it. Standalone, its announcement
   * goes in the same script; on a cluster it follows the write.
   */
  #pendingWrite(sessionId: string, staged: StagedWrite<WireChange>): PendingWrite {
    const { changes } = staged;
    const wire: Wire | undefined = changes.length > 0 && !this.#redis.isCluster ? { n: this.#node, q: this.#sequence++, c: changes } : undefined;
    const settled = (outcome: WriteOutcome): void => {
      if (outcome === "written") {
        if (!wire) for (const change of changes) this.#announce(change);
        return staged.settle();
      }
      if (outcome === "lost") {
        // Nothing was published: send its number empty, or the other processes wait for it, then resync.
        if (wire) this.#publish({ ...wire, c: [] });
        return staged.settle(new Error(message(`RedisStore lost the lock of session "${sessionId}" before writing it (it expired while Redis did not answer); the change was not saved.`)));
      }
      staged.settle(new Error(message(`RedisStore could not write session "${sessionId}": ${outcome.message}`), { cause: outcome }));
    };
    const px = Math.max(1, Math.ceil(staged.expiresAt - Date.now()));
    return { write: { key: this.keyOf(sessionId), value: staged.value, px, announce: wire && { channel: this.#channel, message: JSON.stringify(wire) } }, settled };
  }

  /**
   * The record changed outside the batch holding `sessionId` here, if one
   * does (see `LockedBatch.forget`).
   */
  #forget(sessionId: string, outcome?: Promise<unknown>): void {
    this.#batches.get(sessionId)?.forget(outcome);
  }

  /**
   * Ends the change feed (the subscriber connections) and sends the changes
   * not yet announced and the lock releases that failed earlier. Resolves
   * within about 2 s even when Redis is unreachable, passing what could not
   * be sent to `onError`. The client stays open.
   */
  async close(): Promise<void> {
    this.#listeners.clear();
    this.#stopFeed();
    void this.#flush();
    const unreleased = this.#lock.unreleased;
    const done = await within(Promise.all([...this.#sending, this.#lock.retryReleases()]).then(() => true), CLOSE_WAIT_MS);
    const locked = this.#lock.dispose();
    if (done && locked.length === 0) return;
    const pending = done ? 0 : this.#sending.size;
    const parts = [
      pending > 0 ? `${pending} announcement(s) of session changes did not reach Redis` : "",
      locked.length > 0 ? `${locked.length} of ${Math.max(unreleased, locked.length)} lock(s) stay held until their TTL (${locked.join(", ")})` : "",
    ].filter(Boolean);
    if (parts.length > 0) this.#onError(new Error(message(`RedisStore closed while Redis did not answer: ${parts.join("; ")}.`)));
  }

  #stopFeed(): void {
    this.#feed?.stop();
    this.#inOrder.clear();
    this.#feed = undefined;
  }

  /** Deletes the record (and its pre-0.2 key); resolves how many keys went. */
  async #delete(sessionId: string): Promise<number> {
    if (!this.#legacyKeys) return this.#redis.del(this.keyOf(sessionId));
    // Two single-key commands: on a cluster the two keys may sit in different slots.
    const [current, legacy] = await Promise.all([this.#redis.del(this.keyOf(sessionId)), this.#redis.del(this.#prefix + sessionId)]);
    return current + legacy;
  }

  /** The session id a raw key (from SCAN or a notification) belongs to; `undefined` for lock keys and keys of others. */
  #idOf(key: string): string | undefined {
    if (!key.startsWith(this.#rawPrefix)) return undefined;
    const rest = key.slice(this.#rawPrefix.length);
    // A user-index set, never a session (its expiry must not read as one's).
    if (rest.startsWith(USER_KEY_PART)) return undefined;
    if (rest.startsWith("{")) {
      if (rest.endsWith("}")) return rest.slice(1, -1);
      if (rest.endsWith("}:lock") || rest.endsWith("}:lock:waiting")) return undefined;
    }
    return this.#legacyKeys ? rest : undefined;
  }

  #receive(channel: string, text: string): void {
    if (channel === this.#lockChannel) {
      // `token key`, the key as Redis sees it (with the client's keyPrefix), then "\n" + the record when small.
      const space = text.indexOf(" ");
      const newline = text.indexOf("\n", space);
      const key = text.slice(space + 1, newline < 0 ? undefined : newline);
      const record = newline < 0 ? undefined : text.slice(newline + 1);
      const { keyPrefix } = this.#redis;
      if (space > 0 && key.startsWith(keyPrefix)) this.#lock.handed(text.slice(0, space), key.slice(keyPrefix.length), record);
      return;
    }
    if (channel !== this.#channel) {
      // A keyspace notification: the payload is the key Redis expired or evicted.
      const sessionId = this.#idOf(text);
      if (sessionId === undefined) return;
      this.#forget(sessionId);
      this.#emit({ type: "destroy", sessionId });
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
    // Messages of a version without numbers are applied as they come.
    if (typeof wire.n === "string" && Number.isSafeInteger(wire.q)) this.#inOrder.push(wire.n, wire.q!, wire);
    else this.#apply(wire);
  }

  #apply(wire: Wire): void {
    for (const change of wire.c) {
      if (typeof change?.s !== "string") continue;
      this.#forget(change.s);
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
    this.#outbox.push(change);
    this.#queueFlush();
  }

  #queueFlush(): void {
    if (this.#flushQueued || this.#outbox.length === 0) return;
    this.#flushQueued = true;
    setImmediate(() => {
      this.#flushQueued = false;
      void this.#flush();
    });
  }

  #flush(): Promise<void> {
    const changes = this.#outbox;
    if (changes.length === 0) return Promise.resolve();
    this.#outbox = [];
    return this.#publish({ n: this.#node, q: this.#sequence++, c: changes });
  }

  #publish(wire: Wire): Promise<void> {
    const sending = this.#redis.publish(this.#channel, JSON.stringify(wire)).catch((error: Error) => {
      this.#onError(new Error(message(`RedisStore could not announce ${wire.c.length} session change(s) to other processes: ${error.message}`), { cause: error }));
    });
    this.#sending.add(sending);
    void sending.finally(() => this.#sending.delete(sending));
    return sending;
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
