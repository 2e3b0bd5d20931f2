import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { LiveStore, ms } from "../src/index.js";
import { type RecordedEvents, recordEvents, storedRecord, storeState } from "./helpers/storeFixtures.js";
import { closeAll, CookieJar, startServer, type TestServer } from "./helpers/server.js";

afterEach(closeAll);

const DEFAULT_MAX_AGE = ms.d(30);

let store: LiveStore;
let server: TestServer;

beforeEach(async () => {
  store = new LiveStore();
  server = await startServer({ store });
});

/** A client with a session written over HTTP (`{ count: 1 }`). */
async function client(): Promise<{ jar: CookieJar; clientId: string; sessionId: string }> {
  const jar = new CookieJar();
  const res = await server.get("/inc", jar);
  expect(res.status).toBe(200);
  const clientId = jar.get("test.sid.cid")!;
  const sessionId = jar.get("test.sid")!;
  expect(clientId).toMatch(/^[A-Za-z0-9_-]{24}$/);
  expect(server.bridge.getSessionId(clientId)).toBe(sessionId);
  return { jar, clientId, sessionId };
}

/** The stored JSON of `sessionId`, parsed. */
const stored = (sessionId: string) => storedRecord(store, sessionId);

/** Exactly one `sessionDestroy` for the pair and no `sessionSet`; record and both map entries gone. */
function expectDestroyedOnce(events: RecordedEvents, clientId: string, sessionId: string): void {
  expect(events.destroy).toEqual([{ clientId, sessionId }]);
  expect(events.set).toHaveLength(0);
  expect(store.get(sessionId)).toBeUndefined();
  expect(server.bridge.getSessionId(clientId)).toBeUndefined();
  expect(server.bridge.getClientId(sessionId)).toBeUndefined();
}

/** A record written straight into the store, known to no client. */
function orphan(sessionId = "orphan-session-id"): string {
  store.set(sessionId, storeState({ count: 7, _expire: Date.now() + ms.h(), _maxAge: ms.h() }, ms.h()));
  return sessionId;
}

describe("getSessionId / getClientId", () => {
  it("return the mapped ids synchronously", async () => {
    const { clientId, sessionId } = await client();
    expect(server.bridge.getSessionId(clientId)).toBe(sessionId);
    expect(server.bridge.getClientId(sessionId)).toBe(clientId);
  });

  it("return undefined for unknown ids and for a stored session no client is attached to", async () => {
    const id = orphan();
    expect(server.bridge.getSessionId("unknown-client-id-000000")).toBeUndefined();
    expect(server.bridge.getClientId("unknown-session-id")).toBeUndefined();
    expect(server.bridge.getClientId(id)).toBeUndefined();
  });
});

describe("getById / getByClientId", () => {
  it("resolve the user's session without koa-session's fields", async () => {
    const { clientId, sessionId } = await client();
    expect(await server.bridge.getById(sessionId)).toStrictEqual({ count: 1 });
    expect(await server.bridge.getByClientId(clientId)).toStrictEqual({ count: 1 });
    // The bookkeeping is still in the store, only hidden from callers.
    expect(stored(sessionId)).toMatchObject({ count: 1, _maxAge: DEFAULT_MAX_AGE });
    expect(typeof stored(sessionId)!._expire).toBe("number");
  });

  it("resolve undefined when the id is not mapped, even when the store holds the record", async () => {
    const id = orphan();
    expect(await server.bridge.getById(id)).toBeUndefined();
    expect(await server.bridge.getById("unknown-session-id")).toBeUndefined();
    expect(await server.bridge.getByClientId("unknown-client-id-000000")).toBeUndefined();
    expect(store.get(id)).toBeDefined();
  });

  it("do not emit events or write the store", async () => {
    const { clientId, sessionId } = await client();
    const before = store.get(sessionId);
    // LiveStore answers a new state object each time: a write shows as a set() call.
    const writes = vi.spyOn(store, "set");
    const events = recordEvents(server.bridge);
    await server.bridge.getById(sessionId);
    await server.bridge.getByClientId(clientId);
    expect(store.get(sessionId)).toStrictEqual(before);
    expect(writes).not.toHaveBeenCalled();
    expect(events.set).toHaveLength(0);
    expect(events.destroy).toHaveLength(0);
  });
});

