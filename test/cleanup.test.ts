import Koa from "koa";
import { Server } from "socket.io";
import { afterEach, describe, expect, it, vi } from "vitest";
import { bridgeSession, LiveStore, ms, type SessionBridge, type SessionStore, type StoreState } from "../src/index.js";
import { AsyncMapStore, recordEvents, storeState, SyncMapStore } from "./helpers/storeFixtures.js";
import { closeAll, CookieJar, KEYS, startServer, type TestServer, waitFor } from "./helpers/server.js";

const extraCleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  vi.restoreAllMocks();
  for (const fn of extraCleanups.splice(0)) await fn();
  await closeAll();
});

/** A bridge on a bare app and io (no HTTP server), closed after the test. */
function bareBridge(opt: Parameters<typeof bridgeSession>[2]): SessionBridge {
  const app = new Koa();
  app.keys = KEYS;
  const io = new Server();
  const bridge = bridgeSession(app, io, opt);
  // io was never attached to a server, so there is nothing of it to close.
  extraCleanups.push(() => bridge.close());
  return bridge;
}

/** A listing store that, unlike LiveStore, keeps expired records until a cleanup: the interval tests watch cleanup alone. */
class KeepingStore extends SyncMapStore {
  list(): string[] {
    return [...this.records.keys()];
  }

  get size(): number {
    return this.records.size;
  }
}

/** A client with a session written over HTTP. */
async function client(server: TestServer): Promise<{ clientId: string; sessionId: string }> {
  const jar = new CookieJar();
  expect((await server.get("/inc", jar)).status).toBe(200);
  return { clientId: jar.get("test.sid.cid")!, sessionId: jar.get("test.sid")! };
}

/** Moves a stored record's expiry into the past, as time would. */
function expire(records: { get(id: string): StoreState | undefined; set(id: string, s: StoreState): unknown }, sessionId: string): void {
  const state = records.get(sessionId)!;
  expect(state).toBeDefined();
  records.set(sessionId, { ...state, expiresAt: Date.now() - 1000 });
}

describe("cleanup()", () => {
  it("removes exactly the expired records, mapped and unmapped, and resolves the count", async () => {
    const store = new LiveStore();
    const server = await startServer({ store });
    const a = await client(server);
    const b = await client(server);
    const c = await client(server);
    store.set("orphan-expired", storeState({ n: 1 }, -5000));
    store.set("orphan-live", storeState({ n: 2 }, ms.h()));
    expire(store, a.sessionId);
    expire(store, c.sessionId);
    const events = recordEvents(server.bridge);

    expect(await server.bridge.cleanup()).toBe(3);

    expect(store.list().sort()).toEqual([b.sessionId, "orphan-live"].sort());
    expect(events.cleanup).toEqual([3]);
    // Only mapped sessions have a client to tell.
    expect(events.destroy).toHaveLength(2);
    expect(events.destroy).toEqual(expect.arrayContaining([a, c]));
    expect(events.set).toHaveLength(0);
    expect(server.bridge.getSessionId(a.clientId)).toBeUndefined();
    expect(server.bridge.getClientId(c.sessionId)).toBeUndefined();
    expect(server.bridge.getSessionId(b.clientId)).toBe(b.sessionId);
  });

  it("resolves 0 and still emits cleanup when nothing expired", async () => {
    const store = new LiveStore();
    const server = await startServer({ store });
    const a = await client(server);
    const events = recordEvents(server.bridge);
    expect(await server.bridge.cleanup()).toBe(0);
    expect(events.cleanup).toEqual([0]);
    expect(events.destroy).toHaveLength(0);
    expect(store.list()).toEqual([a.sessionId]);
  });

  it("calls store.optimize(count) once, after the expired records are gone", async () => {
    const seen: { count: number; ids: string[] }[] = [];
    class OptimizingStore extends LiveStore {
      optimize(count: number): void {
        seen.push({ count, ids: this.list() });
      }
    }
    const store = new OptimizingStore();
    const server = await startServer({ store });
    const a = await client(server);
    store.set("orphan-expired", storeState({ n: 1 }, -1));
    expire(store, a.sessionId);
    store.set("orphan-live", storeState({ n: 2 }, ms.h()));
    expect(await server.bridge.cleanup()).toBe(2);
    expect(seen).toEqual([{ count: 2, ids: ["orphan-live"] }]);
  });

  it("rejects with a clear error when the store has no list()", async () => {
    const server = await startServer({ store: new SyncMapStore() });
    const events = recordEvents(server.bridge);
    const error = await server.bridge.cleanup().then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/^\[koa-io-session\] .*list\(\)/);
    expect(events.cleanup).toHaveLength(0);
  });

  it("counts right with an async store (and awaits its optimize)", async () => {
    const store = new AsyncMapStore();
    const server = await startServer({ store });
    const a = await client(server);
    const b = await client(server);
    store.records.set("orphan-expired-1", storeState({ n: 1 }, -1000));
    store.records.set("orphan-expired-2", storeState({ n: 2 }, -1000));
    store.records.set("orphan-live", storeState({ n: 3 }, ms.h()));
    expire(store.records, b.sessionId);
    const events = recordEvents(server.bridge);

    expect(await server.bridge.cleanup()).toBe(3);

    expect([...store.records.keys()].sort()).toEqual([a.sessionId, "orphan-live"].sort());
    expect(store.optimizeCalls).toEqual([3]);
    expect(events.cleanup).toEqual([3]);
    expect(events.destroy).toEqual([b]);
    expect(server.bridge.getSessionId(a.clientId)).toBe(a.sessionId);
  });

  it("counts right with a sync store of many records", async () => {
    const store = new LiveStore();
    const server = await startServer({ store });
    for (let i = 0; i < 1000; i++) store.set(`s${i}`, storeState({ i }, i % 3 === 0 ? -1000 : ms.h()));
    expect(await server.bridge.cleanup()).toBe(334);
    expect(store.size).toBe(666);
    expect(store.list().every((id) => Number(id.slice(1)) % 3 !== 0)).toBe(true);
  });

  it("counts right with a store whose get is sync but destroy is async", async () => {
    // A plain map, not a LiveStore: one that ends records by itself could drop them between the read and the destroy.
    const inner = new SyncMapStore();
    const store: SessionStore = {
      get: (id) => inner.get(id),
      set: (id, state) => inner.set(id, state),
      destroy: async (id) => {
        await new Promise((resolve) => setImmediate(resolve));
        return inner.destroy(id);
      },
      list: () => [...inner.records.keys()],
    };
    const server = await startServer({ store });
    inner.set("expired-1", storeState({}, -1000));
    inner.set("expired-2", storeState({}, -1000));
    inner.set("live", storeState({}, ms.h()));
    expect(await server.bridge.cleanup()).toBe(2);
    expect([...inner.records.keys()]).toEqual(["live"]);
  });
});

