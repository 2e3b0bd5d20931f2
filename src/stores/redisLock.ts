import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { message } from "../errors.js";

// Only the holder's token may release or extend the lock: a holder that
// outlived its TTL must not delete the lock another process now holds.
const RELEASE = `if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) else return 0 end`;
const EXTEND = `if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("pexpire", KEYS[1], ARGV[2]) else return 0 end`;

const FIRST_RETRY_MS = 2;
const MAX_RETRY_MS = 50;

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
 * compare-and-delete script and kept alive while the task runs.
 */
export class RedisLock {
  readonly #client: Redis;
  readonly #timings: RedisLockTimings;
  readonly #onError: (error: Error) => void;

  constructor(client: Redis, timings: RedisLockTimings, onError: (error: Error) => void) {
    this.#client = client;
    this.#timings = timings;
    this.#onError = onError;
  }

  /** Runs `task` while holding `key`; rejects when the lock cannot be had within `waitMs`. */
  async run<T>(key: string, what: string, task: () => Promise<T>): Promise<T> {
    const token = randomBytes(16).toString("base64url");
    await this.#acquire(key, token, what);
    const { ttlMs } = this.#timings;
    const renew = setInterval(() => {
      this.#client.eval(EXTEND, 1, key, token, ttlMs).catch((error: Error) => this.#onError(error));
    }, Math.max(Math.floor(ttlMs / 3), 1));
    renew.unref();
    try {
      return await task();
    } finally {
      clearInterval(renew);
      // A failed release only delays the next holder until the TTL ends; the task's outcome stands.
      await this.#client.eval(RELEASE, 1, key, token).catch((error: Error) => this.#onError(error));
    }
  }

  async #acquire(key: string, token: string, what: string): Promise<void> {
    const { ttlMs, waitMs } = this.#timings;
    const deadline = Date.now() + waitMs;
    for (let attempt = 0; ; attempt++) {
      let acquired: string | null;
      try {
        acquired = await this.#client.set(key, token, "PX", ttlMs, "NX");
      } catch (error) {
        throw new Error(message(`RedisStore could not lock ${what}: ${(error as Error).message}`), { cause: error });
      }
      if (acquired !== null) return;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(message(`RedisStore gave up waiting for the lock of ${what} after ${waitMs} ms: another process holds it.`));
      }
      const delay = Math.min(FIRST_RETRY_MS * 2 ** attempt, MAX_RETRY_MS) * (0.5 + Math.random());
      await sleep(Math.min(delay, left));
    }
  }
}
