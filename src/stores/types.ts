/** A value or a promise of it: every store verb may be sync or async. */
export type MaybePromise<T> = T | Promise<T>;

/** What a backend store keeps for one session id. */
export interface StoreState {
  /** The session serialized as JSON (koa-session's `_expire`/`_maxAge` included). */
  session: string;
  /** Epoch milliseconds after which the record is dead. */
  expiresAt: number;
  /** The lifetime, in milliseconds, that produced `expiresAt`. */
  ttl: number;
}

/**
 * The backend store contract. `get`, `set` and `destroy` are required;
 * `list` enables `cleanup()`, and `optimize` runs after every cleanup.
 */
export interface SessionStore {
  /** The stored state, or `undefined`/`null` when there is none. */
  get(sessionId: string): MaybePromise<StoreState | undefined | null>;
  /** Stores `state` under `sessionId`, replacing what was there. */
  set(sessionId: string, state: StoreState): MaybePromise<unknown>;
  /** Removes the record; resolves whether one existed. */
  destroy(sessionId: string): MaybePromise<unknown>;
  /** Every stored session id (needed by `cleanup()`). */
  list?(): MaybePromise<Iterable<string>>;
  /** Called after a cleanup with the number of records it removed. */
  optimize?(clearedCount: number): MaybePromise<unknown>;
}
