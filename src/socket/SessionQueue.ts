import { AsyncLocalStorage } from "node:async_hooks";

const settle = (): void => {};

/** Runs a task while holding a lock on `key` that other processes respect (a store's `withLock`). */
export type SessionLock = <T>(key: string, task: () => Promise<T>) => Promise<T>;

/**
 * Runs tasks one at a time per key, in call order; different keys run
 * concurrently. With a `lock`, each task also runs inside `lock(key, …)`, so
 * one process orders its own calls before it contends with other processes.
 * With `reentrant`, a task queued from inside a running task of the same key
 * (a `setById` inside a serialized request) runs at once instead of waiting
 * for its own caller.
 */
export class SessionQueue {
  /** The last task queued per key; a task waits for the one before it to settle, fulfilled or not. */
  readonly #tails = new Map<string, Promise<unknown>>();
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
    const lock = this.#lock;
    const step = lock ? () => lock(key, owned) : owned;
    const previous = this.#tails.get(key);
    // A tail left by #runFree is the task itself, which may reject: step runs after it either way.
    const result = previous ? previous.then(() => step(), () => step()) : step();
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
}
