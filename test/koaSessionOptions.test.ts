import type Koa from "koa";
import { afterEach, describe, expect, it } from "vitest";
import { ms } from "../src/index.js";
import { RecordingStore, setCookiesNamed } from "./helpers/httpCookies.js";
import { recordEvents, storedRecord } from "./helpers/storeFixtures.js";
import { closeAll, CookieJar, startServer, type TestServer, waitFor } from "./helpers/server.js";

afterEach(closeAll);

const KEY = "test.sid";
const CID = "test.sid.cid";

/** Extra routes: `/manual` (count += 1, then manuallyCommit()), `/empty` (ctx.session = {}), `/ban` (banned = true). */
function routes({ app }: { app: Koa }): void {
  app.use(async (ctx, next) => {
    const session = ctx.session!;
    if (ctx.path === "/manual") {
      session.count = (Number(session.count) || 0) + 1;
      await session.manuallyCommit();
    } else if (ctx.path === "/empty") {
      ctx.session = {};
    } else if (ctx.path === "/ban") {
      session.banned = true;
    } else {
      return next();
    }
    ctx.body = { clientId: ctx.clientId, sessionId: ctx.sessionId, session: ctx.session };
  });
}

/** A server over a RecordingStore with the extra routes. */
async function serve(opt: Parameters<typeof startServer>[0] = {}): Promise<{ server: TestServer; store: RecordingStore }> {
  const store = new RecordingStore();
  const server = await startServer({ store, ...opt }, routes);
  return { server, store };
}

/** Moves the stored record's `_expire` (and the store expiry) to `expiresIn` ms from now. */
function moveExpiry(store: RecordingStore, sessionId: string, expiresIn: number, storeExpiresIn = expiresIn + 10_000): void {
  const record = storedRecord(store, sessionId)!;
  const state = store.get(sessionId)!;
  store.set(sessionId, { ...state, session: JSON.stringify({ ...record, _expire: Date.now() + expiresIn }), expiresAt: Date.now() + storeExpiresIn });
}

describe("autoCommit and manuallyCommit()", () => {
  it("autoCommit: false saves nothing at the end of a request: no store write, no sessionSet, no session cookie", async () => {
    const { server, store } = await serve({ autoCommit: false });
    const events = recordEvents(server.bridge);
    const jar = new CookieJar();
    const res = await server.get("/inc", jar);
    expect(res.body.session).toEqual({ count: 1 });
    expect(setCookiesNamed(res.headers["set-cookie"], KEY)).toEqual([]);
    expect(store.sets).toHaveLength(0);
    expect(events.set).toHaveLength(0);
    expect(server.bridge.getSessionId(jar.get(CID)!)).toBeUndefined();
  });

  it("autoCommit: false with manuallyCommit() saves once and emits one sessionSet; ctx.sessionId is live right after", async () => {
    const { server, store } = await serve({ autoCommit: false });
    const events = recordEvents(server.bridge);
    const jar = new CookieJar();
    const first = await server.get("/manual", jar);
    const clientId = jar.get(CID)!;
    const sessionId = jar.get(KEY)!;
    expect(first.body).toEqual({ clientId, sessionId, session: { count: 1 } });
    expect(store.sets.map((s) => s.sessionId)).toEqual([sessionId]);
    expect(storedRecord(store, sessionId)).toMatchObject({ count: 1 });
    expect(events.set).toEqual([{ clientId, sessionId, isNew: true, isInit: true }]);
    const second = await server.get("/manual", jar);
    expect(second.body.session).toEqual({ count: 2 });
    expect(store.sets).toHaveLength(2);
    expect(events.set).toEqual([
      { clientId, sessionId, isNew: true, isInit: true },
      { clientId, sessionId, isNew: false, isInit: false },
    ]);
  });

  it("manuallyCommit() while autoCommit is on: koa-session saves twice, the store is written once and one sessionSet is emitted", async () => {
    const { server, store } = await serve();
    const events = recordEvents(server.bridge);
    const jar = new CookieJar();
    await server.get("/manual", jar);
    const clientId = jar.get(CID)!;
    const sessionId = jar.get(KEY)!;
    expect(store.sets).toHaveLength(1);
    expect(events.set).toEqual([{ clientId, sessionId, isNew: true, isInit: true }]);
    await server.get("/manual", jar);
    expect(store.sets).toHaveLength(2);
    expect(storedRecord(store, sessionId)).toMatchObject({ count: 2 });
    expect(events.set).toEqual([
      { clientId, sessionId, isNew: true, isInit: true },
      { clientId, sessionId, isNew: false, isInit: false },
    ]);
    expect(events.destroy).toHaveLength(0);
  });
});

