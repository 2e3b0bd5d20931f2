import type { SessionStore, StoreState } from "./types.js";

/** The in-memory store: a `Map` from session id to its stored state. */
export class LiveStore implements SessionStore {
  #records = new Map<string, StoreState>();

  get(sessionId: string): StoreState | undefined {
    return this.#records.get(sessionId);
  }

  set(sessionId: string, state: StoreState): boolean {
    this.#records.set(sessionId, state);
    return true;
  }

  destroy(sessionId: string): boolean {
    return this.#records.delete(sessionId);
  }

  list(): string[] {
    return [...this.#records.keys()];
  }

  /** How many records are held, expired ones included. */
  get size(): number {
    return this.#records.size;
  }
}
