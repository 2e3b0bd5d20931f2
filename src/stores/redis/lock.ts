import { randomBytes } from "node:crypto";
import { message } from "../../errors.js";
import { type RedisAccess, redisScript } from "./client.js";

// Only the holder's token may release or extend the lock: a holder that
// outlived its TTL must not delete the lock another process now holds.
const RELEASE = redisScript(`if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) else return 0 end`);
const EXTEND = redisScript(`if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("pexpire", KEYS[1], ARGV[2]) else return 0 end`);

const FIRST_RETRY_MS = 2;
const MAX_RETRY_MS = 50;
/** How often failed lock releases are tried again until they succeed. */
const RELEASE_RETRY_MS = 1000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Timings of `RedisLock`. */
export interface RedisLockTimings {
  /** Lifetime of a lock key; renewed every third of it while the task runs. */
  ttlMs: number;
  /** How long to wait for a lock held elsewhere before failing. */
  waitMs: number;
}

/**
 * A lock per key across processes: `SET key token NX PX ttl` with a random
 * token, retried with a growing, jittered delay until `waitMs`; released by a
 * compare-and-delete script and kept alive while the task runs. A release
 * that fails (Redis unreachable) is retried when the client is back and every
 * second until it succeeds, so a restarted Redis that kept the key does not
 * block the session until its TTL.
 */
export class RedisLock {
  readonly #access: RedisAccess;
  readonly #timings: RedisLockTimings;
  readonly #onError: (error: Error) => void;
  /**
   * Releases still to send: token → its lock key, whether the lock was surely taken (not a SET whose reply
   * was lost) and when its TTL ends it anyway. By token: one key may have several (a lost reply, then a held lock).
   */
  readonly #unreleased = new Map<string, { key: string; held: boolean; until: number }>();
  #stopRetry: (() => void) | undefined;

  constructor(access: RedisAccess, timings: RedisLockTimings, onError: (error: Error) => void) {
    this.#access = access;
    this.#timings = timings;
    this.#onError = onError;
  }

  /** How many locks that were held wait for their release to go through. */
  get unreleased(): number {
    return this.#heldKeys().length;
  }

  /** Runs `task` while holding `key`; rejects when the lock cannot be had within `waitMs`. */
  async run<T>(key: string, what: string, task: () => Promise<T>): Promise<T> {
    const token = randomBytes(16).toString("base64url");
    await this.#acquire(key, token, what);
    const { ttlMs } = this.#timings;
    const renew = setInterval(() => {
      this.#access.eval(EXTEND, [key], [token, ttlMs]).catch((error: Error) => this.#onError(error));
    }, Math.max(Math.floor(ttlMs / 3), 1));
    renew.unref();
    try {
      return await task();
    } finally {
      clearInterval(renew);
      // A failed release is retried later; the task's outcome stands.
      await this.#release(key, token).catch(() => this.#keepForRetry(key, token));
    }
  }

  /** Tries the releases that failed once more; resolves when each has succeeded or failed again. */
  async retryReleases(): Promise<void> {
    const pending = [...this.#unreleased];
    await Promise.all(
      pending.map(async ([token, { key, until }]) => {
        if (Date.now() >= until) return void this.#unreleased.delete(token);
        try {
          await this.#release(key, token);
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

  #release(key: string, token: string): Promise<unknown> {
    return this.#access.eval(RELEASE, [key], [token]);
  }

  #heldKeys(): string[] {
    return [...new Set([...this.#unreleased.values()].filter((entry) => entry.held).map((entry) => entry.key))];
  }

  #keepForRetry(key: string, token: string, held = true): void {
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

  async #acquire(key: string, token: string, what: string): Promise<void> {
    const { ttlMs, waitMs } = this.#timings;
    const deadline = Date.now() + waitMs;
    for (let attempt = 0; ; attempt++) {
      let acquired: boolean;
      try {
        acquired = await this.#access.set(key, token, { PX: ttlMs, NX: true });
      } catch (error) {
        // The SET may have landed with only its reply lost (a master killed after its AOF write):
        // release it later by its token, which does nothing if it did not.
        this.#keepForRetry(key, token, false);
        throw new Error(message(`RedisStore could not lock ${what}: ${(error as Error).message}`), { cause: error });
      }
      if (acquired) return;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(message(`RedisStore gave up waiting for the lock of ${what} after ${waitMs} ms: another process holds it.`));
      }
      const delay = Math.min(FIRST_RETRY_MS * 2 ** attempt, MAX_RETRY_MS) * (0.5 + Math.random());
      await sleep(Math.min(delay, left));
    }
  }
}
