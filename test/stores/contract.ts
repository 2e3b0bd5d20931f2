import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { generateUid, type MaybePromise, ms, type SessionStore, type StoreState } from "../../src/index.js";
import { recordEvents } from "../helpers/storeFixtures.js";
import { closeAll, CookieJar, startServer, type TestServer } from "../helpers/server.js";

/** One run's store, and how to dispose of it afterwards (close connections, delete files). */
export interface StoreUnderTest {
  store: SessionStore;
  /** Runs after each test, after the servers using the store are closed. */
  cleanup?: () => MaybePromise<void>;
  /**
   * Opens the same backing data again, as a restarted process would (a new
   * FileStore on the same file, a new client on the same Redis). Stores kept
   * in memory return the same instance. Enables the restart test.
   */
  reopen?: () => MaybePromise<SessionStore>;
}

/** The optional store methods a contract run expects to find. */
export interface StoreFeatures {
  list: boolean;
  optimize: boolean;
}

const DEFAULT_MAX_AGE = ms.d(30);
const TTL = DEFAULT_MAX_AGE + 10_000;

/** The store's answer, awaited; `null` and `undefined` both mean "no record". */
async function read(store: SessionStore, sessionId: string): Promise<StoreState | undefined> {
  return (await store.get(sessionId)) ?? undefined;
}

async function ids(store: SessionStore): Promise<string[]> {
  return [...(await store.list!())];
}

function state(session: Record<string, unknown>, expiresIn: number): StoreState {
  return { session: JSON.stringify(session), expiresAt: Date.now() + expiresIn, ttl: Math.max(expiresIn, 1000) };
}

/**
 * The store contract, checked directly and end to end through a real bridge
 * (Koa + socket.io on port 0, real cookies). Call it once per store:
 * `storeContract("LiveStore", () => ({ store: new LiveStore() }))`.
 * `features` declares which optional methods the store has; the contract
 * checks the declaration, then tests what each method promises, or what a
 * store without it answers.
 */
