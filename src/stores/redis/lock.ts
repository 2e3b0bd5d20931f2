import { randomBytes } from "node:crypto";
import { message } from "../../errors.js";
import { type RedisAccess, redisScript } from "./client.js";
import type { PendingWrite } from "./lockedBatch.js";

/** The largest record a hand-over message carries, so its waiter need not read it (bytes). */
const HANDED_RECORD_MAX = 4096;

// KEYS: the lock, its waiters (a hash: node id → the token it waits with) and, optionally, a record to
// read once the lock is had; all in the session's slot. Taken when free, or found handed to this token
// (its message was lost, or it was woken by it); otherwise the node notes itself among the waiters, whose
// hash expires unless they keep polling. Resolves 0 (held elsewhere), or the record (1 when it has none).
const ACQUIRE = redisScript(`local v = redis.call("get", KEYS[1])
if v == ARGV[1] then
  redis.call("pexpire", KEYS[1], ARGV[2])
elseif v then
  redis.call("hset", KEYS[2], ARGV[3], ARGV[1])
  redis.call("pexpire", KEYS[2], ARGV[4])
  return 0
else
  redis.call("set", KEYS[1], ARGV[1], "PX", ARGV[2])
  redis.call("hdel", KEYS[2], ARGV[3])
end
if KEYS[3] then return redis.call("get", KEYS[3]) or 1 end
return 1`);
// Only the holder's token may write, extend or release: a holder that outlived its TTL must neither
// overwrite what the next holder wrote nor delete the lock it holds now (-1: nothing done). The write
// (KEYS[3] = ARGV[6] PX ARGV[7]) and its announcement (ARGV[9] on ARGV[8]) go first; then the lock is
// extended (ARGV[5] empty) or released. With a waiter on another node, the release passes the lock
// straight to its token (the releaser cannot take it back first, so a busy process does not starve
// the others) and the channel ARGV[4] tells it so, with the record when it is small (here, or by the
// caller when empty); its own node's waiters retry by themselves. Resolves the token it was handed to, or 0.
const COMMIT = redisScript(`local release = ARGV[5] == "1"
if release then redis.call("hdel", KEYS[2], ARGV[2]) end
if redis.call("get", KEYS[1]) ~= ARGV[1] then return -1 end
if ARGV[6] ~= "" then redis.call("set", KEYS[3], ARGV[6], "PX", ARGV[7]) end
if ARGV[9] ~= "" then redis.call("publish", ARGV[8], ARGV[9]) end
if not release then redis.call("pexpire", KEYS[1], ARGV[3]) return 0 end
local next = redis.call("hgetall", KEYS[2])
if #next == 0 then redis.call("del", KEYS[1]) return 0 end
redis.call("hdel", KEYS[2], next[1])
redis.call("set", KEYS[1], next[2], "PX", ARGV[3])
if ARGV[4] ~= "" then
  local record = KEYS[3] and redis.call("get", KEYS[3])
  if record and #record <= ${HANDED_RECORD_MAX} then record = "\\n" .. record else record = "" end
  redis.call("publish", ARGV[4], next[2] .. " " .. KEYS[1] .. record)
end
return next[2]`);

const POLL_MS = { first: 2, max: 50 };
/** How long a waiter stays noted without polling again (it polls at most ~75 ms apart). */
const WAITING_MS = 1000;
/** How often failed lock releases are tried again until they succeed. */
const RELEASE_RETRY_MS = 1000;

/** One `run` waiting for its lock: `wake` ends its pause (a release here, or one that handed it the lock). */
interface Waiter {
  token: string;
  woken: boolean;
  /** The record a release that handed it the lock sent along. */
  handed?: string | undefined;
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

/** A write made under the lock, only while the lock is still this holder's; `announce` is published right after it. */
export interface LockedWrite {
  key: string;
  value: string;
  px: number;
  announce?: { channel: string; message: string } | undefined;
}

/** How a write under the lock ended: made, refused because the lock was not held any more, or failed. */
export type WriteOutcome = "written" | "lost" | Error;

/** What a task holding the lock gets: the record read with the lock, and writes under it. */
export interface HeldLock {
  /** The `read` key's value when the lock was had (`null`: none); `undefined` without `read`. */
  readonly value: string | null | undefined;
  /** Writes while keeping the lock: `"lost"` when the lock is no longer held (nothing written or published). */
  write(write: LockedWrite): Promise<WriteOutcome>;
}

/** Options of one `RedisLock.run`. */
export interface LockRunOptions {
  /** A key of the lock's slot to read with the lock, for the task. */
  read?: string;
  /**
   * Called after the task: a write to make with the release, in the same
   * script, and where its outcome goes. The release stands either way.
   */
  release?: () => PendingWrite | undefined;
}

/**
 * A lock per key across processes: a key holding a random token, taken by
 * a script that also reads the task's record, kept alive while the task
 * runs, and released by a script that first makes the task's last write, so
 * a call on a free lock costs two round trips. A process that finds it held
 * notes its token in the lock's waiters (`key + ":waiting"`); a release with
 * waiters hands the lock to one of them and publishes `token key` on
 * `channel`, whose messages go to `handed`, so the waiter takes it at once.
 * Polling with a growing, jittered delay stays as the fallback (a lost
 * message, a holder that died), bounded by `waitMs`. A release that fails
 * (Redis unreachable) is retried when the client is back and every second,
 * so a restarted Redis that kept the key does not block the session until
 * its TTL.
 */
export class RedisLock {
  readonly #access: RedisAccess;
  readonly #timings: RedisLockTimings;
  readonly #channel: string;
  readonly #onError: (error: Error) => void;
  readonly #node = randomBytes(12).toString("base64url");
  /**
   * Releases still to send: token → its lock key, whether the lock was surely taken (not a take whose reply
   * was lost) and when its TTL ends it anyway. By token: one key may have several (a lost reply, then a held lock).
   */
  readonly #unreleased = new Map<string, { key: string; held: boolean; until: number }>();
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

