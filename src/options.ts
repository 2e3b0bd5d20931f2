import { invalidType, outOfRange } from "./errors.js";
import { ms } from "./ms.js";
import { LiveStore } from "./stores/LiveStore.js";
import type { SessionStore } from "./stores/types.js";
import { generateUid } from "./uid.js";
import { readBoolean, readString, readStringList } from "./validate.js";

/** koa-session options the bridge forwards unchanged (see koa-session's README). */
export interface ForwardedSessionOptions {
  /** Re-send the session cookie (and refresh the store TTL) on every response. Default: `false`. */
  rolling?: boolean;
  /** Renew the session when it is about to expire. Default: `false`. */
  renew?: boolean;
  /** Commit the session at the end of each request. Default: `true`. */
  autoCommit?: boolean;
  /** Overwrite earlier cookies of the same name. Default: `true`. */
  overwrite?: boolean;
  /** Hide the cookies from client-side script. Default: `true`. */
  httpOnly?: boolean;
  /** Send the cookies over HTTPS only. Default: decided by the request. */
  secure?: boolean;
  /** `SameSite` attribute of the cookies. Default: not set. */
  sameSite?: "strict" | "lax" | "none";
  /** Cookie path. Default: `"/"`. */
  path?: string;
  /** Cookie domain. Default: not set. */
  domain?: string;
  /** Generates new session ids. Default: `randomUUID()` (with `prefix`). */
  genid?: (ctx: any) => string;
  /** Prefix for generated session ids, ignored when `genid` is given. */
  prefix?: string;
  /** Extra validation of loaded session data; `false` starts a new session. */
  valid?: (ctx: any, session: Record<string, unknown>) => boolean;
  /** Hook called before a session is saved. */
  beforeSave?: (ctx: any, session: any) => void;
}

/** Options of `bridgeSession(app, io, opt)`. */
export interface BridgeOptions extends ForwardedSessionOptions {
  /** Session cookie name. Default: a random `generateUid(12)`. */
  key?: string;
  /** Sign both cookies with `app.keys`. Default: `true`. */
  signed?: boolean;
  /** Session lifetime in ms (cookie maxAge and store TTL), 1 minute to 1 year. Default: 30 days. */
  maxAge?: number;
  /** Backend store. Default: `new LiveStore()`. */
  store?: SessionStore;
  /** Start periodic `cleanup()` at construction. Default: `false`. */
  autoCleanup?: boolean;
  /** Interval of the automatic cleanup in ms. Default: `maxAge / 4`, clamped to [1 minute, 1 day]. */
  autoCleanupMs?: number;
  /** Client-id cookie name. Default: `` `${key}.cid` ``. */
  clientKey?: string;
  /** Client-id cookie lifetime in ms, 1 minute to 400 days. Default: 1 year. */
  clientMaxAge?: number;
  /** Re-send the client-id cookie on every HTTP response. Default: `true`. */
  clientAlwaysRoll?: boolean;
  /**
   * Keys that initialise `app.keys` for an app that has none (as in 3.1.x).
   * Throws when the app already has keys. Default: not set.
   */
  appKeys?: string[];
  /** Generate random `app.keys` for an app without keys silently, without the warning. Default: `false`. */
  allowRndAppKeys?: boolean;
  /** Prefix of the room each socket joins, named after its session id. Default: `""` (the room is the session id). */
  roomPrefix?: string;
  /**
   * What the sockets of a destroyed session experience: `"keep"` nothing,
   * `"notify"` they receive `destroyEvent`, `"disconnect"` they are
   * disconnected. A login (`regenerate()`) is a move, not a destroy. Default: `"keep"`.
   */
  onSessionDestroy?: SessionDestroyPolicy;
  /** Event emitted to the sockets of a destroyed session under `onSessionDestroy: "notify"`, with `{ sessionId }`. Default: `"session:destroyed"`. */
  destroyEvent?: string;
  /**
   * Largest session, in bytes of its JSON (UTF-8), that a save may write: a
   * larger one is refused before anything is written (HTTP answers 413).
   * `Infinity` disables the limit. Default: 8 MiB.
   */
  maxSessionBytes?: number;
  /**
   * The session field that holds the user id (a string or a number), e.g.
   * `"userId"`. Turns on the user index behind `getSessionIdsByUser()` and
   * `destroyByUser()` ("log out everywhere"). Default: not set (off).
   */
  userKey?: string;
  /**
   * Socket activity keeps the session alive: each incoming event and each
   * `withSession` call of a socket with a live session refreshes its expiry
   * like a rolling HTTP save, at most once per interval per session. `true`
   * = once a minute; a number = that interval in ms (at least 1000). Default: `false`.
   */
  socketTouch?: boolean | number;
  /**
   * Run each HTTP request whose session is known up front (its cookie or its
   * client's attached session) in the session's queue, with `withSession`
   * and `setById` — and inside the store's `withLock` when it has one — from
   * load to commit, so no update is lost between channels. Default: `false`.
   */
  serializeRequests?: boolean;
}