describe("automatic cleanup", () => {
  it("startAutoCleanup returns true also while running (as the original); stopAutoCleanup true, then false", async () => {
    const server = await startServer({ store: new LiveStore() });
    expect(server.bridge.startAutoCleanup(1000)).toBe(true);
    expect(server.bridge.startAutoCleanup(1000)).toBe(true);
    expect(server.bridge.startAutoCleanup()).toBe(true);
    expect(server.bridge.stopAutoCleanup()).toBe(true);
    expect(server.bridge.stopAutoCleanup()).toBe(false);
    expect(server.bridge.startAutoCleanup(1000)).toBe(true);
  });

  it("startAutoCleanup while running clears the old timer and starts one with the new interval (as the original)", async () => {
    const store = new KeepingStore();
    const server = await startServer({ store });
    const set = vi.spyOn(globalThis, "setInterval");
    const clear = vi.spyOn(globalThis, "clearInterval");
    expect(server.bridge.startAutoCleanup(ms.d())).toBe(true);
    expect(server.bridge.startAutoCleanup(1000)).toBe(true);
    const intervals = set.mock.calls.map((call) => call[1]);
    const timers = set.mock.results.map((result) => result.value as NodeJS.Timeout);
    const cleared = clear.mock.calls.map((call) => call[0]);
    set.mockRestore();
    clear.mockRestore();
    expect(intervals).toEqual([ms.d(), 1000]);
    expect(cleared).toEqual([timers[0]]);
    expect(timers[1]!.hasRef()).toBe(false);
    // The new interval really runs: a cleanup arrives long before a day has passed.
    store.set("orphan-expired", storeState({}, -1000));
    expect(await waitFor<number>(server.bridge, "cleanup")).toBe(1);
    expect(server.bridge.stopAutoCleanup()).toBe(true);
    expect(server.bridge.stopAutoCleanup()).toBe(false);
  });

  it("startAutoCleanup with a store without list() throws a TypeError naming store.list() (as the original)", async () => {
    const server = await startServer({ store: new SyncMapStore() });
    expect(() => server.bridge.startAutoCleanup(1000)).toThrow(TypeError);
    expect(() => server.bridge.startAutoCleanup()).toThrow(/^\[koa-io-session\] Invalid 'store\.list': .*store\.list\(\)/);
    expect(server.bridge.stopAutoCleanup()).toBe(false);
  });

  it("autoCleanup: true with a store without list() throws a TypeError naming store.list() at construction (as the original)", () => {
    const app = new Koa();
    app.keys = KEYS;
    expect(() => bridgeSession(app, new Server(), { store: new SyncMapStore(), autoCleanup: true })).toThrow(TypeError);
    expect(() => bridgeSession(app, new Server(), { store: new SyncMapStore(), autoCleanup: true })).toThrow(
      /^\[koa-io-session\] Invalid 'store\.list': expected a function \(automatic cleanup needs store\.list\(\)\), received undefined\.$/,
    );
    // Nothing was installed, so a valid bridge can follow on the same app.
    const bridge = bridgeSession(app, new Server(), { store: new SyncMapStore() });
    extraCleanups.push(() => bridge.close());
    expect(bridge.stopAutoCleanup()).toBe(false);
  });

  it("runs cleanup on the interval", async () => {
    const store = new KeepingStore();
    const server = await startServer({ store });
    const a = await client(server);
    store.set("orphan-expired", storeState({}, -1000));
    expire(store, a.sessionId);
    const destroyed = waitFor(server.bridge, "sessionDestroy");
    const cleaned = waitFor<number>(server.bridge, "cleanup");
    expect(server.bridge.startAutoCleanup(1000)).toBe(true);
    expect(await cleaned).toBe(2);
    expect(await destroyed).toEqual(a);
    expect(store.size).toBe(0);
    // The next tick finds nothing left.
    expect(await waitFor<number>(server.bridge, "cleanup")).toBe(0);
  });

  it("stops running after stopAutoCleanup", async () => {
    const server = await startServer({ store: new LiveStore() });
    const events = recordEvents(server.bridge);
    server.bridge.startAutoCleanup(1000);
    await waitFor(server.bridge, "cleanup");
    expect(server.bridge.stopAutoCleanup()).toBe(true);
    const count = events.cleanup.length;
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(events.cleanup).toHaveLength(count);
  });

  it("reports a failing automatic cleanup as an error event", async () => {
    const store = new LiveStore();
    const server = await startServer({ store });
    const failure = new Error("list is down");
    store.list = () => { throw failure; };
    server.bridge.startAutoCleanup(1000);
    expect(await waitFor<Error>(server.bridge, "error")).toBe(failure);
  });

  it("rejects an interval out of range with a RangeError", async () => {
    const server = await startServer({ store: new LiveStore() });
    expect(() => server.bridge.startAutoCleanup(999)).toThrow(RangeError);
    expect(() => server.bridge.startAutoCleanup(2 ** 31)).toThrow(/^\[koa-io-session\] Invalid 'interval'/);
    expect(server.bridge.stopAutoCleanup()).toBe(false);
  });

  it("autoCleanup: true starts it at construction with autoCleanupMs", async () => {
    const store = new KeepingStore();
    const server = await startServer({ store, autoCleanup: true, autoCleanupMs: 1000 });
    store.set("orphan-expired", storeState({}, -1000));
    expect(await waitFor<number>(server.bridge, "cleanup")).toBe(1);
    expect(store.size).toBe(0);
    expect(server.bridge.stopAutoCleanup()).toBe(true);
  });

  it("does not start without autoCleanup", async () => {
    const server = await startServer({ store: new LiveStore() });
    expect(server.bridge.stopAutoCleanup()).toBe(false);
  });

  it("does not keep the process alive: the interval timer is unref()ed", () => {
    const spy = vi.spyOn(globalThis, "setInterval");
    const bridge = bareBridge({ store: new LiveStore() });
    spy.mockClear();
    expect(bridge.startAutoCleanup(1000)).toBe(true);
    // mockRestore() also forgets the calls: read them first.
    const { calls, results } = spy.mock;
    spy.mockRestore();
    expect(calls).toHaveLength(1);
    expect(calls[0][1]).toBe(1000);
    const timer = results[0].value as NodeJS.Timeout;
    expect(timer.hasRef()).toBe(false);
    expect(bridge.stopAutoCleanup()).toBe(true);
  });

  it("does not keep the process alive when started by the autoCleanup option", () => {
    const spy = vi.spyOn(globalThis, "setInterval");
    bareBridge({ store: new LiveStore(), autoCleanup: true, autoCleanupMs: 4321 });
    const { calls, results } = spy.mock;
    spy.mockRestore();
    const at = calls.findIndex((call) => call[1] === 4321);
    expect(at).not.toBe(-1);
    const timer = results[at].value as NodeJS.Timeout;
    expect(timer.hasRef()).toBe(false);
  });
});

describe("close()", () => {
  it("stops automatic cleanup, is idempotent, and forbids restarting it", async () => {
    const server = await startServer({ store: new LiveStore(), autoCleanup: true, autoCleanupMs: 1000 });
    await server.bridge.close();
    expect(server.bridge.stopAutoCleanup()).toBe(false);
    await expect(server.bridge.close()).resolves.toBeUndefined();
    expect(() => server.bridge.startAutoCleanup(1000)).toThrow(Error);
    expect(() => server.bridge.startAutoCleanup(1000)).toThrow(/^\[koa-io-session\] .*closed/);
    expect(server.bridge.stopAutoCleanup()).toBe(false);
  });
});
