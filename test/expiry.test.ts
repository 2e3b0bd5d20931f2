import { describe, expect, it, vi } from "vitest";
import { LiveStore, type SessionStore, type StoreChange } from "../src/index.js";
import { RedisStore } from "../src/redis.js";
import { deleteKeys, redisAvailable, redisClient, testPrefix, waitUntil } from "./helpers/redis.js";
import { recordEvents, storedRecord, storeState } from "./helpers/storeFixtures.js";
import { CookieJar, startServer, type TestServer } from "./helpers/server.js";

// Real timers: maxAge cannot go under a minute, so each test waits about that
// long. They run concurrently and close what they open themselves (a shared
// afterEach would close the servers of the tests still running).
const MAX_AGE = 60_000;
const LATE_MS = 5_000;
const TIMEOUT = MAX_AGE + 40_000;
const available = await redisAvailable();

/** A client with a session written over HTTP, and the epoch ms koa-session gave it to live until. */
async function client(server: TestServer, jar = new CookieJar()) {
  expect((await server.get("/inc", jar)).status).toBe(200);
  return { jar, clientId: jar.get("test.sid.cid")!, sessionId: jar.get("test.sid")! };
}

/** Resolves once `server`'s bridge emitted `sessionDestroy`, with the time it did. */
function destroyedAt(server: TestServer): Promise<number> {
  return new Promise((resolve) => server.bridge.once("sessionDestroy", () => resolve(Date.now())));
}

/** Watches `store.list` without changing it: expiry must never need it. */
function listCalls(store: SessionStore) {
  return vi.spyOn(store as Required<SessionStore>, "list");
}

describe.concurrent("sessions end on time without cleanup()", () => {
  it("LiveStore: a mapped session ends within 5 s of its expiry, its sockets notified", { timeout: TIMEOUT }, async () => {
    const store = new LiveStore();
    const list = listCalls(store);
    const server = await startServer({ store, maxAge: MAX_AGE, onSessionDestroy: "notify" });
    try {
      const a = await client(server);
      const expire = storedRecord(store, a.sessionId)!._expire as number;
      const socket = await server.connect(a.jar);
      const notified = new Promise<unknown>((resolve) => socket.once("session:destroyed", resolve));
      const events = recordEvents(server.bridge);
      const ended = destroyedAt(server);

      const at = await ended;

      expect(at).toBeGreaterThanOrEqual(expire);
      expect(at).toBeLessThanOrEqual(expire + LATE_MS);
      expect(events.destroy).toEqual([{ clientId: a.clientId, sessionId: a.sessionId }]);
      expect(await notified).toEqual({ sessionId: a.sessionId });
      expect(server.bridge.getSessionId(a.clientId)).toBeUndefined();
      expect(server.bridge.getClientId(a.sessionId)).toBeUndefined();
      expect(store.get(a.sessionId)).toBeUndefined();
      expect(store.size).toBe(0);
      expect(list).not.toHaveBeenCalled();
    } finally {
      await server.close();
    }
  });

  it.skipIf(!available)("RedisStore without keyspace notifications: ends within 5 s, sockets disconnected", { timeout: TIMEOUT }, async () => {
    const redis = redisClient();
    const prefix = testPrefix();
    // The shared server's default; checked, never changed.
    const [, notify] = (await redis.config("GET", "notify-keyspace-events")) as [string, string];
    expect(notify).not.toMatch(/[AxE]/);
    const store = new RedisStore({ client: redis, prefix });
    const list = listCalls(store);
    const server = await startServer({ store, maxAge: MAX_AGE, onSessionDestroy: "disconnect" });
    try {
      const a = await client(server);
      const expire = (JSON.parse(JSON.parse((await redis.get(store.keyOf(a.sessionId)))!).session) as { _expire: number })._expire;
      const socket = await server.connect(a.jar);
      const disconnected = new Promise<string>((resolve) => socket.once("disconnect", resolve));
      const events = recordEvents(server.bridge);
      const ended = destroyedAt(server);

      const at = await ended;

      expect(at).toBeGreaterThanOrEqual(expire);
      expect(at).toBeLessThanOrEqual(expire + LATE_MS);
      expect(events.destroy).toEqual([{ clientId: a.clientId, sessionId: a.sessionId }]);
      expect(await disconnected).toBe("io server disconnect");
      expect(server.bridge.getSessionId(a.clientId)).toBeUndefined();
      expect(server.bridge.getClientId(a.sessionId)).toBeUndefined();
      expect(await redis.exists(store.keyOf(a.sessionId))).toBe(0);
      expect(list).not.toHaveBeenCalled();
    } finally {
      await server.close();
      await store.close();
      await deleteKeys(redis, prefix);
      redis.disconnect();
    }
  });

  it.skipIf(!available)("RedisStore: a session another process refreshed meanwhile is kept", { timeout: TIMEOUT }, async () => {
    const redis = redisClient();
    const prefix = testPrefix();
    const storeA = new RedisStore({ client: redis, prefix });
    const storeB = new RedisStore({ client: redis, prefix });
    const listA = listCalls(storeA);
    const serverA = await startServer({ store: storeA, maxAge: MAX_AGE, onSessionDestroy: "disconnect" });
    const serverB = await startServer({ store: storeB, maxAge: MAX_AGE });
    try {
      const a = await client(serverA);
      const firstExpire = (JSON.parse(JSON.parse((await redis.get(storeA.keyOf(a.sessionId)))!).session) as { _expire: number })._expire;
      const socket = await serverA.connect(a.jar);
      const events = recordEvents(serverA.bridge);
      let disconnects = 0;
      socket.on("disconnect", () => disconnects++);
      await new Promise((resolve) => setTimeout(resolve, MAX_AGE / 2));

      // The same client, served by the other process, changes the session: a new expiry.
      expect((await serverB.get("/inc", a.jar)).body.session.count).toBe(2);
      await waitUntil(() => events.set.length === 1, 10_000, "process A hearing of the write");
      await new Promise((resolve) => setTimeout(resolve, firstExpire + LATE_MS + 1_000 - Date.now()));

      expect(events.destroy).toEqual([]);
      expect(serverA.bridge.getClientId(a.sessionId)).toBe(a.clientId);
      expect(await serverA.bridge.getById(a.sessionId)).toEqual({ count: 2 });
      expect(disconnects).toBe(0);
      expect(socket.connected).toBe(true);
      expect(listA).not.toHaveBeenCalled();
    } finally {
      await serverA.close();
      await serverB.close();
      await storeA.close();
      await storeB.close();
      await deleteKeys(redis, prefix);
      redis.disconnect();
    }
  });
});