describe("rolling and renew", () => {
  it("rolling: a read-only request re-sends the session cookie and refreshes the store TTL without a sessionSet", async () => {
    const { server, store } = await serve({ rolling: true });
    const jar = new CookieJar();
    await server.get("/inc", jar);
    const sessionId = jar.get(KEY)!;
    moveExpiry(store, sessionId, ms.d(1));
    const events = recordEvents(server.bridge);
    const writes = store.sets.length;
    const before = Date.now();
    const res = await server.get("/session", jar);
    expect(setCookiesNamed(res.headers["set-cookie"], KEY).map((c) => c.value)).toEqual([sessionId]);
    expect(store.sets).toHaveLength(writes + 1);
    const record = storedRecord(store, sessionId)!;
    expect(record.count).toBe(1);
    expect(record._expire as number).toBeGreaterThanOrEqual(before + ms.d(30));
    expect(store.get(sessionId)!.expiresAt).toBeGreaterThanOrEqual(before + ms.d(30) + 10_000);
    expect(events.set).toHaveLength(0);
    // A change under rolling is still one sessionSet.
    await server.get("/inc", jar);
    expect(events.set).toEqual([{ clientId: jar.get(CID), sessionId, isNew: false, isInit: false }]);
  });

  it("renew: a session in the second half of its life is renewed by a read-only request, without a sessionSet", async () => {
    const { server, store } = await serve({ renew: true, maxAge: ms.h() });
    const jar = new CookieJar();
    await server.get("/inc", jar);
    const sessionId = jar.get(KEY)!;
    const events = recordEvents(server.bridge);
    // Early in its life: nothing to renew.
    let writes = store.sets.length;
    await server.get("/session", jar);
    expect(store.sets).toHaveLength(writes);
    moveExpiry(store, sessionId, ms.m(10));
    writes = store.sets.length;
    const before = Date.now();
    const res = await server.get("/session", jar);
    expect(setCookiesNamed(res.headers["set-cookie"], KEY).map((c) => c.value)).toEqual([sessionId]);
    expect(store.sets).toHaveLength(writes + 1);
    expect(storedRecord(store, sessionId)!._expire as number).toBeGreaterThanOrEqual(before + ms.h());
    expect(store.get(sessionId)!.expiresAt).toBeGreaterThanOrEqual(before + ms.h() + 10_000);
    expect(events.set).toHaveLength(0);
    expect(events.destroy).toHaveLength(0);
  });
});

describe("valid() and the app events", () => {
  const valid = (_ctx: unknown, session: Record<string, unknown>) => session.banned !== true;

  it("valid() returning false: the request starts a new session, koa-session emits session:invalid, the client moves with one sessionDestroy", async () => {
    const { server, store } = await serve({ valid });
    const jar = new CookieJar();
    await server.get("/ban", jar);
    const clientId = jar.get(CID)!;
    const banned = jar.get(KEY)!;
    const events = recordEvents(server.bridge);
    const invalid = waitFor<{ key: string; value: Record<string, unknown> }>(server.app, "session:invalid");
    const res = await server.get("/inc", jar);
    const fresh = jar.get(KEY)!;
    expect(fresh).not.toBe(banned);
    expect(res.body.session).toEqual({ count: 1 });
    const event = await invalid;
    expect(event.key).toBe(banned);
    expect(event.value).toMatchObject({ banned: true });
    expect(events.destroy).toEqual([{ clientId, sessionId: banned }]);
    expect(events.set).toEqual([{ clientId, sessionId: fresh, isNew: true, isInit: true }]);
    expect(server.bridge.getSessionId(clientId)).toBe(fresh);
    expect(storedRecord(store, fresh)).toMatchObject({ count: 1 });
  });

  it("valid() returning false after a restart: the rejected session is not re-attached (no sessionSet for it)", async () => {
    const store = new RecordingStore();
    const before = await startServer({ store, valid }, routes);
    const jar = new CookieJar();
    await before.get("/ban", jar);
    const banned = jar.get(KEY)!;
    const clientId = jar.get(CID)!;
    await before.close();
    const after = await startServer({ store, valid }, routes);
    const events = recordEvents(after.bridge);
    const res = await after.get("/session", jar);
    expect(res.body).toEqual({ clientId, session: {} });
    expect(events.set).toHaveLength(0);
    expect(after.bridge.getSessionId(clientId)).toBeUndefined();
    expect(after.bridge.getClientId(banned)).toBeUndefined();
  });

  it("emits koa-session's session:missed on the app for a cookie naming a session the store lacks", async () => {
    const { server } = await serve({ signed: false });
    const jar = new CookieJar();
    jar.set(KEY, "no-such-session");
    const missed = waitFor<{ key: string; value: unknown }>(server.app, "session:missed");
    const res = await server.get("/session", jar);
    expect(await missed).toMatchObject({ key: "no-such-session", value: undefined });
    expect(res.body).toEqual({ clientId: jar.get(CID), session: {} });
  });

  it("emits koa-session's session:expired on the app for a session past its _expire; the bridge ends it with one sessionDestroy", async () => {
    const { server, store } = await serve();
    const jar = new CookieJar();
    await server.get("/inc", jar);
    const clientId = jar.get(CID)!;
    const sessionId = jar.get(KEY)!;
    // koa-session's own expiry stamp has passed; the store still holds the record (its 10 s grace).
    moveExpiry(store, sessionId, -1000, 9000);
    const events = recordEvents(server.bridge);
    const expired = waitFor<{ key: string; value: Record<string, unknown> }>(server.app, "session:expired");
    const res = await server.get("/inc", jar);
    const event = await expired;
    expect(event.key).toBe(sessionId);
    expect(event.value).toMatchObject({ count: 1 });
    expect(res.body.session).toEqual({ count: 1 });
    const fresh = jar.get(KEY)!;
    expect(fresh).not.toBe(sessionId);
    expect(store.get(sessionId)).toBeUndefined();
    expect(events.destroy).toEqual([{ clientId, sessionId }]);
    expect(events.set).toEqual([{ clientId, sessionId: fresh, isNew: true, isInit: true }]);
  });
});