describe("destroyById / destroyByClientId", () => {
  for (const by of ["id", "clientId"] as const) {
    const name = by === "id" ? "destroyById" : "destroyByClientId";

    it(`${name} destroys a mapped session: true, one sessionDestroy, record removed, maps cleared`, async () => {
      const { jar, clientId, sessionId } = await client();
      const other = await client();
      const events = recordEvents(server.bridge);
      const result = by === "id" ? await server.bridge.destroyById(sessionId) : await server.bridge.destroyByClientId(clientId);
      expect(result).toBe(true);
      expectDestroyedOnce(events, clientId, sessionId);
      // The other client is untouched.
      expect(server.bridge.getSessionId(other.clientId)).toBe(other.sessionId);
      expect(stored(other.sessionId)).toMatchObject({ count: 1 });
      // The client's next request starts from an empty session.
      const res = await server.get("/session", jar);
      expect(res.body.session).toEqual({});
    });

    it(`${name} resolves false without an event when the id is not mapped`, async () => {
      const { clientId, sessionId } = await client();
      const id = orphan();
      const events = recordEvents(server.bridge);
      if (by === "id") {
        expect(await server.bridge.destroyById("unknown-session-id")).toBe(false);
        expect(await server.bridge.destroyById(id)).toBe(false);
      } else {
        expect(await server.bridge.destroyByClientId("unknown-client-id-000000")).toBe(false);
      }
      expect(events.destroy).toHaveLength(0);
      expect(store.get(id)).toBeDefined();
      expect(server.bridge.getSessionId(clientId)).toBe(sessionId);
    });

    it(`${name} resolves false the second time`, async () => {
      const { clientId, sessionId } = await client();
      const events = recordEvents(server.bridge);
      const destroy = () => (by === "id" ? server.bridge.destroyById(sessionId) : server.bridge.destroyByClientId(clientId));
      expect(await destroy()).toBe(true);
      expect(await destroy()).toBe(false);
      expect(events.destroy).toHaveLength(1);
    });
  }
});

