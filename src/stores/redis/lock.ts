import { randomBytes } from "node:crypto";
import { message } from "../../errors.js";
import { type RedisAccess, redisScript } from "./client.js";

// KEYS: the lock, its waiters (a hash: node id → the token it waits with), both in the session's slot.
// Taken when free, or found handed to this token (its message was lost); otherwise the node notes
// itself among the waiters, whose hash expires unless they keep polling.
const ACQUIRE = redisScript(`local v = redis.call("get", KEYS[1])
if v == ARGV[1] then redis.call("pexpire", KEYS[1], ARGV[2]) return 1 end
if not v then
  redis.call("set", KEYS[1], ARGV[1], "PX", ARGV[2])
  redis.call("hdel", KEYS[2], ARGV[3])
  return 1
end
redis.call("hset", KEYS[2], ARGV[3], ARGV[1])
redis.call("pexpire", KEYS[2], ARGV[4])
return 0`);
// Only the holder's token may release the lock: a holder that outlived its TTL must not delete the
// lock another process now holds. With a waiter on another node, the lock passes straight to its
// token (the releaser cannot take it back first, so a busy process does not starve the others)
// and the channel tells it so (here, or by the caller when ARGV[4] is empty); its own node's
// waiters retry by themselves. Resolves the token it was handed to, or 0/1.
const RELEASE = redisScript(`redis.call("hdel", KEYS[2], ARGV[2])
if redis.call("get", KEYS[1]) ~= ARGV[1] then return 0 end
local next = redis.call("hgetall", KEYS[2])
if #next == 0 then return redis.call("del", KEYS[1]) end
redis.call("hdel", KEYS[2], next[1])
redis.call("set", KEYS[1], next[2], "PX", ARGV[3])
if ARGV[4] ~= "" then redis.call("publish", ARGV[4], next[2] .. " " .. KEYS[1]) end
return next[2]`);
const EXTEND = redisScript(`if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("pexpire", KEYS[1], ARGV[2]) else return 0 end`);

const POLL_MS = { first: 2, max: 50 };
/** How long a waiter stays noted without polling again (it polls at most ~75 ms apart). */
const WAITING_MS = 1000;
/** How often failed lock releases are tried again until they succeed. */
const RELEASE_RETRY_MS = 1000;

/** One `run` waiting for its lock: `handed` once a release passed the lock to its token; `wake` ends its pause. */
interface Waiter {
  token: string;
  woken: boolean;
  handed: boolean;
  wake?: (() => void) | undefined;
}

/** Timings of `RedisLock`. */
export interface RedisLockTimings {
  /** Lifetime of a lock key; renewed every third of it while the task runs. */
  ttlMs: number;
  /** How long to wait for a lock held elsewhere before failing. */
  waitMs: number;
  /** The first and the longest pause between two polls of a waiter. Default: 2 and 50 ms. */
  pollMs?: { first: number; max: number };
}

/**
 * A lock per key across processes: `SET key token NX PX ttl` with a random
 * token, kept alive while the task runs and released by a compare-and-delete
 * script. A process that finds it held notes its token in the lock's waiters
 * (`key + ":waiting"`); a release with waiters hands the lock to one of them
 * and publishes `token key` on `channel`, whose messages go to `handed`, so
 * the waiter runs without another round trip. Polling with a growing,
 * jittered delay stays as the fallback (a lost message, a holder that died),
 * bounded by `waitMs`. A release that fails (Redis unreachable) is retried
 * when the client is back and every second, so a restarted Redis that kept
 * the key does not block the session until its TTL.
 */
export class RedisLock {
  readonly #access: RedisAccess;
  readonly #timings: RedisLockTimings;
  readonly #channel: string;
  readonly #onError: (error: Error) => void;
  readonly #node = randomBytes(12).toString("base64url");
  /**
   * Releases still to send: token → its lock key, whether the lock was surely taken (not a SET whose reply
   * was lost) and when its TTL ends it anyway. By token: one key may have several (a lost reply, then a held lock).
   */
  readonly #unreleased = new Map<string, { key: string; held: boolean; until: number }>();
  /** The keys this node holds now. */
  readonly #held = new Set<string>();
  /** This node's waiters, by lock key. */
  readonly #waiting = new Map<string, Set<Waiter>>();
  #stopRetry: (() => void) | undefined;

  constructor(access: RedisAccess, timings: RedisLockTimings, channel: string, onError: (error: Error) => void) {
    this.#access = access;
    this.#timings = timings;
    this.#channel = channel;
    this.#onError = onError;
  }

  /** How many locks that were held wait for their release to go through. */
  get unreleased(): number {
    return this.#heldKeys().length;
  }

  /** Whether this node holds `key` right now. */
  holds(key: string): boolean {
    return this.#held.has(key);
  }

