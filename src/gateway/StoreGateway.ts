import { invalidType, message } from "../errors.js";
import type { MaybePromise, SessionStore, StoreChangeMeta, StoreState } from "../stores/types.js";
import { isRecordExpired, refreshRecord, type SessionRecord, userView } from "./record.js";

/** What the gateway reports to its owner after it changed the store. */
export interface GatewayListener {
  /** A record was written; `clientId` names the HTTP client whose request wrote it. */
  written(sessionId: string, isNew: boolean, clientId: string | undefined): void;
  /** A record was removed (explicitly, or because it had expired); `origin` is the request that removed it. */
  destroyed(sessionId: string, origin?: object): void;
  /** Resolves once the request `origin` has committed its session (passed to the store as `meta.settled`). */
  settled(origin: object): Promise<void>;
  /** The store accepted `record` until `expiresAt` (content change or refresh); awaited before the write resolves. */
  saved?(sessionId: string, record: SessionRecord, expiresAt: number): MaybePromise<unknown>;
}

/** How a write came about. */
export interface WriteOptions {
  /** The HTTP client whose request wrote the session. */
  clientId?: string | undefined;
  /** Persist even when only the expiry moves (a TTL refresh). */
  refresh?: boolean;
  /** The id was just generated, so the store cannot hold it: skip reading it first. */
  fresh?: boolean;
}

/** Whether a stored JSON session equals `record` apart from koa-session's `_expire` stamp. */
function sameContentAs(storedJson: string, record: SessionRecord): boolean {
  try {
    const { _expire: _a, ...stored } = JSON.parse(storedJson) as SessionRecord;
    const { _expire: _b, ...next } = record;
    return JSON.stringify(stored) === JSON.stringify(next);
  } catch {
    return false;
  }
}

function isThenable<T>(value: MaybePromise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === "function";
}

/** Applies `next` to a value that may or may not be a promise, staying sync when it is not. */
function after<T, R>(value: MaybePromise<T>, next: (resolved: T) => MaybePromise<R>): MaybePromise<R> {
  return isThenable(value) ? value.then(next) : next(value);
}

function isLive(state: StoreState | null | undefined, now: number): state is StoreState {
  return state != null && state.expiresAt > now;
}

/**
 * The one path between the bridge and the backend store: it serializes,
 * applies TTL (an expired record reads as missing and is removed), skips
 * writes that would not change the stored record, and reports changes.
 */
export class StoreGateway {
  readonly #store: SessionStore;
  readonly #listener: GatewayListener;
  readonly #maxAge: number;

  constructor(store: SessionStore, maxAge: number, listener: GatewayListener) {
    this.#store = store;
    this.#maxAge = maxAge;
    this.#listener = listener;
  }

  /**
   * The live record of `sessionId`, or `undefined` (an expired one is
   * destroyed first). With `expired`, a record past koa-session's `_expire`
   * is still destroyed but returned, so koa-session can report it.
   */
  async read(sessionId: string, { expired = false }: { expired?: boolean } = {}): Promise<SessionRecord | undefined> {
    const state = await this.#store.get(sessionId);
    if (state == null) return undefined;
    const now = Date.now();
    if (!isLive(state, now)) {
      await this.#discard(sessionId);
      return undefined;
    }
    const record = this.#parse(sessionId, state);
    if (record === undefined) {
      await this.#discard(sessionId);
      throw new Error(message(`Stored session "${sessionId}" is not valid JSON; the record was destroyed.`));
    }
    if (isRecordExpired(record, now)) {
      await this.#discard(sessionId);
      return expired ? record : undefined;
    }
    return record;
  }

