import { EventEmitter } from "node:events";
import type Koa from "koa";
import { createSession } from "koa-session";
import type { Server } from "socket.io";
import { invalidType, stateError } from "../errors.js";
import { userView } from "../gateway/record.js";
import { StoreGateway } from "../gateway/StoreGateway.js";
import { ensureAppKeys } from "../http/appKeys.js";
import { clientMiddleware } from "../http/clientMiddleware.js";
import { koaStore, koaValid } from "../http/koaStore.js";
import { requestQueue } from "../http/requestQueue.js";
import { watchLateMiddleware } from "../http/lateMiddleware.js";
import { sessionCookie } from "../http/sessionCookie.js";
import { SignatureCache } from "../http/signatureCache.js";
import { type BridgeOptions, checkCleanupStore, checkDuration, INTERVAL_RANGE, MAX_AGE_RANGE, type ResolvedOptions, resolveOptions } from "../options.js";
import { SessionQueue } from "../socket/SessionQueue.js";
import { ENDS_RECORDS, LiveStore, SWEEP } from "../stores/LiveStore.js";
import type { MaybePromise, SessionStore, StoreChange } from "../stores/types.js";
import { installClientCookieHeader } from "../socket/clientCookieHeader.js";
import { Handshakes } from "../socket/Handshakes.js";
import { SocketDirectory } from "../socket/SocketDirectory.js";
import { SocketTouch } from "../socket/SocketTouch.js";
import { installSocketHook, socketHook } from "../socket/socketHook.js";
import { type SessionHandler, withSession } from "../socket/withSession.js";
import { TimeSlice } from "../timeSlice.js";
import type { SessionData } from "../types.js";
import type { BridgeCore } from "./BridgeCore.js";
import { Boundary, FAULT_HOOK, type FaultHook } from "./Boundary.js";
import { ClientRegistry } from "./ClientRegistry.js";
import type { SessionBridgeEvents } from "./events.js";
import { ExpirySchedule } from "./ExpirySchedule.js";
import { RequestSettlement } from "./RequestSettlement.js";
import { type UserId, UserIndex, userIdKey } from "./UserIndex.js";

const SLICE_MS = 10;
const yieldTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Options of `destroyByUser`. */
export interface DestroyByUserOptions {
  /** A session to keep, typically the caller's own (`ctx.sessionId`). */
  except?: string | undefined;
}

/** Marks an app that has a bridge; a registry symbol, so the ESM and CommonJS builds both see it. */
const INSTALLED = Symbol.for("koa-io-session.bridge");
/** How long a session whose expiry check failed (store unreachable) waits before the next check. */
const RETRY_EXPIRY_MS = 5_000;

function checkApp(app: unknown): asserts app is Koa {
  const candidate = app as (Partial<Koa> & { [INSTALLED]?: true }) | null;
  if (typeof candidate?.use !== "function" || typeof candidate.createContext !== "function" || !candidate.context) {
    throw invalidType("app", "a Koa application", app);
  }
  if (candidate[INSTALLED]) {
    throw stateError(
      "bridgeSession() was already called on this app. Install the bridge once per app and share the SessionBridge it returned (a closed bridge cannot be replaced either).",
    );
  }
  // koa-session extends app.context once: a second install would silently keep the first one's store.
  if (Object.prototype.hasOwnProperty.call(candidate.context, "sessionOptions")) {
    throw stateError(
      "koa-session is already installed on this app (app.use(session(…, app)) before bridgeSession()). Remove it: bridgeSession() installs koa-session itself, once per app, with the bridge's store.",
    );
  }
}

/** Whether `store` drops each record at the end the gateway reports, and says so through `subscribe` (LiveStore). */
function endsRecords(store: SessionStore): boolean {
  return (store as { [ENDS_RECORDS]?: unknown })[ENDS_RECORDS] === true && typeof store.subscribe === "function";
}

