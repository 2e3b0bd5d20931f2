import { ExpirySchedule } from "../bridge/ExpirySchedule.js";
import { TimeSlice } from "../timeSlice.js";
import { endOf, expiresAtOf, type Kept, pack, unpack } from "./liveState.js";
import type { StoreChange, SessionStore, StoreState } from "./types.js";

/**
 * Marks a store that drops every record at its end (`expiresAt`, or
 * koa-session's `_expire` when earlier) by itself and reports it through
 * `subscribe`: the bridge then keeps no expiry schedule of its own for it.
 */
export const ENDS_RECORDS = Symbol.for("koa-io-session.endsRecords");

/** LiveStore's one-pass cleanup (see `LiveStore[SWEEP]`). */
export const SWEEP = Symbol.for("koa-io-session.sweep");

/** Records swept between two looks at the clock. */
const SWEEP_BATCH = 256;

/**
 * The in-memory store: a `Map` from session id to its stored state. It drops
 * each record within about a second of its end (its `expiresAt`, or
 * koa-session's `_expire` when that comes first) by itself and reports that
 * through `subscribe`, as a store with native expiry would, so memory stays
 * bounded by the live sessions even without `cleanup()`. `get` answers a
 * new state object each time.
 */
export class LiveStore implements SessionStore {
  readonly [ENDS_RECORDS] = true;
  readonly #records = new Map<string, Kept>();
  readonly #listeners = new Set<(change: StoreChange) => void>();
  // Each record's end follows from the record itself, so the schedule needs no id → slot map (and #expire rechecks every id).
  readonly #expiry = new ExpirySchedule((sessionIds) => this.#expire(sessionIds), { reverseMap: false });
  /**
   * Settles when the running sweep ends. Meanwhile the expiry drain waits for
   * it (the sweep removes most of those records anyway, in one cheap pass)
   * instead of competing with it record by record.
   */
  #sweeping: Promise<void> | undefined;

  get(sessionId: string): StoreState | undefined {
    const kept = this.#records.get(sessionId);
    return kept === undefined ? undefined : unpack(kept);
  }

  set(sessionId: string, state: StoreState): boolean {
    const previous = this.#records.get(sessionId);
    const kept = pack(state);
    this.#records.set(sessionId, kept);
    this.#expiry.schedule(sessionId, endOf(kept), previous === undefined ? undefined : endOf(previous));
    return true;
  }

  destroy(sessionId: string): boolean {
    const kept = this.#records.get(sessionId);
    if (kept === undefined) return false;
    this.#expiry.delete(sessionId, endOf(kept));
    return this.#records.delete(sessionId);
  }

  list(): string[] {
    return [...this.#records.keys()];
  }

  /**
   * What the bridge's `cleanup()` does record by record, in one pass over the
   * map: removes every record whose `expiresAt` has passed, calls `removed`
   * for each, and yields to the event loop between time slices. Their
   * schedule entries fall due within a second and find nothing.
   */
  async [SWEEP](removed: (sessionId: string) => void): Promise<number> {
    const now = Date.now();
    const slice = new TimeSlice();
    const entries = this.#records.entries();
    const sweep = (async () => {
      let cleared = 0;
      for (;;) {
        const swept = this.#sweepSlice(entries, now, removed, slice);
        if (swept < 0) return cleared - swept - 1;
        cleared += swept;
        await slice.pause();
      }
    })();
    const ended = (): void => {
      if (this.#sweeping === sweeping) this.#sweeping = undefined;
    };
    // Settles either way: the sweep's own caller gets its error.
    const sweeping = sweep.then(ended, ended);
    this.#sweeping = sweeping;
    return sweep;
  }

  /**
   * One time slice of `[SWEEP]`, kept sync so that V8 optimizes the loop:
   * the count removed, or `-(count + 1)` once `entries` is exhausted.
   */
  #sweepSlice(entries: IterableIterator<[string, Kept]>, now: number, removed: (sessionId: string) => void, slice: TimeSlice): number {
    let cleared = 0;
    let sinceCheck = 0;
    // for…of on the map's own iterator: V8 optimizes it (no entry array per record), and a Map
    // iterator has no return(), so leaving the loop at a slice's end keeps it where it was.
    for (const [sessionId, kept] of entries) {
      if (expiresAtOf(kept) <= now) {
        this.#records.delete(sessionId);
        cleared++;
        removed(sessionId);
      }
      if (++sinceCheck < SWEEP_BATCH) continue;
      sinceCheck = 0;
      if (slice.spent()) return cleared;
    }
    return -(cleared + 1);
  }

  /** Reports the records this store dropped because they ended; returns the function that stops it. */
  subscribe(listener: (change: StoreChange) => void): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  /** How many records are held, expired ones included. */
  get size(): number {
    return this.#records.size;
  }

  #expire(sessionIds: string[]): void | Promise<void> {
    const sweeping = this.#sweeping;
    if (sweeping) return sweeping.then(() => this.#expire(sessionIds));
    const now = Date.now();
    for (const sessionId of sessionIds) {
      const kept = this.#records.get(sessionId);
      if (kept === undefined) continue;
      // Past its expiresAt it is over either way; only a record still within it needs its _expire read.
      const end = expiresAtOf(kept) <= now ? now : endOf(kept);
      if (end > now) {
        this.#expiry.schedule(sessionId, end, end);
        continue;
      }
      this.#records.delete(sessionId);
      for (const listener of this.#listeners) {
        try {
          listener({ type: "destroy", sessionId });
        } catch (error) {
          process.emitWarning(error as Error);
        }
      }
    }
  }
}