describe("LiveStore drops expired records by itself", () => {
  it("removes each record about a second after its expiresAt and reports it through subscribe", async () => {
    vi.useFakeTimers({ now: 5_000_000 });
    try {
      const store = new LiveStore();
      const changes: StoreChange[] = [];
      const stop = store.subscribe((change) => changes.push(change));
      store.set("short", storeState({ n: 1 }, 1_500));
      store.set("refreshed", storeState({ n: 2 }, 1_500));
      store.set("long", storeState({ n: 3 }, 60_000));
      store.set("destroyed", storeState({ n: 4 }, 1_500));
      store.set("refreshed", storeState({ n: 2 }, 10_000));
      expect(store.destroy("destroyed")).toBe(true);
      await vi.advanceTimersByTimeAsync(1_400);
      expect(store.size).toBe(3);
      await vi.advanceTimersByTimeAsync(1_000);
      expect(store.list().sort()).toEqual(["long", "refreshed"]);
      expect(changes).toEqual([{ type: "destroy", sessionId: "short" }]);
      await vi.advanceTimersByTimeAsync(9_000);
      expect(store.list()).toEqual(["long"]);
      stop();
      await vi.advanceTimersByTimeAsync(60_000);
      expect(store.size).toBe(0);
      expect(changes).toEqual([{ type: "destroy", sessionId: "short" }, { type: "destroy", sessionId: "refreshed" }]);
    } finally {
      vi.useRealTimers();
    }
  });

  it("drops a record at koa-session's _expire when that comes before its expiresAt, never at an _expire nested in user data", async () => {
    vi.useFakeTimers({ now: 5_000_000 });
    try {
      const store = new LiveStore();
      const changes: StoreChange[] = [];
      const stop = store.subscribe((change) => changes.push(change));
      const later = Date.now() + 60_000;
      store.set("stamped", { session: JSON.stringify({ n: 1, _expire: Date.now() + 1_500, _maxAge: 1_500 }), expiresAt: later, ttl: 60_000 });
      store.set("nested", { session: JSON.stringify({ n: { _expire: Date.now() + 1_500, _maxAge: 1_500 }, _session: true }), expiresAt: later, ttl: 60_000 });
      await vi.advanceTimersByTimeAsync(3_000);
      expect(changes).toEqual([{ type: "destroy", sessionId: "stamped" }]);
      expect(store.list()).toEqual(["nested"]);
      stop();
    } finally {
      vi.useRealTimers();
    }
  });

  it("a record rewritten behind the bridge's back ends its pair when the store drops it", async () => {
    const store = new LiveStore();
    const server = await startServer({ store, maxAge: MAX_AGE, onSessionDestroy: "notify" });
    try {
      const a = await client(server);
      const socket = await server.connect(a.jar);
      const notified = new Promise<unknown>((resolve) => socket.once("session:destroyed", resolve));
      const events = recordEvents(server.bridge);
      const state = store.get(a.sessionId)!;
      // Written directly, so the bridge still expects the old end (a minute away).
      store.set(a.sessionId, { ...state, expiresAt: Date.now() + 500 });

      await destroyedAt(server);

      expect(events.destroy).toEqual([{ clientId: a.clientId, sessionId: a.sessionId }]);
      expect(await notified).toEqual({ sessionId: a.sessionId });
      expect(server.bridge.getSessionId(a.clientId)).toBeUndefined();
      expect(store.size).toBe(0);
    } finally {
      await server.close();
    }
  });
});
