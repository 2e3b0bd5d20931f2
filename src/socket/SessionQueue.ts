import { AsyncLocalStorage } from "node:async_hooks";
import type { LockedSession } from "../stores/types.js";

const settle = (): void => {};

/** Runs a task while holding a lock on `key` that other processes respect (a store's `withLock`). */
export type SessionLock = <T>(key: string, task: (locked?: LockedSession) => Promise<T>) => Promise<T>;

/** At most this many queued tasks run under one lock before it goes back, so other processes get their turn. */
const MAX_BATCH = 16;
/** …and for at most this long. */
const MAX_BATCH_MS = 100;

/** A call waiting for its turn: `start` runs it (through the lock's `locked`), `fail` rejects it unrun; `done` settles when it has run. */
interface Queued {
  start: (locked: LockedSession | undefined) => void;
  fail: (error: unknown) => void;
  done: Promise<void>;
}

/**
 * Runs tasks one at a time per key, in call order; different keys run
 * concurrently. With a `lock`, tasks run inside `lock(key, …)`: the tasks
 * queued here for a key while it is held run under the same lock (up to
 * `MAX_BATCH` of them), so one process orders its own calls before it
 * contends with other processes, and pays one lock for many. Each caller
 * gets its task's outcome as soon as the task ends and the store has what
 * it wrote (`LockedSession.written`). With `reentrant`, a task
 * queued from inside a running task of the same key (a `setById` inside a
 * serialized request) runs at once instead of waiting for its own caller.
 */
export class SessionQueue {
  /** The last task queued per key; a task waits for the one before it to settle, fulfilled or not. */
  readonly #tails = new Map<string, Promise<unknown>>();
  /** Tasks waiting for a lock, by key; a key is here while a batch of it runs or waits. */
  readonly #batches = new Map<string, Queued[]>();
  readonly #lock: SessionLock | undefined;
  readonly #held: AsyncLocalStorage<ReadonlySet<string>> | undefined;

  constructor(lock?: SessionLock, { reentrant = false }: { reentrant?: boolean } = {}) {
    this.#lock = lock;
    if (reentrant) this.#held = new AsyncLocalStorage();
  }

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    if (this.#lock === undefined && this.#held === undefined && !this.#tails.has(key)) return this.#runFree(key, task);
    const held = this.#held;
    const inTurn = held?.getStore();
    if (inTurn?.has(key)) return task();
    const owned = held ? () => held.run(new Set(inTurn).add(key), task) : task;
    if (this.#lock) return this.#enqueue(key, owned);
    const previous = this.#tails.get(key);
    // A tail left by #runFree is the task itself, which may reject: this one runs after it either way.
    const result = previous ? previous.then(() => owned(), () => owned()) : owned();
    const tail = result.then(settle, settle);
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }

  /** Nothing queued for `key` and no lock to take: runs at once, the task itself standing as the tail. */
  #runFree<T>(key: string, task: () => Promise<T>): Promise<T> {
    const result = task();
    this.#tails.set(key, result);
    const free = (): void => {
      if (this.#tails.get(key) === result) this.#tails.delete(key);
    };
    result.then(free, free);
    return result;
  }

  #enqueue<T>(key: string, task: () => Promise<T>): Promise<T> {
    let start!: (locked: LockedSession | undefined) => void;
    let fail!: (error: unknown) => void;
    const turn = new Promise<LockedSession | undefined>((resolve, reject) => {
      start = resolve;
      fail = reject;
    });
    let ran!: () => void;
    const done = new Promise<void>((resolve) => (ran = resolve));
    // Chained here, the task runs in its caller's async context, not in the batch's.
    const result = turn.then(async (locked) => {
      const running = locked ? locked.run(task) : task();
      running.then(ran, ran);
      const value = await running;
      await locked?.written();
      return value;
    });
    const queue = this.#batches.get(key);
    const queued = { start, fail, done };
    if (queue) queue.push(queued);
    else {
      this.#batches.set(key, [queued]);
      this.#runBatch(key);
    }
    return result;
  }

  /** Takes the lock and runs the queued tasks of `key` under it; then again while tasks are left. */
  #runBatch(key: string): void {
    const queue = this.#batches.get(key)!;
    let started = false;
    const batch = async (locked?: LockedSession): Promise<void> => {
      started = true;
      const end = Date.now() + MAX_BATCH_MS;
      for (let n = 0; n < MAX_BATCH && queue.length > 0 && Date.now() < end; n++) {
        const next = queue.shift()!;
        next.start(locked);
        await next.done;
      }
    };
    const lock = this.#lock!;
    // A lock that throws at once fails its first call like one that rejects.
    (async () => lock(key, batch))()
      .catch((error: unknown) => {
        // The lock was not had (waited too long, Redis unreachable): the first call fails, the next ones try again.
        if (!started) queue.shift()?.fail(error);
      })
      .finally(() => {
        if (queue.length > 0) this.#runBatch(key);
        else this.#batches.delete(key);
      });
  }
}
