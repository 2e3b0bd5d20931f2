import { invalidType, message } from "../errors.js";
import type { MaybePromise, SessionStore, StoreChangeMeta, StoreState } from "../stores/types.js";
import { isThenable } from "../thenable.js";
import { TimeSlice } from "../timeSlice.js";
import { endOf, isRecordExpired, nextBookkeeping, type SessionRecord, userView } from "./record.js";
import { bookkeepingOf, joinRecordJson, sameContentJson, tailStart, userJsonOf } from "./recordJson.js";

/** What the gateway reports to its owner after it changed the store. */
export interface GatewayListener {
  /** A record was written; `clientId` names the HTTP client whose request wrote it. */
  written(sessionId: string, isNew: boolean, clientId: string | undefined): void;
  /** A record was removed (explicitly, or because it had expired); `origin` is the request that removed it. */
  destroyed(sessionId: string, origin?: object): void;
  /** A live record was read or written: it dies at `at` (epoch ms) unless written again. */
  expires(sessionId: string, at: number): void;
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
  /** What the caller read in the same turn of the session queue: compared with instead of reading again. */
  previous?: StoreState;
  /** `record` already serialized. */
  json?: string;
}

/** A live session as `withSession` and `setById` edit it, parsed once. */
export interface LoadedSession {
  /** The user's data, koa-session's fields left out: the caller's to edit. */
  data: Record<string, unknown>;
  /** koa-session's fields of the stored record. */
  bookkeeping: SessionRecord;
  /** The stored state it was read from. */
  state: StoreState;
  /** The user data's JSON as stored, when the record is laid out as koa-session writes it. */
  userJson: string | undefined;
}

/** Records a cleanup sweeps between two looks at the clock, and at most in flight on an async store. */
const SWEEP_BATCH = 256;

function hasBookkeeping(data: object): boolean {
  return Object.hasOwn(data, "_expire") || Object.hasOwn(data, "_maxAge") || Object.hasOwn(data, "_session");
}

