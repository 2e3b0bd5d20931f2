import { ExpirySchedule } from "../bridge/ExpirySchedule.js";
import { TimeSlice } from "../timeSlice.js";
import { STORE_GRACE_MS } from "../gateway/record.js";
import { koaTail, recordEnd } from "./stateEnd.js";
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
 * A state as kept, as one flat string (about 100 bytes less per session than
 * the state object, its two boxed numbers and the string `JSON.stringify`
 * built in pieces):
 * - what the bridge writes for koa-session (`ttl` = `_maxAge` + 10 s,
 *   `expiresAt` up to 255 ms past `_expire` + 10 s): `COMPACT`, one char for
 *   those milliseconds, the JSON; both numbers are read back from its tail;
 * - any other state: `"<expiresAt> <ttl> <json>"`;
 * - a state of another shape (no string, no numbers) is kept as given.
 */
type Kept = string | StoreState;

const COMPACT = "\u0001";
const COMPACT_CODE = 1;
/** Latin-1 characters keep the string one byte per character. */
const MAX_LATE_MS = 255;

function pack(state: StoreState): Kept {
  const { session, expiresAt, ttl } = state;
  if (typeof session !== "string" || typeof expiresAt !== "number" || typeof ttl !== "number") return state;
  const tail = koaTail(session);
  if (tail !== undefined && ttl === tail.maxAge + STORE_GRACE_MS) {
    const late = expiresAt - tail.expire - STORE_GRACE_MS;
    if (Number.isInteger(late) && late >= 0 && late <= MAX_LATE_MS && tail.expire + STORE_GRACE_MS + late === expiresAt) {
      return COMPACT + String.fromCharCode(late) + session;
    }
  }
  return `${expiresAt} ${ttl} ${session}`;
}

/** The number `kept` starts with; plain digits are read in place, being several times faster than `Number()` on a slice. */
function leadingNumber(kept: string): number {
  let value = 0;
  for (let at = 0; ; at++) {
    const digit = kept.charCodeAt(at) - 48;
    if (digit >= 0 && digit <= 9) value = value * 10 + digit;
    else if (digit === -16 && at > 0 && at < 16) return value;
    else return Number(kept.slice(0, kept.indexOf(" ")));
  }
}

function unpack(kept: Kept): StoreState {
  if (typeof kept !== "string") return kept;
  if (kept.charCodeAt(0) === COMPACT_CODE) {
    const { expire, maxAge } = koaTail(kept)!;
    return { session: kept.slice(2), expiresAt: expire + STORE_GRACE_MS + kept.charCodeAt(1), ttl: maxAge + STORE_GRACE_MS };
  }
  const afterExpiry = kept.indexOf(" ");
  const afterTtl = kept.indexOf(" ", afterExpiry + 1);
  return {
    session: kept.slice(afterTtl + 1),
    expiresAt: leadingNumber(kept),
    ttl: Number(kept.slice(afterExpiry + 1, afterTtl)),
  };
}

/** The `_expire` of a compact state; plain digits are read in place, with no match to collect. */
function compactExpire(kept: string): number {
  const from = kept.lastIndexOf('"_expire":') + 10;
  let value = 0;
  for (let at = from; ; at++) {
    const digit = kept.charCodeAt(at) - 48;
    if (digit >= 0 && digit <= 9) value = value * 10 + digit;
    else if (digit === -4 && at > from && at - from < 16) return value;
    else return koaTail(kept)!.expire;
  }
}

function expiresAtOf(kept: Kept): number {
  if (typeof kept !== "string") return kept.expiresAt;
  if (kept.charCodeAt(0) === COMPACT_CODE) return compactExpire(kept) + STORE_GRACE_MS + kept.charCodeAt(1);
  return leadingNumber(kept);
}

/** When a kept state dies; reading it also flattens the string built in pieces. */
function endOf(kept: Kept): number {
  if (typeof kept !== "string") return recordEnd(kept.session, kept.expiresAt);
  // A compact state ends at its _expire, 10 s before its expiresAt.
  if (kept.charCodeAt(0) === COMPACT_CODE) return compactExpire(kept);
  const state = unpack(kept);
  return recordEnd(state.session, state.expiresAt);
}

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
    let cleared = 0;
    for (;;) {
      const swept = this.#sweepSlice(entries, now, removed, slice);
      if (swept < 0) return cleared - swept - 1;
      cleared += swept;
      await slice.pause();
    }
  }

  /**
   * One time slice of `[SWEEP]`, kept sync so that V8 optimizes the loop:
   * the count removed, or `-(count + 1)` once `entries` is exhausted.
   */
  #sweepSlice(entries: Iterator<[string, Kept]>, now: number, removed: (sessionId: string) => void, slice: TimeSlice): number {
    let cleared = 0;
    let sinceCheck = 0;
    for (let next = entries.next(); !next.done; next = entries.next()) {
      const [sessionId, kept] = next.value;
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

  #expire(sessionIds: string[]): void {
    const now = Date.now();
    for (const sessionId of sessionIds) {
      const kept = this.#records.get(sessionId);
      if (kept === undefined) continue;
      const end = endOf(kept);
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
