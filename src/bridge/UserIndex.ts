import type { SessionRecord } from "../gateway/record.js";
import type { MaybePromise, SessionStore, StoreState, UserIndexVerbs } from "../stores/types.js";

/** A user id as `userKey` holds it: a non-empty string or a finite number (indexed as its string). */
export type UserId = string | number;

const SLICE_MS = 10;
const yieldTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** The index key of a user id, or `undefined` for a value that names no user. */
export function userIdKey(value: unknown): string | undefined {
  if (typeof value === "string") return value === "" ? undefined : value;
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return undefined;
}

function hasVerbs(store: SessionStore): store is SessionStore & UserIndexVerbs {
  return typeof store.indexUser === "function" && typeof store.sessionsOfUser === "function" && typeof store.unindexUser === "function";
}

/** The `userKey` field of a stored state, or `undefined` (no user, or not JSON). */
function userOfState(state: StoreState | null | undefined, userKey: string): string | undefined {
  if (state == null || typeof state.session !== "string") return undefined;
  try {
    return userIdKey((JSON.parse(state.session) as SessionRecord | null)?.[userKey]);
  } catch {
    return undefined;
  }
}

/**
 * Which sessions belong to which user (option `userKey`). Three ways, by store:
 * - with the store's user-index verbs, the store keeps it (shared by every process);
 * - a store without `subscribe` (one process: LiveStore, FileStore) gets a map
 *   in memory, filled by one scan of `list()` on first use, then kept by saves;
 * - a shared store without the verbs is scanned on every query: O(N).
 * The answer may hold stale ids: the bridge verifies each against the store.
 */
export class UserIndex {
  readonly #store: SessionStore;
  readonly #userKey: string;
  readonly #mode: "store" | "memory" | "scan";
  readonly #byUser = new Map<string, Set<string>>();
  readonly #bySession = new Map<string, string>();
  #primed: Promise<void> | undefined;

  constructor(store: SessionStore, userKey: string) {
    this.#store = store;
    this.#userKey = userKey;
    this.#mode = hasVerbs(store) ? "store" : typeof store.subscribe === "function" ? "scan" : "memory";
  }

  /** The user a session record belongs to. */
  userOf(record: SessionRecord): string | undefined {
    return userIdKey(record[this.#userKey]);
  }

  /** A record was written with `expiresAt`. */
  saved(sessionId: string, record: SessionRecord, expiresAt: number): MaybePromise<unknown> {
    const user = this.userOf(record);
    if (this.#mode === "store") return user === undefined ? undefined : this.#store.indexUser!(user, sessionId, expiresAt);
    if (this.#mode === "memory") this.#move(sessionId, user);
    return undefined;
  }

  /** A session is gone (destroyed or expired). */
  removed(sessionId: string): void {
    if (this.#mode === "memory") this.#move(sessionId, undefined);
  }

  /** The user's session ids, possibly stale. */
  async candidates(user: string): Promise<string[]> {
    if (this.#mode === "store") return [...(await this.#store.sessionsOfUser!(user))];
    if (this.#mode === "scan") return [...(await this.#store.list!())];
    this.#primed ??= this.#prime();
    await this.#primed;
    return [...(this.#byUser.get(user) ?? [])];
  }

  /** `sessionId` turned out not to belong to `user` (gone or moved). */
  async stale(user: string, sessionId: string): Promise<void> {
    if (this.#mode === "store") await this.#store.unindexUser!(user, sessionId);
    else if (this.#mode === "memory" && this.#bySession.get(sessionId) === user) this.#move(sessionId, undefined);
  }

  #move(sessionId: string, user: string | undefined): void {
    const previous = this.#bySession.get(sessionId);
    if (previous === user) return;
    if (previous !== undefined) {
      const sessions = this.#byUser.get(previous)!;
      sessions.delete(sessionId);
      if (sessions.size === 0) this.#byUser.delete(previous);
    }
    if (user === undefined) {
      this.#bySession.delete(sessionId);
      return;
    }
    this.#bySession.set(sessionId, user);
    let sessions = this.#byUser.get(user);
    if (!sessions) this.#byUser.set(user, (sessions = new Set()));
    sessions.add(sessionId);
  }

  /** Reads every stored record once, time-sliced; what saves recorded meanwhile wins. */
  async #prime(): Promise<void> {
    const ids = [...(await this.#store.list!())];
    let sliceEnd = Date.now() + SLICE_MS;
    for (const sessionId of ids) {
      if (!this.#bySession.has(sessionId)) {
        const user = userOfState(await this.#store.get(sessionId), this.#userKey);
        if (user !== undefined && !this.#bySession.has(sessionId)) this.#move(sessionId, user);
      }
      if (Date.now() > sliceEnd) {
        await yieldTurn();
        sliceEnd = Date.now() + SLICE_MS;
      }
    }
  }
}
