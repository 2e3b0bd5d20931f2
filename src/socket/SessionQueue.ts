const settle = (): void => {};

/** Runs a task while holding a lock on `key` that other processes respect (a store's `withLock`). */
export type SessionLock = <T>(key: string, task: () => Promise<T>) => Promise<T>;

/**
 * Runs tasks one at a time per key, in call order; different keys run
 * concurrently. With a `lock`, each task also runs inside `lock(key, …)`, so
 * one process orders its own calls before it contends with other processes.
 */
export class SessionQueue {
  readonly #tails = new Map<string, Promise<void>>();
  readonly #lock: SessionLock | undefined;

  constructor(lock?: SessionLock) {
    this.#lock = lock;
  }

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const lock = this.#lock;
    const step = lock ? () => lock(key, task) : task;
    const previous = this.#tails.get(key);
    const result = previous ? previous.then(step) : step();
    const tail = result.then(settle, settle);
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }
}
