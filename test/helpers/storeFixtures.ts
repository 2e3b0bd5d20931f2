import type { SessionBridge, SessionDestroyEvent, SessionSetEvent, SessionStore, StoreState } from "../../src/index.js";
import { LiveStore } from "../../src/index.js";

/** Resolves on a later turn of the event loop, so async stores really interleave. */
export const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A sync store over a Map with only the required verbs (no list, no optimize). */
export class SyncMapStore implements SessionStore {
  readonly records = new Map<string, StoreState>();

  get(sessionId: string): StoreState | undefined {
    return this.records.get(sessionId);
  }

  set(sessionId: string, state: StoreState): void {
    this.records.set(sessionId, state);
  }

  destroy(sessionId: string): boolean {
    return this.records.delete(sessionId);
  }
}

/**
 * An async store over a Map: every verb resolves a turn later, `get` answers
 * `null` for a missing id, and `optimize` calls are recorded.
 */
export class AsyncMapStore implements SessionStore {
  readonly records = new Map<string, StoreState>();
  readonly optimizeCalls: number[] = [];

  async get(sessionId: string): Promise<StoreState | null> {
    await nextTurn();
    return this.records.get(sessionId) ?? null;
  }

  async set(sessionId: string, state: StoreState): Promise<void> {
    await nextTurn();
    this.records.set(sessionId, state);
  }

  async destroy(sessionId: string): Promise<boolean> {
    await nextTurn();
    return this.records.delete(sessionId);
  }

  async list(): Promise<string[]> {
    await nextTurn();
    return [...this.records.keys()];
  }

  async optimize(clearedCount: number): Promise<void> {
    await nextTurn();
    this.optimizeCalls.push(clearedCount);
  }
}

/** How a faulty verb fails: a synchronous throw or a rejected promise. */
export type FaultMode = "throw" | "reject";
type Verb = "get" | "set" | "destroy";

/**
 * A LiveStore whose `get`, `set` or `destroy` can be switched to fail with
 * `error`, by throwing or by rejecting, until the fault is cleared.
 */
export class FaultyStore implements SessionStore {
  readonly inner = new LiveStore();
  readonly error = new Error("store is down");
  readonly faults: Partial<Record<Verb, FaultMode>> = {};
  /** How many calls of each verb failed. */
  readonly failures: Record<Verb, number> = { get: 0, set: 0, destroy: 0 };

  #call<T>(verb: Verb, run: () => T): T | Promise<T> {
    const mode = this.faults[verb];
    if (mode === undefined) return run();
    this.failures[verb]++;
    if (mode === "throw") throw this.error;
    return Promise.reject(this.error);
  }

  get(sessionId: string) {
    return this.#call("get", () => this.inner.get(sessionId));
  }

  set(sessionId: string, state: StoreState) {
    return this.#call("set", () => this.inner.set(sessionId, state));
  }

  destroy(sessionId: string) {
    return this.#call("destroy", () => this.inner.destroy(sessionId));
  }

  list(): string[] {
    return this.inner.list();
  }
}

/**
 * A LiveStore that can refuse writes the way the store contract allows:
 * while `refuseSet` / `refuseDestroy` is on, that verb changes nothing and
 * returns `false`. Refused calls are counted.
 */
export class RefusingStore extends LiveStore {
  refuseSet = false;
  refuseDestroy = false;
  readonly refused = { set: 0, destroy: 0 };

  override set(sessionId: string, state: StoreState): boolean {
    if (!this.refuseSet) return super.set(sessionId, state);
    this.refused.set++;
    return false;
  }

  override destroy(sessionId: string): boolean {
    if (!this.refuseDestroy) return super.destroy(sessionId);
    this.refused.destroy++;
    return false;
  }
}

/** A stored state for `session`, expiring `expiresIn` ms from now (negative: already expired). */
export function storeState(session: Record<string, unknown>, expiresIn: number): StoreState {
  const ttl = Math.max(expiresIn, 1000);
  return { session: JSON.stringify(session), expiresAt: Date.now() + expiresIn, ttl };
}

/** The record `store` holds for `sessionId`, parsed (koa-session fields included). */
export function storedRecord(store: LiveStore, sessionId: string): Record<string, unknown> | undefined {
  const state = store.get(sessionId);
  return state && JSON.parse(state.session);
}

/** Every event a bridge emits from now on, in order of arrival per kind. */
export interface RecordedEvents {
  set: SessionSetEvent[];
  destroy: SessionDestroyEvent[];
  cleanup: number[];
  error: Error[];
}

/** Starts recording the bridge's events. */
export function recordEvents(bridge: SessionBridge): RecordedEvents {
  const events: RecordedEvents = { set: [], destroy: [], cleanup: [], error: [] };
  bridge.on("sessionSet", (e) => events.set.push(e));
  bridge.on("sessionDestroy", (e) => events.destroy.push(e));
  bridge.on("cleanup", (n) => events.cleanup.push(n));
  bridge.on("error", (e) => events.error.push(e));
  return events;
}