  /**
   * Runs `task` while holding `key`; rejects when the lock cannot be had
   * within `waitMs`. `beforeRelease` runs after the task, just before the
   * release is sent.
   */
  async run<T>(key: string, what: string, task: () => Promise<T>, beforeRelease?: () => void): Promise<T> {
    const token = randomBytes(16).toString("base64url");
    await this.#acquire(key, token, what);
    this.#held.add(key);
    const { ttlMs } = this.#timings;
    const renew = setInterval(() => {
      this.#access.eval(EXTEND, [key], [token, ttlMs]).catch((error: Error) => {
        this.#onError(new Error(message(`RedisStore could not extend the lock of ${what}: ${error.message}`), { cause: error }));
      });
    }, Math.max(Math.floor(ttlMs / 3), 1));
    renew.unref();
    try {
      return await task();
    } finally {
      clearInterval(renew);
      this.#held.delete(key);
      beforeRelease?.();
      await this.#release(key, token);
      // Waiters of this node are never handed the lock by it: they try again now.
      for (const waiter of this.#waiting.get(key) ?? []) this.#wake(waiter);
    }
  }

  /** A message on the channel: a release passed `key` to `token`. */
  handed(token: string, key: string): void {
    for (const waiter of this.#waiting.get(key) ?? []) {
      if (waiter.token !== token) continue;
      waiter.handed = true;
      this.#wake(waiter);
    }
  }

  /** Tries the releases that failed once more; resolves when each has succeeded or failed again. */
  async retryReleases(): Promise<void> {
    const pending = [...this.#unreleased];
    await Promise.all(
      pending.map(async ([token, { key, until }]) => {
        if (Date.now() >= until) return void this.#unreleased.delete(token);
        try {
          await this.#send(key, token);
          this.#unreleased.delete(token);
        } catch {
          // Still unreachable: the next reconnect or tick tries again.
        }
      }),
    );
    if (this.#unreleased.size === 0) {
      this.#stopRetry?.();
      this.#stopRetry = undefined;
    }
  }

  /** Stops retrying (the store closes); resolves the keys still locked. */
  dispose(): string[] {
    this.#stopRetry?.();
    this.#stopRetry = undefined;
    const keys = this.#heldKeys();
    this.#unreleased.clear();
    return keys;
  }

  async #send(key: string, token: string): Promise<void> {
    // On a cluster a PUBLISH from the script would reach the feed through the cluster bus, later
    // than one sent to the feed's master directly, as publish() does.
    const cluster = this.#access.isCluster;
    const handedTo = await this.#access.eval(RELEASE, [key, `${key}:waiting`], [token, this.#node, this.#timings.ttlMs, cluster ? "" : this.#channel]);
    if (cluster && typeof handedTo === "string") {
      // Lost, it costs the waiter a poll.
      this.#access.publish(this.#channel, `${handedTo} ${this.#access.keyPrefix}${key}`).catch(() => {});
    }
  }

  /** Releases `key` if `token` holds it; a release that fails is retried later (the task's outcome stands). */
  async #release(key: string, token: string, held = true): Promise<void> {
    try {
      await this.#send(key, token);
    } catch {
      this.#keepForRetry(key, token, held);
    }
  }

  #heldKeys(): string[] {
    return [...new Set([...this.#unreleased.values()].filter((entry) => entry.held).map((entry) => entry.key))];
  }

  #keepForRetry(key: string, token: string, held: boolean): void {
    this.#unreleased.set(token, { key, held, until: Date.now() + this.#timings.ttlMs });
    if (this.#stopRetry) return;
    const stopOnReady = this.#access.onReady(() => void this.retryReleases());
    // Also on a timer: while one master of a cluster restarts, the client as a whole stays up (an ioredis
    // Cluster emits no "ready"), and a node's reconnect can come before it serves its slots again (CLUSTERDOWN).
    const timer = setInterval(() => void this.retryReleases(), RELEASE_RETRY_MS);
    timer.unref();
    this.#stopRetry = () => {
      stopOnReady();
      clearInterval(timer);
    };
  }

  #wake(waiter: Waiter): void {
    waiter.woken = true;
    waiter.wake?.();
  }

  async #acquire(key: string, token: string, what: string): Promise<void> {
    const { ttlMs, waitMs, pollMs = POLL_MS } = this.#timings;
    const deadline = Date.now() + waitMs;
    const waiter: Waiter = { token, woken: false, handed: false };
    let waiters: Set<Waiter> | undefined;
    try {
      for (let attempt = 0; ; attempt++) {
        waiter.woken = false;
        let acquired: boolean;
        try {
          // The first try is a plain SET: no script for a lock nobody holds.
          acquired = attempt === 0
            ? await this.#access.set(key, token, { PX: ttlMs, NX: true })
            : (await this.#access.eval(ACQUIRE, [key, `${key}:waiting`], [token, ttlMs, this.#node, WAITING_MS])) === 1;
        } catch (error) {
          // The SET may have landed with only its reply lost (a master killed after its AOF write):
          // release it later by its token, which does nothing if it did not.
          this.#keepForRetry(key, token, false);
          throw new Error(message(`RedisStore could not lock ${what}: ${(error as Error).message}`), { cause: error });
        }
        if (acquired || waiter.handed) return;
        const left = deadline - Date.now();
        if (left <= 0) {
          // A release may have handed it over meanwhile; and a release need not hand it here any more.
          if (attempt > 0) void this.#release(key, token, false);
          throw new Error(message(`RedisStore gave up waiting for the lock of ${what} after ${waitMs} ms: another process holds it.`));
        }
        if (attempt === 0) {
          // From here on, a release that hands the lock to this token wakes this waiter, even during an attempt.
          waiters = this.#waiting.get(key);
          if (!waiters) this.#waiting.set(key, (waiters = new Set()));
          waiters.add(waiter);
          continue; // The plain SET noted no waiter: the script does, at once.
        }
        if (waiter.woken) continue;
        const delay = Math.min(pollMs.first * 2 ** (attempt - 1), pollMs.max) * (0.5 + Math.random());
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(delay, left));
          waiter.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        waiter.wake = undefined;
        if (waiter.handed) return;
      }
    } finally {
      waiters?.delete(waiter);
      if (waiters?.size === 0 && this.#waiting.get(key) === waiters) this.#waiting.delete(key);
    }
  }
}