describe("setById / setByClientId", () => {
  for (const by of ["id", "clientId"] as const) {
    const name = by === "id" ? "setById" : "setByClientId";

    it(`${name} replaces a mapped session: store JSON, one sessionSet, HTTP sees the new data`, async () => {
      const { jar, clientId, sessionId } = await client();
      const events = recordEvents(server.bridge);
      const data = { count: 5, name: "Ada" };
      const result = by === "id"
        ? await server.bridge.setById(sessionId, data)
        : await server.bridge.setByClientId(clientId, data);
      expect(result).toBe(true);
      expect(events.set).toEqual([{ clientId, sessionId, isNew: false, isInit: false }]);
      expect(events.destroy).toHaveLength(0);
      const json = stored(sessionId)!;
      expect(json).toMatchObject({ count: 5, name: "Ada", _maxAge: DEFAULT_MAX_AGE });
      expect(Object.keys(json).sort()).toEqual(["_expire", "_maxAge", "count", "name"]);
      expect(store.get(sessionId)!.ttl).toBe(DEFAULT_MAX_AGE + 10_000);

      const res = await server.get("/session", jar);
      expect(res.body).toEqual({ clientId, sessionId, session: { count: 5, name: "Ada" } });
      expect(await server.bridge.getById(sessionId)).toStrictEqual({ count: 5, name: "Ada" });
    });

    it(`${name} resolves false and emits nothing when the data is unchanged`, async () => {
      const { clientId, sessionId } = await client();
      const before = store.get(sessionId);
      // LiveStore answers a new state object each time: a write shows as a set() call.
      const writes = vi.spyOn(store, "set");
      const events = recordEvents(server.bridge);
      const result = by === "id"
        ? await server.bridge.setById(sessionId, { count: 1 })
        : await server.bridge.setByClientId(clientId, { count: 1 });
      expect(result).toBe(false);
      expect(store.get(sessionId)).toStrictEqual(before);
    expect(writes).not.toHaveBeenCalled();
      expect(events.set).toHaveLength(0);
      expect(events.destroy).toHaveLength(0);
    });

    it(`${name} with null destroys the session`, async () => {
      const { clientId, sessionId } = await client();
      const events = recordEvents(server.bridge);
      const result = by === "id"
        ? await server.bridge.setById(sessionId, null)
        : await server.bridge.setByClientId(clientId, null);
      expect(result).toBe(true);
      expectDestroyedOnce(events, clientId, sessionId);
    });

    it(`${name} with maxAge sets _maxAge, _expire and a ttl of maxAge + 10 s`, async () => {
      const { jar, clientId, sessionId } = await client();
      const events = recordEvents(server.bridge);
      const maxAge = ms.m(2);
      const start = Date.now();
      const result = by === "id"
        ? await server.bridge.setById(sessionId, { count: 2 }, maxAge)
        : await server.bridge.setByClientId(clientId, { count: 2 }, maxAge);
      const end = Date.now();
      expect(result).toBe(true);
      expect(events.set).toEqual([{ clientId, sessionId, isNew: false, isInit: false }]);
      const state = store.get(sessionId)!;
      const json = JSON.parse(state.session);
      expect(json._maxAge).toBe(maxAge);
      expect(json._expire).toBeGreaterThanOrEqual(start + maxAge);
      expect(json._expire).toBeLessThanOrEqual(end + maxAge);
      expect(state.ttl).toBe(maxAge + 10_000);
      expect(state.expiresAt).toBeGreaterThanOrEqual(start + maxAge + 10_000);
      expect(state.expiresAt).toBeLessThanOrEqual(end + maxAge + 10_000);
      // koa-session keeps the new lifetime on the next HTTP write.
      await server.get("/inc", jar);
      expect(JSON.parse(store.get(sessionId)!.session)).toMatchObject({ count: 3, _maxAge: maxAge });
      expect(store.get(sessionId)!.ttl).toBe(maxAge + 10_000);
    });

    it(`${name} over a record naming _maxAge twice reads it as JSON.parse does (the last one wins)`, async () => {
      const { clientId, sessionId } = await client();
      const lifetime = ms.h();
      const { expiresAt, ttl } = store.get(sessionId)!;
      store.set(sessionId, { session: `{"_maxAge":5,"count":2,"_expire":${Date.now() + lifetime},"_maxAge":${lifetime}}`, expiresAt, ttl });
      expect(await server.bridge.getById(sessionId)).toStrictEqual({ count: 2 });
      const result = by === "id"
        ? await server.bridge.setById(sessionId, { count: 3 })
        : await server.bridge.setByClientId(clientId, { count: 3 });
      expect(result).toBe(true);
      expect(stored(sessionId)).toMatchObject({ count: 3, _maxAge: lifetime });
      expect(Object.keys(stored(sessionId)!).sort()).toEqual(["_expire", "_maxAge", "count"]);
    });

    it(`${name} rejects an out-of-range maxAge with a RangeError and changes nothing`, async () => {
      const { clientId, sessionId } = await client();
      const before = store.get(sessionId);
      // LiveStore answers a new state object each time: a write shows as a set() call.
      const writes = vi.spyOn(store, "set");
      const events = recordEvents(server.bridge);
      for (const maxAge of [1000, ms.y() + 1]) {
        const call = by === "id"
          ? server.bridge.setById(sessionId, { count: 9 }, maxAge)
          : server.bridge.setByClientId(clientId, { count: 9 }, maxAge);
        const error = await call.then(() => undefined, (e: unknown) => e);
        expect(error).toBeInstanceOf(RangeError);
        expect((error as Error).message).toMatch(/^\[koa-io-session\] Invalid 'maxAge'/);
        expect((error as Error).message).toContain(String(maxAge));
      }
      expect(store.get(sessionId)).toStrictEqual(before);
    expect(writes).not.toHaveBeenCalled();
      expect(events.set).toHaveLength(0);
    });

    it(`${name} rejects with an Error when not mapped and never creates a record`, async () => {
      const id = orphan();
      const before = store.get(id);
      // LiveStore answers a new state object each time: a write shows as a set() call.
      const writes = vi.spyOn(store, "set");
      const events = recordEvents(server.bridge);
      const calls = by === "id"
        ? [server.bridge.setById("unknown-session-id", { a: 1 }), server.bridge.setById(id, { a: 1 })]
        : [server.bridge.setByClientId("unknown-client-id-000000", { a: 1 })];
      for (const call of calls) {
        const error = await call.then(() => undefined, (e: unknown) => e);
        expect(error).toBeInstanceOf(Error);
        expect((error as Error).message).toMatch(/^\[koa-io-session\] /);
        expect((error as Error).message).toContain(name);
      }
      expect(store.get("unknown-session-id")).toBeUndefined();
      expect(store.get(id)).toStrictEqual(before);
      expect(writes).not.toHaveBeenCalled();
      expect(store.size).toBe(1);
      expect(events.set).toHaveLength(0);
      expect(events.destroy).toHaveLength(0);
    });
  }
});