export function storeContract(
  name: string,
  makeStore: () => MaybePromise<StoreUnderTest>,
  features: StoreFeatures = { list: true, optimize: false },
): void {
  describe(`store contract: ${name}`, () => {
    let subject: StoreUnderTest;
    let store: SessionStore;

    beforeEach(async () => {
      subject = await makeStore();
      store = subject.store;
    });

    afterEach(async () => {
      await closeAll();
      await subject?.cleanup?.();
    });

    const withList = features.list ? it : () => undefined;

    describe("directly", () => {
      it(`has ${features.list ? "" : "no "}list() and ${features.optimize ? "" : "no "}optimize()`, () => {
        expect(typeof store.list === "function").toBe(features.list);
        expect(typeof store.optimize === "function").toBe(features.optimize);
      });

      it("get of an unknown id answers undefined or null", async () => {
        const answer = await store.get(`unknown-${generateUid()}`);
        expect(answer == null).toBe(true);
      });

      it("set then get returns the same state", async () => {
        const id = `direct-${generateUid()}`;
        const written = state({ a: 1, nested: { b: [1, 2] }, _expire: Date.now() + ms.h(), _maxAge: ms.h() }, ms.h());
        await store.set(id, written);
        expect(await read(store, id)).toEqual(written);
      });

      it("set replaces the previous state", async () => {
        const id = `direct-${generateUid()}`;
        await store.set(id, state({ v: 1 }, ms.h()));
        const second = state({ v: 2 }, ms.h(2));
        await store.set(id, second);
        expect(await read(store, id)).toEqual(second);
      });

      it("destroy removes the record and tolerates unknown ids", async () => {
        const id = `direct-${generateUid()}`;
        const other = `direct-${generateUid()}`;
        await store.set(id, state({ v: 1 }, ms.h()));
        await store.set(other, state({ v: 2 }, ms.h()));
        await store.destroy(id);
        expect(await read(store, id)).toBeUndefined();
        expect(await read(store, other)).toEqual(expect.objectContaining({ session: JSON.stringify({ v: 2 }) }));
        await store.destroy(`unknown-${generateUid()}`);
      });

      withList("list contains the stored ids and not the destroyed ones", async () => {
        const a = `direct-${generateUid()}`;
        const b = `direct-${generateUid()}`;
        await store.set(a, state({ v: 1 }, ms.h()));
        await store.set(b, state({ v: 2 }, ms.h()));
        expect(await ids(store)).toEqual(expect.arrayContaining([a, b]));
        await store.destroy(a);
        const after = await ids(store);
        expect(after).not.toContain(a);
        expect(after).toContain(b);
      });

      if (features.optimize) {
        it("optimize accepts a cleared count", async () => {
          await store.optimize!(0);
          await store.optimize!(3);
        });
      }
    });

    describe("through a bridge", () => {
      let server: TestServer;

      beforeEach(async () => {
        server = await startServer({ store });
      });

      async function firstVisit(): Promise<{ jar: CookieJar; clientId: string; sessionId: string }> {
        const jar = new CookieJar();
        const res = await server.get("/inc", jar);
        expect(res.status).toBe(200);
        return { jar, clientId: jar.get("test.sid.cid")!, sessionId: jar.get("test.sid")! };
      }

      it("an HTTP write stores the session with koa-session's fields and a ttl of maxAge + 10 s", async () => {
        const events = recordEvents(server.bridge);
        const start = Date.now();
        const { clientId, sessionId } = await firstVisit();
        const end = Date.now();
        expect(events.set).toEqual([{ clientId, sessionId, isNew: true, isInit: true }]);
        const saved = (await read(store, sessionId))!;
        expect(saved.ttl).toBe(TTL);
        expect(saved.expiresAt).toBeGreaterThanOrEqual(start + TTL);
        expect(saved.expiresAt).toBeLessThanOrEqual(end + TTL);
        const json = JSON.parse(saved.session);
        expect(json).toMatchObject({ count: 1, _maxAge: DEFAULT_MAX_AGE });
        expect(json._expire).toBeGreaterThanOrEqual(start + DEFAULT_MAX_AGE);
      });

      for (const transport of ["websocket", "polling"] as const) {
        it(`a socket (${transport}) reads what HTTP wrote, and HTTP reads what the socket wrote`, async () => {
          const { jar, clientId, sessionId } = await firstVisit();
          const socket = await server.connect(jar, { transports: [transport] });
          expect(await socket.emitWithAck("whoami")).toEqual({ clientId, sessionId });
          expect(await socket.emitWithAck("session:get")).toEqual({ sessionId, session: { count: 1 } });
          expect(await socket.emitWithAck("session:inc")).toBe(2);
          expect(JSON.parse((await read(store, sessionId))!.session)).toMatchObject({ count: 2, _maxAge: DEFAULT_MAX_AGE });
          const res = await server.get("/session", jar);
          expect(res.body).toEqual({ clientId, sessionId, session: { count: 2 } });
        });
      }

      it("an HTTP logout destroys the record, detaches the pair and leaves the socket without a session", async () => {
        const { jar, clientId, sessionId } = await firstVisit();
        const socket = await server.connect(jar);
        const events = recordEvents(server.bridge);
        expect((await server.get("/logout", jar)).status).toBe(200);
        expect(await read(store, sessionId)).toBeUndefined();
        expect(events.destroy).toEqual([{ clientId, sessionId }]);
        expect(server.bridge.getSessionId(clientId)).toBeUndefined();
        expect(await socket.emitWithAck("session:get")).toEqual({ missing: true });
      });

      it("a socket logout destroys the record and HTTP starts a fresh session", async () => {
        const { jar, clientId, sessionId } = await firstVisit();
        const socket = await server.connect(jar);
        const events = recordEvents(server.bridge);
        expect(await socket.emitWithAck("session:logout")).toBe(true);
        expect(await read(store, sessionId)).toBeUndefined();
        expect(events.destroy).toEqual([{ clientId, sessionId }]);
        const res = await server.get("/inc", jar);
        expect(res.body.session).toEqual({ count: 1 });
        const next = jar.get("test.sid")!;
        expect(next).not.toBe(sessionId);
        expect(server.bridge.getSessionId(clientId)).toBe(next);
        expect(await read(store, next)).toBeDefined();
      });

      it("destroyById removes the record from the store", async () => {
        const { clientId, sessionId } = await firstVisit();
        expect(await server.bridge.destroyById(sessionId)).toBe(true);
        expect(await read(store, sessionId)).toBeUndefined();
        expect(server.bridge.getSessionId(clientId)).toBeUndefined();
      });

      it("an expired record reads as missing and is destroyed", async () => {
        const { jar, clientId, sessionId } = await firstVisit();
        const saved = (await read(store, sessionId))!;
        // Only the store's view of time moves; the record is otherwise intact.
        await store.set(sessionId, { ...saved, expiresAt: Date.now() - 1000 });
        // A store with native expiry may drop it at once; then there is nothing for the bridge to destroy.
        const stillStored = (await read(store, sessionId)) !== undefined;
        const events = recordEvents(server.bridge);
        const res = await server.get("/session", jar);
        expect(res.body.session).toEqual({});
        expect(events.destroy).toEqual(stillStored ? [{ clientId, sessionId }] : []);
        expect(await read(store, sessionId)).toBeUndefined();
      });

      withList("cleanup removes the expired records only and counts them", async () => {
        const live = await firstVisit();
        const expired = [`expired-${generateUid()}`, `expired-${generateUid()}`];
        for (const id of expired) await store.set(id, state({ v: 1 }, -5000));
        // A store with native expiry may already have dropped them: count what is still listed.
        const listed = (await ids(store)).filter((id) => expired.includes(id)).length;
        const events = recordEvents(server.bridge);
        expect(await server.bridge.cleanup()).toBe(listed);
        expect(events.cleanup).toEqual([listed]);
        const after = await ids(store);
        for (const id of expired) expect(after).not.toContain(id);
        expect(after).toContain(live.sessionId);
        expect(server.bridge.getSessionId(live.clientId)).toBe(live.sessionId);
        expect(events.destroy).toHaveLength(0);
      });

      if (!features.list) {
        it("without list(), cleanup() rejects and startAutoCleanup() throws, both naming list()", async () => {
          await expect(server.bridge.cleanup()).rejects.toThrow(/^\[koa-io-session\] .*list\(\)/);
          expect(() => server.bridge.startAutoCleanup()).toThrow(TypeError);
          expect(() => server.bridge.startAutoCleanup()).toThrow(/list\(\)/);
        });
      }

      it("re-attaches a stored session after restart", async (ctx) => {
        if (!subject.reopen) ctx.skip();
        const { jar, clientId, sessionId } = await firstVisit();
        await server.close();
        const reopened = await subject.reopen!();
        const restarted = await startServer({ store: reopened });
        const events = recordEvents(restarted.bridge);
        const res = await restarted.get("/inc", jar);
        expect(res.body).toEqual({ clientId, sessionId, session: { count: 2 } });
        expect(events.set).toEqual([
          { clientId, sessionId, isNew: false, isInit: true },
          { clientId, sessionId, isNew: false, isInit: false },
        ]);
        expect(restarted.bridge.getSessionId(clientId)).toBe(sessionId);
        expect(JSON.parse((await read(reopened, sessionId))!.session)).toMatchObject({ count: 2 });
      });
    });
  });
}