/** See `BridgeOptions.onSessionDestroy`. */
export type SessionDestroyPolicy = "keep" | "notify" | "disconnect";

/** Cookie attributes shared by the client-id cookie. */
export interface ClientCookieOptions {
  path: string;
  httpOnly: boolean;
  signed: boolean;
  maxAge: number;
  overwrite: true;
  secure?: boolean;
  sameSite?: "strict" | "lax" | "none";
  domain?: string;
}

/** Options after validation, with every default applied. */
export interface ResolvedOptions {
  key: string;
  signed: boolean;
  maxAge: number;
  store: SessionStore;
  autoCleanup: boolean;
  autoCleanupMs: number;
  clientKey: string;
  clientAlwaysRoll: boolean;
  clientCookie: ClientCookieOptions;
  appKeys: string[] | undefined;
  allowRndAppKeys: boolean;
  roomPrefix: string;
  onSessionDestroy: SessionDestroyPolicy;
  destroyEvent: string;
  maxSessionBytes: number;
  userKey: string | undefined;
  /** The `socketTouch` interval in ms, or `undefined` when off. */
  socketTouchMs: number | undefined;
  serializeRequests: boolean;
  /** What koa-session receives: forwarded keys plus key, signed and maxAge. */
  sessionOptions: Record<string, unknown>;
}

const OWN_KEYS = new Set([
  "key", "signed", "maxAge", "store", "autoCleanup", "autoCleanupMs",
  "clientKey", "clientMaxAge", "clientAlwaysRoll", "appKeys", "allowRndAppKeys", "roomPrefix", "onSessionDestroy", "destroyEvent",
  "maxSessionBytes",
  "userKey", "socketTouch", "serializeRequests",
]);
const DESTROY_POLICIES: readonly SessionDestroyPolicy[] = ["keep", "notify", "disconnect"];
// These would replace the bridge's own store or cookie handling inside koa-session.
const UNSUPPORTED_KEYS = ["externalKey", "ContextStore"];
const REQUIRED_STORE_METHODS = ["get", "set", "destroy"] as const;
const OPTIONAL_STORE_METHODS = ["list", "optimize", "subscribe", "withLock", "indexUser", "unindexUser", "sessionsOfUser"] as const;
const USER_INDEX_VERBS = ["indexUser", "unindexUser", "sessionsOfUser"] as const;

/** Bounds of timer intervals: setInterval cannot go beyond 2^31-1 ms. */
export const INTERVAL_RANGE: readonly [number, number] = [1000, 2 ** 31 - 1];
export const MAX_AGE_RANGE: readonly [number, number] = [ms.m(), ms.y()];
const CLIENT_MAX_AGE_RANGE: readonly [number, number] = [ms.m(), ms.d(400)];

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== "object") return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Validates a duration in ms; exported for the methods that take one. */
export function checkDuration(name: string, value: unknown, [min, max]: readonly [number, number]): number {
  const expected = `a number in [${min}, ${max}]`;
  if (typeof value !== "number" || Number.isNaN(value)) throw invalidType(name, expected, value);
  if (value < min || value > max) throw outOfRange(name, expected, value);
  return value;
}

function readDuration(opt: Record<string, unknown>, name: string, fallback: number, range: readonly [number, number]): number {
  return checkDuration(name, opt[name] ?? fallback, range);
}

/** Default of `maxSessionBytes`. */
export const DEFAULT_MAX_SESSION_BYTES = 8 * 1024 * 1024;

function readByteLimit(opt: Record<string, unknown>, name: string, fallback: number): number {
  const value = opt[name] ?? fallback;
  if (value === Infinity) return value;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw invalidType(name, "a positive integer or Infinity", value);
  }
  return value;
}

function readStore(opt: Record<string, unknown>): SessionStore {
  const store = opt.store ?? new LiveStore();
  if (typeof store !== "object" || store === null) throw invalidType("store", "a store object", store);
  const candidate = store as Record<string, unknown>;
  const missing = REQUIRED_STORE_METHODS.filter((verb) => typeof candidate[verb] !== "function");
  if (missing.length) {
    throw invalidType("store", `an object with get(), set() and destroy() (missing ${missing.join(", ")})`, store);
  }
  for (const verb of OPTIONAL_STORE_METHODS) {
    if (candidate[verb] != null && typeof candidate[verb] !== "function") {
      throw invalidType(`store.${verb}`, "a function or nothing", candidate[verb]);
    }
  }
  return store as SessionStore;
}

/** Automatic cleanup needs `store.list()`: without it the timer could never remove anything. */
export function checkCleanupStore(store: SessionStore): void {
  if (typeof store.list !== "function") {
    throw invalidType("store.list", "a function (automatic cleanup needs store.list())", store.list);
  }
}