  /** Runs `task` while holding `key`; rejects when the lock cannot be had within `waitMs`. */
  async run<T>(key: string, what: string, task: (held: HeldLock) => Promise<T>, options: LockRunOptions = {}): Promise<T> {
    const token = randomBytes(16).toString("base64url");
    const keys = options.read === undefined ? [key, `${key}:waiting`] : [key, `${key}:waiting`, options.read];
    const value = await this.#acquire(keys, token, what);
    const { ttlMs } = this.#timings;
    const renew = setInterval(() => {
      this.#commit(keys, token, false).catch((error: Error) => {
        this.#onError(new Error(message(`RedisStore could not extend the lock of ${what}: ${error.message}`), { cause: error }));
      });
    }, Math.max(Math.floor(ttlMs / 3), 1));
    renew.unref();
    const held: HeldLock = {
      value,
      write: async (write) => ((await this.#commit([key, `${key}:waiting`], token, false, write)) === -1 ? "lost" : "written"),
    };
    try {
      return await task(held);
    } finally {
      clearInterval(renew);
      await this.#release(keys, token, true, options.release?.());
      // Waiters of this node are never handed the lock by it: they try again now.
      for (const waiter of this.#waiting.get(key) ?? []) this.#wake(waiter);
    }
  }

  /** A message on the channel: a release passed `key` to `token`, with the record it guards when small. */
  handed(token: string, key: string, record?: string): void {
    for (const waiter of this.#waiting.get(key) ?? []) {
      if (waiter.token !== token) continue;
      waiter.handed = record;
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
          await this.#commit([key, `${key}:waiting`], token, true);
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

  /** Runs COMMIT: `write` (if any), then extends or releases the lock; resolves -1 when the lock was not held. */
  async #commit(keys: string[], token: string, release: boolean, write?: LockedWrite): Promise<unknown> {
    // On a cluster a PUBLISH from the script would reach the feed through the cluster bus, later than one
    // sent to the feed's master directly, as publish() does.
    const cluster = this.#access.isCluster;
    const announce = write?.announce;
    const handedTo = await this.#access.eval(COMMIT, write ? [keys[0]!, keys[1]!, write.key] : keys, [
      token, this.#node, this.#timings.ttlMs, cluster ? "" : this.#channel, release ? "1" : "",
      write?.value ?? "", write?.px ?? 0, announce?.channel ?? "", announce?.message ?? "",
    ]);
    if (cluster && typeof handedTo === "string") {
      // Lost, it costs the waiter a poll.
      const record = write && write.value.length <= HANDED_RECORD_MAX ? `\n${write.value}` : "";
      this.#access.publish(this.#channel, `${handedTo} ${this.#access.keyPrefix}${keys[0]}${record}`).catch(() => {});
    }
    return handedTo;
  }

  /**
   * Releases `keys[0]` if `token` holds it, making `last.write` first; a release that fails is retried
   * later without the write, whose failure goes to `last.settled`.
   */
  async #release(keys: string[], token: string, held: boolean, last?: PendingWrite): Promise<void> {
    try {
      const result = await this.#commit(keys, token, true, last?.write);
      last?.settled(result === -1 ? "lost" : "written");
    } catch (error) {
      this.#keepForRetry(keys[0]!, token, held);
      last?.settled(error as Error);
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

  /** Takes the lock (`keys`: lock, waiters, record to read); resolves the record, `null` without one. */
  async #acquire(keys: string[], token: string, what: string): Promise<string | null | undefined> {
    const { ttlMs, waitMs, pollMs = POLL_MS } = this.#timings;
    const key = keys[0]!;
    const deadline = Date.now() + waitMs;
    const waiter: Waiter = { token, woken: false };
    // From the first try on, a release that hands the lock to this token wakes this waiter, even during a try.
    let waiters = this.#waiting.get(key);
    if (!waiters) this.#waiting.set(key, (waiters = new Set()));
    waiters.add(waiter);
    try {
      for (let attempt = 0; ; attempt++) {
        waiter.woken = false;
        let reply: unknown;
        try {
          reply = await this.#access.eval(ACQUIRE, keys, [token, ttlMs, this.#node, WAITING_MS]);
        } catch (error) {
          // The take may have landed with only its reply lost (a master killed after its AOF write):
          // release it later by its token, which does nothing if it did not.
          this.#keepForRetry(key, token, false);
          throw new Error(message(`RedisStore could not lock ${what}: ${(error as Error).message}`), { cause: error });
        }
        if (typeof reply === "string") return reply;
        if (reply !== 0 && reply !== "0") return keys.length > 2 ? null : undefined;
        // Handed over while this try was on its way, with the record: no need to ask again.
        if (waiter.handed !== undefined && keys.length > 2) return waiter.handed;
        const left = deadline - Date.now();
        if (left <= 0) {
          // A release may have handed it over meanwhile; and a release need not hand it here any more.
          void this.#release(keys, token, false);
          throw new Error(message(`RedisStore gave up waiting for the lock of ${what} after ${waitMs} ms: another process holds it.`));
        }
        if (waiter.woken) continue;
        const delay = Math.min(pollMs.first * 2 ** attempt, pollMs.max) * (0.5 + Math.random());
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(delay, left));
          waiter.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        waiter.wake = undefined;
        if (waiter.handed !== undefined && keys.length > 2) return waiter.handed;
      }
    } finally {
      waiters.delete(waiter);
      if (waiters.size === 0 && this.#waiting.get(key) === waiters) this.#waiting.delete(key);
    }
  }
}
