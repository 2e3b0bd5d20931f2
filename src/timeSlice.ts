import { performance } from "node:perf_hooks";

/** How long one uninterrupted run over many sessions may hold the event loop. */
export const SLICE_MS = 8;

/** Resolves on the next turn of the event loop, after pending I/O. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * A budget for a long loop: `spent()` turns true after `ms` of work, and
 * `pause()` yields one turn and starts a new budget.
 */
export class TimeSlice {
  readonly #ms: number;
  #start = performance.now();

  constructor(ms = SLICE_MS) {
    this.#ms = ms;
  }

  spent(): boolean {
    return performance.now() - this.#start >= this.#ms;
  }

  async pause(): Promise<void> {
    await nextTurn();
    this.#start = performance.now();
  }
}