/** JSON that parses to a plain object, parsed; `undefined` otherwise. */
function parseObject(json: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(json);
    return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Parses a stored session for editing. A record laid out as koa-session
 * writes it is cut before its bookkeeping and only the user's part parsed,
 * so the data needs no copy; anything else is parsed whole.
 */
function parseSession(state: StoreState): LoadedSession | undefined {
  const json = state.session;
  if (typeof json !== "string") return undefined;
  const at = tailStart(json);
  if (at !== -1) {
    const userJson = userJsonOf(json, at);
    const data = parseObject(userJson);
    // Bookkeeping names in the user's part too (duplicate keys): the whole parse decides.
    if (data !== undefined && !hasBookkeeping(data)) return { data, bookkeeping: bookkeepingOf(json, at), state, userJson };
  }
  const record = parseObject(json);
  return record && { data: userView(record), bookkeeping: record, state, userJson: undefined };
}

/** Whether two bookkeepings keep the same fields apart from `_expire`. */
function sameKept(a: SessionRecord, b: SessionRecord): boolean {
  return a._session === b._session && a._maxAge === b._maxAge;
}


/** Applies `next` to a value that may or may not be a promise, staying sync when it is not. */
function after<T, R>(value: MaybePromise<T>, next: (resolved: T) => MaybePromise<R>): MaybePromise<R> {
  return isThenable(value) ? value.then(next) : next(value);
}

/**
 * Refuses a serialized session of more than `maxBytes` UTF-8 bytes. A UTF-16
 * unit is at most 3 bytes, so most sessions are cleared without measuring.
 */
function checkSize(sessionId: string, session: string, maxBytes: number): void {
  if (session.length * 3 <= maxBytes) return;
  const bytes = Buffer.byteLength(session);
  if (bytes <= maxBytes) return;
  const error = new RangeError(
    message(`Session "${sessionId}" is ${bytes} bytes as JSON, over maxSessionBytes (${maxBytes}); it was not saved.`),
  );
  // Koa answers with this status; the message (naming the session) is not exposed to the client.
  throw Object.assign(error, { status: 413, expose: false });
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
  readonly #maxBytes: number;

  constructor(store: SessionStore, maxAge: number, listener: GatewayListener, maxBytes = Infinity) {
    this.#store = store;
    this.#maxAge = maxAge;
    this.#listener = listener;
    this.#maxBytes = maxBytes;
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
    const record = typeof state.session === "string" ? parseObject(state.session) : undefined;
    if (record === undefined) return this.#invalid(sessionId);
    if (isRecordExpired(record, now)) {
      await this.#discard(sessionId);
      return expired ? record : undefined;
    }
    this.#listener.expires(sessionId, endOf(state.expiresAt, record));
    return record;
  }

  /** `read` for editing the user's data (see `update`): one parse, no copy; sync when the store is. */
  load(sessionId: string): MaybePromise<LoadedSession | undefined> {
    const state = this.#store.get(sessionId);
    return isThenable(state) ? state.then((resolved) => this.#loaded(sessionId, resolved)) : this.#loaded(sessionId, state);
  }

  #loaded(sessionId: string, state: StoreState | null | undefined): MaybePromise<LoadedSession | undefined> {
    if (state == null) return undefined;
    const now = Date.now();
    if (!isLive(state, now)) return this.#discard(sessionId).then(() => undefined);
    const loaded = parseSession(state);
    if (loaded === undefined) return this.#invalid(sessionId);
    if (isRecordExpired(loaded.bookkeeping, now)) return this.#discard(sessionId).then(() => undefined);
    this.#listener.expires(sessionId, endOf(state.expiresAt, loaded.bookkeeping));
    return loaded;
  }

  async #invalid(sessionId: string): Promise<never> {
    await this.#discard(sessionId);
    throw new Error(message(`Stored session "${sessionId}" is not valid JSON; the record was destroyed.`));
  }

  /**
   * Stores `record` for `ttl` ms and reports it. A write that only moves
   * `_expire` is not a change: it is skipped, or with `refresh` (koa-session's
   * rolling/renew/save) persisted to extend the TTL without an event.
   * Resolves whether the store was written: a store whose `set` returns
   * `false` refused the write, which then reports nothing. Rejects, writing
   * nothing, a session over `maxSessionBytes`.
   */
  async write(sessionId: string, record: SessionRecord, ttl: number, options: WriteOptions = {}): Promise<boolean> {
    const session = options.json ?? this.#serialize(sessionId, record);
    checkSize(sessionId, session, this.#maxBytes);
    // Read again although koa-session just read it: a socket or another process may have written since.
    const previous = options.fresh ? undefined : options.previous ?? await this.#store.get(sessionId);
    const now = Date.now();
    const sameContent = isLive(previous, now) && sameContentJson(previous.session, session);
    return this.#commit(sessionId, record, ttl, session, previous, sameContent, options.refresh === true, options.clientId, now);
  }

  /** The end of `write`, from the moment `previous` is known; sync when the store is. */
  #commit(
    sessionId: string,
    record: SessionRecord,
    ttl: number,
    session: string,
    previous: StoreState | null | undefined,
    sameContent: boolean,
    refresh: boolean,
    clientId: string | undefined,
    now: number,
  ): MaybePromise<boolean> {
    if (sameContent && (!refresh || previous!.session === session)) return false;
    const isNew = !isLive(previous, now);
    const expiresAt = now + ttl;
    const meta: StoreChangeMeta = { clientId, isNew, refresh: sameContent };
    const report = (): boolean => {
      if (!sameContent) this.#listener.written(sessionId, isNew, clientId);
      this.#listener.expires(sessionId, endOf(expiresAt, record));
      return true;
    };
    const saved = (stored: unknown): MaybePromise<boolean> => {
      if (stored === false) return false;
      const saving = this.#listener.saved?.(sessionId, record, expiresAt);
      return isThenable(saving) ? saving.then(report) : report();
    };
    const stored = this.#store.set(sessionId, { session, expiresAt, ttl }, meta);
    return isThenable(stored) ? stored.then(saved) : saved(stored);
  }

  /**
   * Saves user data edited outside koa-session (sockets, `setById`) over
   * `previous` (just loaded, in the session's queue) exactly as an HTTP write
   * would; `null` destroys. Serializes the data once and compares that
   * with the user JSON it was loaded from instead of reading the store
   * again. With a `maxAge`, or `refresh`, a save that only moves the expiry
   * is persisted (see `write`). Resolves (sync when the store is) whether
   * the store changed; throws or rejects as `write` rejects.
   */
  update(sessionId: string, previous: LoadedSession, next: unknown, maxAge?: number, refresh = maxAge !== undefined): MaybePromise<boolean> {
    if (next === null) return this.destroy(sessionId);
    if (typeof next !== "object" || Array.isArray(next)) throw invalidType("session", "an object or null", next);
    const data = next as Record<string, unknown>;
    const now = Date.now();
    const { bookkeeping, ttl, tail } = nextBookkeeping(previous.bookkeeping, this.#maxAge, maxAge, now);
    // Data carrying bookkeeping names, or a toJSON() serializing it as something else: serialize the whole record.
    const user = hasBookkeeping(data) ? undefined : this.#serialize(sessionId, data);
    // The user data alone over the limit: refuse before building the record's JSON.
    if (user !== undefined) checkSize(sessionId, user, this.#maxBytes);
    if (!user?.startsWith("{")) return this.write(sessionId, { ...data, ...bookkeeping }, ttl, { refresh, previous: previous.state });
    const session = joinRecordJson(user, tail);
    checkSize(sessionId, session, this.#maxBytes);
    const sameContent = isLive(previous.state, now) && (previous.userJson === undefined
      ? sameContentJson(previous.state.session, session)
      : user === previous.userJson && sameKept(previous.bookkeeping, bookkeeping));
    // The whole record only for the user index; the expiry reads the bookkeeping alone.
    const record = this.#listener.saved ? { ...data, ...bookkeeping } : bookkeeping;
    return this.#commit(sessionId, record, ttl, session, previous.state, sameContent, refresh, undefined, now);
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
    const settle = async (): Promise<void> => {
      for (const outcome of await Promise.all(pending.splice(0))) cleared += outcome;
    };
    const slice = new TimeSlice();
    let sinceCheck = 0;
    for (const sessionId of await store.list()) {
      const outcome = sweep(sessionId);
      if (isThenable(outcome)) pending.push(outcome);
      else cleared += outcome;
      if (pending.length >= SWEEP_BATCH) await settle();
      if (++sinceCheck < SWEEP_BATCH) continue;
      sinceCheck = 0;
      if (slice.spent()) await slice.pause();
    }
    await settle();
    if (typeof store.optimize === "function") await store.optimize(cleared);
    return cleared;
  }

  #serialize(sessionId: string, record: SessionRecord): string {
    try {
      return JSON.stringify(record);
    } catch (error) {
      throw new TypeError(message(`Session "${sessionId}" cannot be serialized to JSON: ${(error as Error).message}`));
    }
  }
}