/** A LiveStore with its own `list`, `get` and `destroy`, which its one-pass sweep stands for (a subclass may refuse or count). */
function sweepsItself(store: SessionStore): store is LiveStore {
  const own = LiveStore.prototype;
  return store instanceof LiveStore && store.list === own.list && store.get === own.get && store.destroy === own.destroy;
}

function checkIo(io: unknown): asserts io is Server {
  const candidate = io as Partial<Server> | null;
  if (typeof candidate?.use !== "function" || typeof candidate.of !== "function" || !candidate._nsps) {
    throw invalidType("io", "a socket.io Server", io);
  }
}

/** A listener of the bridge event `K`. */
type BridgeListener<K extends keyof SessionBridgeEvents> = (...args: SessionBridgeEvents[K]) => void;

// Node's typed EventEmitter still accepts any event name (with a `never` listener):
// these signatures make a misspelt event name itself the type error.
export interface SessionBridge {
  on<K extends keyof SessionBridgeEvents>(event: K, listener: BridgeListener<K>): this;
  once<K extends keyof SessionBridgeEvents>(event: K, listener: BridgeListener<K>): this;
  off<K extends keyof SessionBridgeEvents>(event: K, listener: BridgeListener<K>): this;
  addListener<K extends keyof SessionBridgeEvents>(event: K, listener: BridgeListener<K>): this;
  removeListener<K extends keyof SessionBridgeEvents>(event: K, listener: BridgeListener<K>): this;
  prependListener<K extends keyof SessionBridgeEvents>(event: K, listener: BridgeListener<K>): this;
  prependOnceListener<K extends keyof SessionBridgeEvents>(event: K, listener: BridgeListener<K>): this;
  emit<K extends keyof SessionBridgeEvents>(event: K, ...args: SessionBridgeEvents[K]): boolean;
  listenerCount<K extends keyof SessionBridgeEvents>(event: K, listener?: BridgeListener<K>): number;
  removeAllListeners(event?: keyof SessionBridgeEvents): this;
}

/**
 * Shares one session between Koa requests (through koa-session) and
 * socket.io sockets, and keeps the client ↔ session map behind both.
 */
export class SessionBridge extends EventEmitter<SessionBridgeEvents> {
  readonly #config: ResolvedOptions;
  readonly #registry = new ClientRegistry();
  readonly #queue: SessionQueue;
  readonly #gateway: StoreGateway;
  readonly #sockets: SocketDirectory;
  readonly #requests = new RequestSettlement();
  readonly #boundary: Boundary;
  readonly #expiry = new ExpirySchedule((sessionIds) => this.#due(sessionIds), { onError: (error) => this.#report(error) });
  #unsubscribe: (() => void) | undefined;
  readonly #uninstall: (() => void)[];
  readonly #users: UserIndex | undefined;
  readonly #touch: SocketTouch | undefined;
  #cleanupTimer: NodeJS.Timeout | undefined;
  #cleaning: Promise<number> | undefined;
  #closed = false;

