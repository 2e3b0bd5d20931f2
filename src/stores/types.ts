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

/** Who made a write or destroy, passed to `set`/`destroy` for stores that report changes to other processes. */
export interface StoreChangeMeta {
  /** The client whose request wrote (or destroyed) the session, when known. */
  clientId?: string | undefined;
  /** `set`: the store held no live record for this id before. */
  isNew?: boolean;
  /** `set`: only the expiry moved (a TTL refresh); the content is unchanged, so there is nothing to report. */
  refresh?: boolean;
  /**
   * `destroy` inside an HTTP request that is still running (koa-session's
   * `regenerate()` destroys the old id before it saves the new one): report
   * the destroy to other processes once this resolves, after the request's
   * own writes, so they see a login as a move and not as a logout.
   */
  settled?: Promise<void>;
}

/**
 * A change the bridge did not make through this store object: a write or
 * destroy by another process, or a record the store dropped by itself
 * (native expiry). `resync` means changes may have been missed (a dropped
 * connection): the bridge re-checks every session it maps.
 */
export type StoreChange =
  | { type: "set"; sessionId: string; clientId?: string | undefined; isNew: boolean }
  | { type: "destroy"; sessionId: string }
  | { type: "resync" };

/**
 * What a store's `withLock` may hand its task: the calls run through `run`
 * are the lock's own, so the store may keep their writes in memory (later
 * calls read them there) and write them together, with the release or once
 * a call awaits something else. Each caller hears its call's outcome only
 * after `written()`, so nothing is acknowledged before it is stored.
 */
export interface LockedSession {
  /** Runs one call of the lock's batch. */
  run<R>(call: () => Promise<R>): Promise<R>;
  /** Resolves once every write of the calls run so far is stored; rejects when one of them failed. */
  written(): Promise<void>;
}

/**
 * The backend store contract. `get`, `set` and `destroy` are required;
 * `list` enables `cleanup()`, and `optimize` runs after every cleanup.
 * `subscribe` and `withLock` make a store shared by several processes
 * behave like one: see the README's store contract.
 */
export interface SessionStore {
  /** The stored state, or `undefined`/`null` when there is none. */
  get(sessionId: string): MaybePromise<StoreState | undefined | null>;
  /** Stores `state` under `sessionId`, replacing what was there; `false` refuses the write (nothing is reported). */
  set(sessionId: string, state: StoreState, meta?: StoreChangeMeta): MaybePromise<unknown>;
  /** Removes the record; `false` when it refused or there was none (the bridge reads the id again to tell which). */
  destroy(sessionId: string, meta?: StoreChangeMeta): MaybePromise<unknown>;
  /** Every stored session id (needed by `cleanup()`). */
  list?(): MaybePromise<Iterable<string>>;
  /** Called after a cleanup with the number of records it removed. */
  optimize?(clearedCount: number): MaybePromise<unknown>;
  /**
   * Reports changes made elsewhere (see `StoreChange`) to `listener` until the
   * returned function is called. The bridge subscribes at construction and
   * unsubscribes in `close()`.
   */
  subscribe?(listener: (change: StoreChange) => void): MaybePromise<() => void>;
  /**
   * Runs `task` while holding a lock on `sessionId` that every process
   * sharing the store respects. `withSession`, `setById` and `destroyById`
   * run inside it (after the in-process queue); HTTP requests do not.
   * Calls queued here for the session while it is held run in the same
   * `task`, one after another, each through `locked.run` when the store
   * passes `locked` (see `LockedSession`).
   */
  withLock?<T>(sessionId: string, task: (locked?: LockedSession) => Promise<T>): Promise<T>;
  /**
   * User index (option `userKey`), for a store shared by several processes:
   * records that `sessionId` belongs to `userId` until `expiresAt` (called on
   * every save of a session that has a user, so the expiry follows the
   * session). Implement all three verbs or none; without them the bridge
   * keeps the index in memory (a store without `subscribe`) or scans
   * `list()` (a shared store), see the README.
   */
  indexUser?(userId: string, sessionId: string, expiresAt: number): MaybePromise<unknown>;
  /** Forgets that `sessionId` belongs to `userId` (the bridge found it gone or moved to another user). */
  unindexUser?(userId: string, sessionId: string): MaybePromise<unknown>;
  /**
   * The session ids indexed for `userId` whose entry has not expired. May
   * hold stale ids: the bridge reads each one and unindexes those that no
   * longer belong to the user.
   */
  sessionsOfUser?(userId: string): MaybePromise<Iterable<string>>;
}

/** The optional user-index verbs of a store (see `SessionStore.indexUser`). */
export type UserIndexVerbs = Required<Pick<SessionStore, "indexUser" | "unindexUser" | "sessionsOfUser">>;