/** `userKey` needs a way to find a user's sessions: all three index verbs, or `list()` to scan. */
function checkUserIndexStore(store: SessionStore): void {
  const present = USER_INDEX_VERBS.filter((verb) => typeof store[verb] === "function");
  if (present.length > 0 && present.length < USER_INDEX_VERBS.length) {
    const missing = USER_INDEX_VERBS.filter((verb) => !present.includes(verb));
    throw invalidType("store", `all of indexUser(), unindexUser() and sessionsOfUser() or none (missing ${missing.join(", ")})`, store);
  }
  if (present.length === 0 && typeof store.list !== "function") {
    throw invalidType("store.list", "a function ('userKey' needs store.list() or the user-index verbs)", store.list);
  }
}

function readSocketTouch(opt: Record<string, unknown>): number | undefined {
  const value = opt.socketTouch ?? false;
  if (value === false) return undefined;
  if (value === true) return ms.m();
  if (typeof value !== "number") throw invalidType("socketTouch", `a boolean or a number in [${INTERVAL_RANGE.join(", ")}]`, value);
  return checkDuration("socketTouch", value, INTERVAL_RANGE);
}

/** Validates `opt`, applies defaults and splits it between the bridge and koa-session. */
export function resolveOptions(opt: unknown = {}): ResolvedOptions {
  if (!isPlainObject(opt)) throw invalidType("opt", "a plain object", opt);
  for (const name of UNSUPPORTED_KEYS) {
    if (opt[name] != null) throw invalidType(name, "nothing (the bridge manages the session cookie and store itself)", opt[name]);
  }

  const key = readString(opt, "key", () => generateUid(12));
  const signed = readBoolean(opt, "signed", true);
  const maxAge = readDuration(opt, "maxAge", ms.d(30), MAX_AGE_RANGE);
  const store = readStore(opt);
  const autoCleanup = readBoolean(opt, "autoCleanup", false);
  if (autoCleanup) checkCleanupStore(store);
  const autoCleanupMs = readDuration(
    opt, "autoCleanupMs", Math.min(Math.max(maxAge / 4, ms.m()), ms.d()), INTERVAL_RANGE,
  );
  const clientKey = readString(opt, "clientKey", () => `${key}.cid`);
  if (clientKey === key) throw invalidType("clientKey", `a name other than the session cookie's`, clientKey);
  const clientMaxAge = readDuration(opt, "clientMaxAge", ms.y(), CLIENT_MAX_AGE_RANGE);
  const clientAlwaysRoll = readBoolean(opt, "clientAlwaysRoll", true);
  const appKeys = readStringList(opt, "appKeys");
  const allowRndAppKeys = readBoolean(opt, "allowRndAppKeys", false);
  const roomPrefix = opt.roomPrefix ?? "";
  if (typeof roomPrefix !== "string") throw invalidType("roomPrefix", "a string", roomPrefix);
  const onSessionDestroy = opt.onSessionDestroy ?? "keep";
  if (!DESTROY_POLICIES.includes(onSessionDestroy as SessionDestroyPolicy)) {
    throw invalidType("onSessionDestroy", `one of "keep", "notify", "disconnect"`, onSessionDestroy);
  }
  const destroyEvent = readString(opt, "destroyEvent", () => "session:destroyed");
  const maxSessionBytes = readByteLimit(opt, "maxSessionBytes", DEFAULT_MAX_SESSION_BYTES);
  const userKey = opt.userKey == null ? undefined : readString(opt, "userKey", () => "");
  if (userKey !== undefined) checkUserIndexStore(store);
  const socketTouchMs = readSocketTouch(opt);
  const serializeRequests = readBoolean(opt, "serializeRequests", false);

  const forwarded: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(opt)) {
    if (!OWN_KEYS.has(name)) forwarded[name] = value;
  }

  const clientCookie: ClientCookieOptions = {
    path: typeof opt.path === "string" ? opt.path : "/",
    httpOnly: typeof opt.httpOnly === "boolean" ? opt.httpOnly : true,
    signed,
    maxAge: clientMaxAge,
    overwrite: true,
  };
  if (opt.secure != null) clientCookie.secure = opt.secure as boolean;
  if (opt.sameSite != null) clientCookie.sameSite = opt.sameSite as ClientCookieOptions["sameSite"];
  if (opt.domain != null) clientCookie.domain = opt.domain as string;

  return {
    key, signed, maxAge, store, autoCleanup, autoCleanupMs, clientKey, clientAlwaysRoll, clientCookie,
    appKeys, allowRndAppKeys, roomPrefix, onSessionDestroy: onSessionDestroy as SessionDestroyPolicy, destroyEvent, maxSessionBytes,
    userKey, socketTouchMs, serializeRequests,
    sessionOptions: { ...forwarded, key, signed, maxAge },
  };
}