  constructor(app: Koa, io: Server, opt?: BridgeOptions) {
    super();
    checkApp(app);
    checkIo(io);
    const config = resolveOptions(opt);
    ensureAppKeys(app, config);
    this.#config = config;
    const fault = (opt as Record<symbol, unknown> | undefined)?.[FAULT_HOOK];
    if (fault != null && typeof fault !== "function") throw invalidType("fault hook", "a function", fault);
    this.#boundary = new Boundary((error) => this.#report(error), fault as FaultHook | undefined);
    this.#sockets = new SocketDirectory(config, this.#boundary);
    const { store } = config;
    this.#queue = new SessionQueue(store.withLock?.bind(store), { reentrant: config.serializeRequests });
    const users = config.userKey === undefined ? undefined : new UserIndex(store, config.userKey);
    this.#users = users;
    this.#gateway = new StoreGateway(store, config.maxAge, {
      written: (sessionId, isNew, clientId) => this.#written(sessionId, isNew, clientId),
      saved: users && ((sessionId, record, expiresAt) => users.saved(sessionId, record, expiresAt)),
      destroyed: (sessionId, origin) => this.#destroyed(sessionId, origin),
      // Such a store's own schedule already reports each end: a second one here would only double the memory and the work.
      expires: endsRecords(store) ? () => {} : (sessionId, at) => this.#expiry.schedule(sessionId, at),
      settled: (origin) => this.#requests.settled(origin),
    }, config.maxSessionBytes);
    const touch = config.socketTouchMs === undefined
      ? undefined
      : new SocketTouch(config.socketTouchMs, this.#queue, this.#gateway, (error) => this.#report(error));
    this.#touch = touch;
    const core: BridgeCore = {
      config,
      registry: this.#registry,
      gateway: this.#gateway,
      boundary: this.#boundary,
      adopt: (clientId, sessionId) => this.#adopt(clientId, sessionId),
      settle: (ctx) => this.#settle(ctx),
      touch: (sessionId) => touch?.touch(sessionId),
      withSession: (socket, handler, onMissing) => {
        touch?.touch(socket.sessionId);
        return withSession(this.#queue, this.#gateway, socket, handler as SessionHandler<unknown>, onMissing);
      },
    };

    this.#subscribe(store);
    watchLateMiddleware(app, io);
    const registry = this.#registry;
    Object.defineProperty(app.context, "sessionId", {
      get(this: Koa.Context) {
        return registry.getSessionId(this.clientId);
      },
      configurable: true,
    });
    const signatures = new SignatureCache();
    const session = createSession(
      { ...config.sessionOptions, store: koaStore(core), externalKey: sessionCookie(core), valid: koaValid(core) } as never,
      app,
    );
    Object.defineProperty(app, INSTALLED, { value: true });
    const serialize = config.serializeRequests ? requestQueue(core, this.#queue) : undefined;
    app.use(clientMiddleware(config, signatures, session, core.settle, this.#boundary, serialize));
    const handshakes = new Handshakes(app, config, signatures);
    this.#uninstall = [
      installSocketHook(io, socketHook(core, handshakes), this.#sockets, this.#boundary),
      installClientCookieHeader(io, handshakes, config, this.#boundary),
    ];

    if (config.autoCleanup) this.startAutoCleanup();
  }

  /** The session attached to `clientId`. */
  getSessionId(clientId: string): string | undefined {
    return this.#registry.getSessionId(clientId);
  }

  /** The client attached to `sessionId`. */
  getClientId(sessionId: string): string | undefined {
    return this.#registry.getClientId(sessionId);
  }

  /** The room every socket of `sessionId` is in (`roomPrefix` + id): `io.to(bridge.roomOf(id)).emit(…)`. */
  roomOf(sessionId: string): string {
    return this.#sockets.roomOf(sessionId);
  }

  /** The session (without koa-session's fields), or `undefined` when the id is not mapped or the session is gone. */
  async getById(sessionId: string): Promise<SessionData | undefined> {
    if (this.#registry.getClientId(sessionId) === undefined) return undefined;
    const record = await this.#gateway.read(sessionId);
    return record && userView(record);
  }

  /** `getById` for the session attached to `clientId`. */
  async getByClientId(clientId: string): Promise<SessionData | undefined> {
    const sessionId = this.#registry.getSessionId(clientId);
    return sessionId === undefined ? undefined : this.getById(sessionId);
  }

  /**
   * Destroys a mapped session; `false` when the id is not mapped or the store
   * did not remove a record (`store.destroy` returned `false`). A store that
   * refused keeps the session and its pair, with no event.
   */
  async destroyById(sessionId: string): Promise<boolean> {
    if (this.#registry.getClientId(sessionId) === undefined) return false;
    return this.#queue.run(sessionId, () => this.#gateway.destroy(sessionId));
  }

  /** `destroyById` for the session attached to `clientId`. */
  async destroyByClientId(clientId: string): Promise<boolean> {
    const sessionId = this.#registry.getSessionId(clientId);
    return sessionId === undefined ? false : this.destroyById(sessionId);
  }

  /**
   * Replaces a mapped session (`null` destroys it) and refreshes its expiry,
   * optionally with a new lifetime. Never creates: throws when the id is not
   * mapped. Resolves whether the store changed: `false` for an unchanged
   * session and for a write or destroy the store refused (no event then).
   */
  async setById(sessionId: string, session: SessionData | null, maxAge?: number): Promise<boolean> {
    if (maxAge !== undefined) checkDuration("maxAge", maxAge, MAX_AGE_RANGE);
    const notMapped = () => stateError(`Session "${sessionId}" is not attached to a client; setById() never creates sessions.`);
    if (this.#registry.getClientId(sessionId) === undefined) throw notMapped();
    return this.#queue.run(sessionId, async () => {
      const previous = await this.#gateway.load(sessionId);
      if (previous === undefined) throw notMapped();
      return this.#gateway.update(sessionId, previous, session, maxAge);
    });
  }

  /** `setById` for the session attached to `clientId`; throws when the client has none. */
  async setByClientId(clientId: string, session: SessionData | null, maxAge?: number): Promise<boolean> {
    const sessionId = this.#registry.getSessionId(clientId);
    if (sessionId === undefined) {
      throw stateError(`Client "${clientId}" has no session; setByClientId() never creates sessions.`);
    }
    return this.setById(sessionId, session, maxAge);
  }

  /**
   * The live sessions of `userId` (option `userKey`), made by any process
   * sharing the store, whether or not a client of this process holds them.
   * Each candidate is read and checked, so the answer is exact.
   */
  async getSessionIdsByUser(userId: UserId): Promise<string[]> {
    const { users, user } = this.#userIndex("getSessionIdsByUser", userId);
    const found: string[] = [];
    let sliceEnd = Date.now() + SLICE_MS;
    for (const sessionId of await users.candidates(user)) {
      const record = await this.#gateway.read(sessionId).catch(() => undefined);
      if (record !== undefined && users.userOf(record) === user) found.push(sessionId);
      else await users.stale(user, sessionId);
      if (Date.now() > sliceEnd) {
        await yieldTurn();
        sliceEnd = Date.now() + SLICE_MS;
      }
    }
    return found;
  }

  /**
   * Destroys every live session of `userId` but `except` ("log out
   * everywhere"): one `sessionDestroy` per attached session, the
   * `onSessionDestroy` policy on its sockets, on every process sharing the
   * store. Resolves how many records the store removed.
   */
  async destroyByUser(userId: UserId, options: DestroyByUserOptions = {}): Promise<number> {
    const { users, user } = this.#userIndex("destroyByUser", userId);
    const except = options?.except;
    if (except !== undefined && typeof except !== "string") throw invalidType("except", "a session id string or nothing", except);
    let destroyed = 0;
    for (const sessionId of await this.getSessionIdsByUser(userId)) {
      if (sessionId === except) continue;
      const removed = await this.#queue.run(sessionId, async () => {
        // Checked again in the session's turn: a request may have moved it to another user meanwhile.
        const record = await this.#gateway.read(sessionId).catch(() => undefined);
        return record !== undefined && users.userOf(record) === user && this.#gateway.destroy(sessionId);
      });
      if (removed) {
        destroyed++;
        await users.stale(user, sessionId);
      }
    }
    return destroyed;
  }

  /**
   * Removes every expired record (needs `store.list`), emits `cleanup` and
   * resolves the count. A call while a cleanup runs joins that one.
   */
  cleanup(): Promise<number> {
    const { store } = this.#config;
    this.#cleaning ??= (sweepsItself(store) ? this.#sweep(store) : this.#gateway.cleanup()).then(
      (cleared) => {
        this.#cleaning = undefined;
        this.emit("cleanup", cleared);
        return cleared;
      },
      (error: unknown) => {
        this.#cleaning = undefined;
        throw error;
      },
    );
    return this.#cleaning;
  }

  /** `cleanup()` on a LiveStore: its one pass over the map instead of a read and a destroy per record. */
  async #sweep(store: LiveStore): Promise<number> {
    const cleared = await store[SWEEP]((sessionId) => this.#destroyed(sessionId));
    const { optimize } = store as SessionStore;
    if (typeof optimize === "function") await optimize.call(store, cleared);
    return cleared;
  }

  /**
   * Runs `cleanup()` every `interval` ms (default `autoCleanupMs`). A running
   * timer is replaced, so this also changes the interval. Throws a
   * `TypeError` when the store has no `list()`, since cleanup could never run.
   */
  startAutoCleanup(interval?: number): boolean {
    if (this.#closed) throw stateError("startAutoCleanup() was called on a closed bridge.");
    const every = checkDuration("interval", interval ?? this.#config.autoCleanupMs, INTERVAL_RANGE);
    checkCleanupStore(this.#config.store);
    this.stopAutoCleanup();
    this.#cleanupTimer = setInterval(() => {
      this.cleanup().catch((error: Error) => this.#report(error));
    }, every);
    this.#cleanupTimer.unref();
    return true;
  }

  /** Stops the automatic cleanup; `false` when it was not running. */
  stopAutoCleanup(): boolean {
    if (!this.#cleanupTimer) return false;
    clearInterval(this.#cleanupTimer);
    this.#cleanupTimer = undefined;
    return true;
  }

  /** Emits `sessionSet` for a change written directly to the backend store. */
  notifyStoreSet(sessionId: string, isNew = false): void {
    const clientId = this.#registry.getClientId(sessionId);
    if (clientId !== undefined) this.emit("sessionSet", { clientId, sessionId, isNew: Boolean(isNew), isInit: false });
  }

  /** Detaches and emits `sessionDestroy` for a record removed directly from the backend store. */
  notifyStoreDestroy(sessionId: string): void {
    this.#destroyed(sessionId);
  }

  /** Emits `cleanup` for a cleanup done directly on the backend store. */
  notifyStoreCleanup(clearedCount: number): void {
    if (!Number.isInteger(clearedCount) || clearedCount < 0) {
      throw invalidType("clearedCount", "a non-negative integer", clearedCount);
    }
    this.emit("cleanup", clearedCount);
  }

  /** Stops what the bridge started (automatic cleanup, the socket hook). Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.stopAutoCleanup();
    this.#expiry.close();
    for (const uninstall of this.#uninstall) uninstall();
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
  }

  #written(sessionId: string, isNew: boolean, clientId: string | undefined): void {
    let owner = this.#registry.getClientId(sessionId);
    let isInit = false;
    if (clientId !== undefined && owner !== clientId) {
      for (const pair of this.#registry.attach(clientId, sessionId)) {
        if (pair.sessionId !== sessionId) this.#expiry.delete(pair.sessionId);
        this.#sockets.left(pair.clientId, pair.sessionId);
        this.emit("sessionDestroy", pair);
      }
      this.#sockets.joined(clientId, sessionId);
      owner = clientId;
      isInit = true;
    }
    if (owner !== undefined && this.listenerCount("sessionSet") > 0) {
      this.emit("sessionSet", { clientId: owner, sessionId, isNew, isInit });
    }
  }

  #destroyed(sessionId: string, origin?: object): void {
    this.#expiry.delete(sessionId);
    this.#users?.removed(sessionId);
    this.#touch?.forget(sessionId);
    const clientId = this.#registry.detachSession(sessionId);
    if (clientId === undefined) return;
    const pair = { clientId, sessionId };
    this.#sockets.left(clientId, sessionId);
    this.emit("sessionDestroy", pair);
    if (origin === undefined) this.#sockets.ended(clientId, sessionId);
    else this.#requests.ended(origin, pair);
  }

  /** After a request: a client that got a new session moved (a login); one left without a session lost it. */
  #settle(ctx: object): void {
    for (const { clientId, sessionId } of this.#requests.finish(ctx)) {
      if (this.#registry.getSessionId(clientId) === undefined) this.#sockets.ended(clientId, sessionId);
    }
  }

  #subscribe(store: SessionStore): void {
    if (typeof store.subscribe !== "function") return;
    const subscribed: MaybePromise<() => void> = store.subscribe(this.#boundary.guard("store change listener", (change: StoreChange) => this.#remote(change)));
    if (typeof subscribed === "function") {
      this.#unsubscribe = subscribed;
      return;
    }
    subscribed.then(
      (unsubscribe) => {
        if (this.#closed) unsubscribe();
        else this.#unsubscribe = unsubscribe;
      },
      (error: Error) => this.#report(error),
    );
  }

  /** A change this process did not make (another process, or the store itself), reported by `store.subscribe`. */
  #remote(change: StoreChange): void {
    if (this.#closed) return;
    if (change.type === "destroy") {
      this.#destroyed(change.sessionId);
    } else if (change.type === "set") {
      const { clientId } = change;
      // Attach only a client this process knows (sockets or a session here), so each map stays local.
      const known = clientId !== undefined && (this.#registry.getSessionId(clientId) !== undefined || this.#sockets.has(clientId));
      this.#written(change.sessionId, Boolean(change.isNew), known ? clientId : undefined);
    } else if (change.type === "resync") {
      this.#resync().catch((error: Error) => this.#report(error));
    }
  }

  /** Changes may have been missed: detach every mapped session the store no longer holds. */
  async #resync(): Promise<void> {
    const sessionIds = this.#registry.sessionIds();
    const slice = new TimeSlice();
    for (let at = 0; at < sessionIds.length; at += 100) {
      await Promise.all(sessionIds.slice(at, at + 100).map(async (sessionId) => {
        if ((await this.#gateway.read(sessionId)) === undefined) this.#destroyed(sessionId);
      }));
      if (slice.spent()) await slice.pause();
    }
  }

  /**
   * Sessions whose end has come: reading one through the gateway destroys it
   * when it really expired (and reports it); a record refreshed meanwhile
   * (rolling save, another process) reads as live and is rescheduled.
   */
  async #due(sessionIds: string[]): Promise<void> {
    await Promise.all(sessionIds.map(async (sessionId) => {
      if (this.#closed || this.#registry.getClientId(sessionId) === undefined) return;
      try {
        // Gone without a report (a store that expires records silently): detach it all the same.
        if ((await this.#gateway.read(sessionId)) === undefined) this.#destroyed(sessionId);
      } catch (error) {
        this.#report(error as Error);
        if (this.#registry.getClientId(sessionId) !== undefined) this.#expiry.schedule(sessionId, Date.now() + RETRY_EXPIRY_MS);
      }
    }));
  }

  #adopt(clientId: string, sessionId: string): void {
    if (this.#registry.getClientId(sessionId) !== undefined || this.#registry.getSessionId(clientId) !== undefined) return;
    this.#registry.attach(clientId, sessionId);
    this.#sockets.joined(clientId, sessionId);
    this.emit("sessionSet", { clientId, sessionId, isNew: false, isInit: true });
  }

  #userIndex(method: string, userId: unknown): { users: UserIndex; user: string } {
    if (this.#users === undefined) throw stateError(`${method}() needs the 'userKey' option.`);
    const user = userIdKey(userId);
    if (user === undefined) throw invalidType("userId", "a non-empty string or a finite number", userId);
    return { users: this.#users, user };
  }

  #report(error: Error): void {
    if (this.listenerCount("error") > 0) this.emit("error", error);
    else process.emitWarning(error);
  }
}

/** Creates a `SessionBridge` for `app` and `io`. */
export function bridgeSession(app: Koa, io: Server, opt?: BridgeOptions): SessionBridge {
  return new SessionBridge(app, io, opt);
}