describe("beforeSave, genid and prefix", () => {
  it("beforeSave runs once per save and what it adds is stored, with one sessionSet per save", async () => {
    const calls: unknown[] = [];
    const { server, store } = await serve({
      beforeSave: (_ctx, session) => {
        calls.push(session.count);
        session.savedBy = "beforeSave";
      },
    });
    const events = recordEvents(server.bridge);
    const jar = new CookieJar();
    await server.get("/inc", jar);
    await server.get("/session", jar);
    await server.get("/inc", jar);
    const sessionId = jar.get(KEY)!;
    expect(calls).toEqual([1, 2]);
    expect(store.sets).toHaveLength(2);
    expect(storedRecord(store, sessionId)).toMatchObject({ count: 2, savedBy: "beforeSave" });
    expect(events.set.map((e) => [e.isNew, e.isInit])).toEqual([[true, true], [false, false]]);
  });

  it("genid names every new session, also the one regenerate() makes; prefix is ignored beside it", async () => {
    let n = 0;
    const { server, store } = await serve({ genid: () => `custom-${++n}`, prefix: "ignored:" });
    const events = recordEvents(server.bridge);
    const jar = new CookieJar();
    await server.get("/inc", jar);
    const clientId = jar.get(CID)!;
    expect(jar.get(KEY)).toBe("custom-1");
    await server.get("/login", jar);
    const newId = jar.get(KEY)!;
    expect(newId).toMatch(/^custom-\d+$/);
    expect(newId).not.toBe("custom-1");
    expect(store.list()).toEqual([newId]);
    expect(events.set).toEqual([
      { clientId, sessionId: "custom-1", isNew: true, isInit: true },
      { clientId, sessionId: newId, isNew: true, isInit: true },
    ]);
    expect(events.destroy).toEqual([{ clientId, sessionId: "custom-1" }]);
  });

  it("prefix starts every generated session id, in the cookie, the store and the events", async () => {
    const { server, store } = await serve({ prefix: "app:" });
    const events = recordEvents(server.bridge);
    const jar = new CookieJar();
    await server.get("/inc", jar);
    const sessionId = jar.get(KEY)!;
    expect(sessionId).toMatch(/^app:[0-9a-f-]{36}$/);
    expect(store.list()).toEqual([sessionId]);
    expect(events.set).toEqual([{ clientId: jar.get(CID), sessionId, isNew: true, isInit: true }]);
  });
});

describe("regenerate() and ctx.session = {}", () => {
  it("regenerate(): the old record is destroyed, the new one holds the data, one sessionDestroy and one sessionSet", async () => {
    const { server, store } = await serve();
    const jar = new CookieJar();
    await server.get("/inc", jar);
    const clientId = jar.get(CID)!;
    const oldId = jar.get(KEY)!;
    const events = recordEvents(server.bridge);
    const writes = store.sets.length;
    const res = await server.get("/login?user=ann", jar);
    const newId = jar.get(KEY)!;
    expect(res.body).toEqual({ clientId, sessionId: newId, session: { count: 1, user: "ann" } });
    expect(store.destroys).toEqual([oldId]);
    expect(store.sets.slice(writes).map((s) => s.sessionId)).toEqual([newId]);
    expect(store.list()).toEqual([newId]);
    expect(storedRecord(store, newId)).toMatchObject({ count: 1, user: "ann" });
    expect(events.destroy).toEqual([{ clientId, sessionId: oldId }]);
    expect(events.set).toEqual([{ clientId, sessionId: newId, isNew: true, isInit: true }]);
  });

  it("ctx.session = {} keeps the same id and empties the session: one store write, one sessionSet", async () => {
    const { server, store } = await serve();
    const jar = new CookieJar();
    await server.get("/inc", jar);
    await server.get("/inc", jar);
    const clientId = jar.get(CID)!;
    const sessionId = jar.get(KEY)!;
    const events = recordEvents(server.bridge);
    const writes = store.sets.length;
    const res = await server.get("/empty", jar);
    expect(res.body).toEqual({ clientId, sessionId, session: {} });
    expect(jar.get(KEY)).toBe(sessionId);
    expect(store.sets).toHaveLength(writes + 1);
    const { _expire, _maxAge, ...data } = storedRecord(store, sessionId)!;
    expect(data).toEqual({});
    expect(typeof _expire).toBe("number");
    expect(events.set).toEqual([{ clientId, sessionId, isNew: false, isInit: false }]);
    expect(events.destroy).toHaveLength(0);
    expect((await server.get("/inc", jar)).body.session).toEqual({ count: 1 });
  });
});
