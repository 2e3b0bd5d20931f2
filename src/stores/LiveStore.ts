import { ExpirySchedule } from "../bridge/ExpirySchedule.js";
import { stateEnd } from "./stateEnd.js";
import type { StoreChange, SessionStore, StoreState } from "./types.js";

/**
 * Marks a store that drops every record at its end (`expiresAt`, or
 * koa-session's `_expire` when earlier) by itself and reports it through
 * `subscribe`: the bridge then keeps no expiry schedule of its own for it.
 */
export const ENDS_RECORDS = Symbol.for("koa-io-session.endsRecords");

/**
 * The in-memory store: a `Map` from session id to its stored state. It drops
 * each record within about a second of its end (its `expiresAt`, or
 * koa-session's `_expire` when that comes first) by itself and reports that
 * through `subscribe`, as a store with native expiry would, so memory stays
 * bounded by the live sessions even without `cleanup()`.
 */
export class LiveStore implements SessionStore {
  readonly [ENDS_RECORDS] = true;
  readonly #records = new Map<string, StoreState>();
  readonly #listeners = new Set<(change: StoreChange) => void>();
  // Each record's end follows from the record itself, so the schedule needs no id → slot map (and #expire rechecks every id).
  readonly #expiry = new ExpirySchedule((sessionIds) => this.#expire(sessionIds), { reverseMap: false });

  get(sessionId: string): StoreState | undefined {
    return this.#records.get(sessionId);
  }

  set(sessionId: string, state: StoreState): boolean {
    const previous = this.#records.get(sessionId);
    this.#records.set(sessionId, state);
    this.#expiry.schedule(sessionId, stateEnd(state), previous && stateEnd(previous));
    return true;
  }

  destroy(sessionId: string): boolean {
    const state = this.#records.get(sessionId);
    if (state === undefined) return false;
    this.#expiry.delete(sessionId, stateEnd(state));
    return this.#records.delete(sessionId);
  }

  list(): string[] {
    return [...this.#records.keys()];
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

  #expire(sessionIds: string[]): void {
    const now = Date.now();
    for (const sessionId of sessionIds) {
      const state = this.#records.get(sessionId);
      if (state === undefined) continue;
      const end = stateEnd(state);
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