describe("notifyStore*", () => {
  let events: RecordedEvents;
  let ids: { clientId: string; sessionId: string };

  beforeEach(async () => {
    ids = await client();
    events = recordEvents(server.bridge);
  });

  it("notifyStoreSet emits sessionSet for a mapped id, isNew false by default", () => {
    const { clientId, sessionId } = ids;
    expect(server.bridge.notifyStoreSet(sessionId)).toBeUndefined();
    server.bridge.notifyStoreSet(sessionId, true);
    server.bridge.notifyStoreSet(sessionId, false);
    expect(events.set).toEqual([
      { clientId, sessionId, isNew: false, isInit: false },
      { clientId, sessionId, isNew: true, isInit: false },
      { clientId, sessionId, isNew: false, isInit: false },
    ]);
    expect(events.destroy).toHaveLength(0);
  });

  it("notifyStoreSet emits nothing for an unmapped id", () => {
    server.bridge.notifyStoreSet(orphan(), true);
    server.bridge.notifyStoreSet("unknown-session-id");
    expect(events.set).toHaveLength(0);
  });

  it("notifyStoreDestroy detaches a mapped id and emits sessionDestroy once", () => {
    const { clientId, sessionId } = ids;
    server.bridge.notifyStoreDestroy(sessionId);
    server.bridge.notifyStoreDestroy(sessionId);
    expect(events.destroy).toEqual([{ clientId, sessionId }]);
    expect(server.bridge.getSessionId(clientId)).toBeUndefined();
    expect(server.bridge.getClientId(sessionId)).toBeUndefined();
  });

  it("notifyStoreDestroy emits nothing for an unmapped id", () => {
    server.bridge.notifyStoreDestroy(orphan());
    server.bridge.notifyStoreDestroy("unknown-session-id");
    expect(events.destroy).toHaveLength(0);
    expect(server.bridge.getSessionId(ids.clientId)).toBe(ids.sessionId);
  });

  it("notifyStoreCleanup emits cleanup with the count", () => {
    server.bridge.notifyStoreCleanup(3);
    server.bridge.notifyStoreCleanup(0);
    expect(events.cleanup).toEqual([3, 0]);
  });

  it("notifyStoreCleanup rejects a negative or non-integer count with a TypeError", () => {
    for (const bad of [-1, 1.5, Number.NaN, "2"]) {
      expect(() => server.bridge.notifyStoreCleanup(bad as number)).toThrow(TypeError);
      expect(() => server.bridge.notifyStoreCleanup(bad as number)).toThrow(/^\[koa-io-session\] Invalid 'clearedCount'/);
    }
    expect(events.cleanup).toHaveLength(0);
  });
});