  /**
   * Stores `record` for `ttl` ms and reports it. A write that only moves
   * `_expire` is not a change: it is skipped, or with `refresh` (koa-session's
   * rolling/renew/save) persisted to extend the TTL without an event.
   * Resolves whether the store was written: a store whose `set` returns
   * `false` refused the write, which then reports nothing.
   */
  async write(sessionId: string, record: SessionRecord, ttl: number, options: WriteOptions = {}): Promise<boolean> {
    const session = this.#serialize(sessionId, record);
    const previous = options.fresh ? undefined : await this.#store.get(sessionId);
    const now = Date.now();
    const isNew = !isLive(previous, now);
    const identical = !isNew && previous.session === session;
    const sameContent = identical || (!isNew && sameContentAs(previous.session, record));
    if (sameContent && (!options.refresh || identical)) return false;
    const meta: StoreChangeMeta = { clientId: options.clientId, isNew, refresh: sameContent };
    const expiresAt = now + ttl;
    if ((await this.#store.set(sessionId, { session, expiresAt, ttl }, meta)) === false) return false;
    await this.#listener.saved?.(sessionId, record, expiresAt);
    if (!sameContent) this.#listener.written(sessionId, isNew, options.clientId);
    return true;
  }

  /**
   * Saves user data edited outside koa-session (sockets, `setById`) over
   * `previous` exactly as an HTTP write would; `null` destroys. Resolves
   * whether the store changed.
   */
  async update(sessionId: string, previous: SessionRecord, next: unknown, maxAge?: number): Promise<boolean> {
    if (next === null) return this.destroy(sessionId);
    if (typeof next !== "object" || Array.isArray(next)) {
      throw invalidType("session", "an object or null", next);
    }
    const data = next as Record<string, unknown>;
    const unchanged = this.#serialize(sessionId, data) === this.#serialize(sessionId, userView(previous));
    if (unchanged && maxAge === undefined) return false;
    const { record, ttl } = refreshRecord(data, previous, this.#maxAge, maxAge);
    return this.write(sessionId, record, ttl, { refresh: true });
  }

  /**
   * Removes the record and reports it; resolves whether the store removed
   * one. `false` from the store means either "refused" or "there was none":
   * a live record still there tells them apart. A refused destroy reports
   * nothing, so the session and its pair stay.
   */
  async destroy(sessionId: string, origin?: object): Promise<boolean> {
    const meta: StoreChangeMeta | undefined = origin && {
      clientId: (origin as { clientId?: string }).clientId,
      settled: this.#listener.settled(origin),
    };
    const removed = await (meta ? this.#store.destroy(sessionId, meta) : this.#store.destroy(sessionId));
    if (removed === false && isLive(await this.#store.get(sessionId), Date.now())) return false;
    this.#listener.destroyed(sessionId, origin);
    return removed !== false;
  }

  /**
   * Removes a dead record (expired, or not JSON). The bridge, not the store,
   * decides expiry: the session ends even when the store refuses to delete
   * it, and the next read or cleanup tries the delete again.
   */
  async #discard(sessionId: string): Promise<boolean> {
    const removed = await this.#store.destroy(sessionId);
    this.#listener.destroyed(sessionId);
    return removed !== false;
  }

  /** Destroys every expired record, then lets the store optimize; resolves the count. */
  async cleanup(): Promise<number> {
    const store = this.#store;
    if (typeof store.list !== "function") {
      throw new Error(message("cleanup() needs a store with a list() method."));
    }
    const now = Date.now();
    let cleared = 0;
    const pending: Promise<number>[] = [];
    // Sync stores stay sync here: no promise per record, which keeps 100k records cheap.
    const sweep = (sessionId: string): MaybePromise<number> =>
      after(store.get(sessionId), (state) => {
        if (state == null || isLive(state, now)) return 0;
        // As in #discard: the session is over either way, but only a record the store removed counts.
        return after(store.destroy(sessionId), (removed) => {
          this.#listener.destroyed(sessionId);
          return removed === false ? 0 : 1;
        });
      });
    for (const sessionId of await store.list()) {
      const outcome = sweep(sessionId);
      if (isThenable(outcome)) pending.push(outcome);
      else cleared += outcome;
    }
    for (const outcome of await Promise.all(pending)) cleared += outcome;
    if (typeof store.optimize === "function") await store.optimize(cleared);
    return cleared;
  }

  #parse(sessionId: string, state: StoreState): SessionRecord | undefined {
    if (typeof state.session !== "string") return undefined;
    try {
      const record: unknown = JSON.parse(state.session);
      return record !== null && typeof record === "object" && !Array.isArray(record)
        ? (record as SessionRecord)
        : undefined;
    } catch {
      return undefined;
    }
  }

  #serialize(sessionId: string, record: SessionRecord): string {
    try {
      return JSON.stringify(record);
    } catch (error) {
      throw new TypeError(message(`Session "${sessionId}" cannot be serialized to JSON: ${(error as Error).message}`));
    }
  }
}
