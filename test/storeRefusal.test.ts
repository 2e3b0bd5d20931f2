import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ms } from "../src/index.js";
import { recordEvents, RefusingStore, storedRecord } from "./helpers/storeFixtures.js";
import { ask } from "./helpers/socketTools.js";
import { closeAll, CookieJar, startServer, type TestServer } from "./helpers/server.js";

afterEach(closeAll);

let store: RefusingStore;
let server: TestServer;

beforeEach(async () => {
  store = new RefusingStore();
  server = await startServer({ store });
});

/** A client with a session written over HTTP (`{ count: 1 }`). */
async function client(): Promise<{ jar: CookieJar; clientId: string; sessionId: string }> {
  const jar = new CookieJar();
  expect((await server.get("/inc", jar)).status).toBe(200);
  const clientId = jar.get("test.sid.cid")!;
  const sessionId = jar.get("test.sid")!;
  expect(server.bridge.getSessionId(clientId)).toBe(sessionId);
  return { jar, clientId, sessionId };
}

/** The pair is still attached and the store still holds `{ count }`. */
function expectKept(clientId: string, sessionId: string, count: number): void {
  expect(server.bridge.getSessionId(clientId)).toBe(sessionId);
  expect(server.bridge.getClientId(sessionId)).toBe(clientId);
  expect(storedRecord(store, sessionId)).toMatchObject({ count });
}

describe("a store whose set() returns false", () => {
  it("setById resolves false, emits no sessionSet and leaves the session as it was (as the original)", async () => {
    const { clientId, sessionId } = await client();
    const before = store.get(sessionId);
    const events = recordEvents(server.bridge);
    store.refuseSet = true;
    await expect(server.bridge.setById(sessionId, { count: 5 })).resolves.toBe(false);
    await expect(server.bridge.setById(sessionId, { count: 1 }, ms.h())).resolves.toBe(false);
    expect(store.refused.set).toBe(2);
    expect(events.set).toHaveLength(0);
    expect(store.get(sessionId)).toStrictEqual(before);
    expectKept(clientId, sessionId, 1);
    await expect(server.bridge.getById(sessionId)).resolves.toEqual({ count: 1 });
  });

  it("setByClientId resolves false and emits no sessionSet (as the original); an accepted write afterwards does", async () => {
    const { clientId, sessionId } = await client();
    const events = recordEvents(server.bridge);
    store.refuseSet = true;
    await expect(server.bridge.setByClientId(clientId, { count: 9 })).resolves.toBe(false);
    expect(events.set).toHaveLength(0);
    expectKept(clientId, sessionId, 1);
    store.refuseSet = false;
    await expect(server.bridge.setByClientId(clientId, { count: 9 })).resolves.toBe(true);
    expect(events.set).toEqual([{ clientId, sessionId, isNew: false, isInit: false }]);
    expect(storedRecord(store, sessionId)).toMatchObject({ count: 9 });
  });

  it("a withSession write emits no sessionSet and leaves the session as it was (as the original)", async () => {
    const { jar, clientId, sessionId } = await client();
    const socket = await server.connect(jar);
    const events = recordEvents(server.bridge);
    store.refuseSet = true;
    // The handler's value still comes back: only the write was refused.
    expect(await ask(socket, "session:inc")).toBe(2);
    expect(store.refused.set).toBe(1);
    expect(events.set).toHaveLength(0);
    expectKept(clientId, sessionId, 1);
    expect(await ask(socket, "session:get")).toEqual({ sessionId, session: { count: 1 } });
  });

  it("an HTTP save emits no sessionSet and the store keeps the old session (koa-session ignores the refusal)", async () => {
    const { jar, clientId, sessionId } = await client();
    const events = recordEvents(server.bridge);
    store.refuseSet = true;
    const res = await server.get("/inc", jar);
    expect(res.status).toBe(200);
    expect(res.body.session).toEqual({ count: 2 });
    expect(store.refused.set).toBe(1);
    expect(events.set).toHaveLength(0);
    expectKept(clientId, sessionId, 1);
    store.refuseSet = false;
    expect((await server.get("/inc", jar)).body.session).toEqual({ count: 2 });
    expect(events.set).toEqual([{ clientId, sessionId, isNew: false, isInit: false }]);
  });

  it("a refused first HTTP save attaches nothing and emits no sessionSet; the next request starts over", async () => {
    const events = recordEvents(server.bridge);
    store.refuseSet = true;
    const jar = new CookieJar();
    const first = await server.get("/inc", jar);
    expect(first.status).toBe(200);
    expect(first.body.sessionId).toBeUndefined();
    const clientId = jar.get("test.sid.cid")!;
    const refusedId = jar.get("test.sid")!;
    expect(store.refused.set).toBe(1);
    expect(store.size).toBe(0);
    expect(server.bridge.getSessionId(clientId)).toBeUndefined();
    store.refuseSet = false;
    const second = await server.get("/inc", jar);
    expect(second.body.session).toEqual({ count: 1 });
    const sessionId = jar.get("test.sid")!;
    expect(server.bridge.getSessionId(clientId)).toBe(sessionId);
    expect(sessionId).not.toBe(refusedId);
    expect(events.set).toEqual([{ clientId, sessionId, isNew: true, isInit: true }]);
    expect(events.destroy).toHaveLength(0);
  });
});

describe("a store whose destroy() returns false", () => {
  it("destroyById resolves false, emits no sessionDestroy and keeps the pair (as the original)", async () => {
    const { clientId, sessionId } = await client();
    const events = recordEvents(server.bridge);
    store.refuseDestroy = true;
    await expect(server.bridge.destroyById(sessionId)).resolves.toBe(false);
    expect(store.refused.destroy).toBe(1);
    expect(events.destroy).toHaveLength(0);
    expect(events.set).toHaveLength(0);
    expectKept(clientId, sessionId, 1);
  });

  it("destroyByClientId resolves false, emits no sessionDestroy and keeps the pair (as the original)", async () => {
    const { clientId, sessionId } = await client();
    const events = recordEvents(server.bridge);
    store.refuseDestroy = true;
    await expect(server.bridge.destroyByClientId(clientId)).resolves.toBe(false);
    expect(events.destroy).toHaveLength(0);
    expectKept(clientId, sessionId, 1);
    store.refuseDestroy = false;
    await expect(server.bridge.destroyByClientId(clientId)).resolves.toBe(true);
    expect(events.destroy).toEqual([{ clientId, sessionId }]);
    expect(server.bridge.getSessionId(clientId)).toBeUndefined();
  });

  it("setById(null) resolves false, emits no sessionDestroy and keeps the pair", async () => {
    const { clientId, sessionId } = await client();
    const events = recordEvents(server.bridge);
    store.refuseDestroy = true;
    await expect(server.bridge.setById(sessionId, null)).resolves.toBe(false);
    expect(events.destroy).toHaveLength(0);
    expectKept(clientId, sessionId, 1);
  });

  it("withSession setting session = null emits no sessionDestroy and keeps the pair", async () => {
    const { jar, clientId, sessionId } = await client();
    const socket = await server.connect(jar);
    const events = recordEvents(server.bridge);
    store.refuseDestroy = true;
    expect(await ask(socket, "session:logout")).toBe(true);
    expect(store.refused.destroy).toBe(1);
    expect(events.destroy).toHaveLength(0);
    expectKept(clientId, sessionId, 1);
    expect(await ask(socket, "whoami")).toEqual({ clientId, sessionId });
  });

  it("HTTP ctx.session = null emits no sessionDestroy and keeps the pair; the next request gets the session back", async () => {
    const { jar, clientId, sessionId } = await client();
    const events = recordEvents(server.bridge);
    store.refuseDestroy = true;
    expect((await server.get("/logout", jar)).status).toBe(200);
    expect(store.refused.destroy).toBe(1);
    expect(events.destroy).toHaveLength(0);
    expectKept(clientId, sessionId, 1);
    // koa-session cleared the cookie; the attached session wins and its cookie is sent back.
    expect(jar.get("test.sid")).toBeUndefined();
    const next = await server.get("/session", jar);
    expect(next.body).toEqual({ clientId, sessionId, session: { count: 1 } });
    expect(jar.get("test.sid")).toBe(sessionId);
  });

  it("a mapped session whose record is already gone: destroyById resolves false but detaches it with one sessionDestroy", async () => {
    const { clientId, sessionId } = await client();
    const events = recordEvents(server.bridge);
    // Removed behind the bridge's back (no notifyStoreDestroy): LiveStore answers false, as for a refusal.
    store.destroy(sessionId);
    await expect(server.bridge.destroyById(sessionId)).resolves.toBe(false);
    expect(events.destroy).toEqual([{ clientId, sessionId }]);
    expect(server.bridge.getSessionId(clientId)).toBeUndefined();
  });

  it("an expired record read through the bridge ends its session even when the store refuses to delete it", async () => {
    const { clientId, sessionId } = await client();
    const events = recordEvents(server.bridge);
    store.refuseDestroy = true;
    expireRecord(sessionId, -1000);
    await expect(server.bridge.getById(sessionId)).resolves.toBeUndefined();
    expect(store.refused.destroy).toBe(1);
    expect(events.destroy).toEqual([{ clientId, sessionId }]);
    expect(server.bridge.getClientId(sessionId)).toBeUndefined();
    // The dead record is still there; the next cleanup deletes it once the store accepts.
    expect(store.get(sessionId)).toBeDefined();
  });

  it("cleanup() ends expired sessions the store refuses to delete, counts only the records it removed, and retries them", async () => {
    const a = await client();
    const b = await client();
    expireRecord(a.sessionId, -1000);
    expireRecord(b.sessionId, -1000);
    const events = recordEvents(server.bridge);
    store.refuseDestroy = true;
    await expect(server.bridge.cleanup()).resolves.toBe(0);
    expect(events.cleanup).toEqual([0]);
    expect(store.refused.destroy).toBe(2);
    expect(events.destroy).toEqual(expect.arrayContaining([{ clientId: a.clientId, sessionId: a.sessionId }, { clientId: b.clientId, sessionId: b.sessionId }]));
    expect(events.destroy).toHaveLength(2);
    expect(store.size).toBe(2);
    store.refuseDestroy = false;
    await expect(server.bridge.cleanup()).resolves.toBe(2);
    expect(events.cleanup).toEqual([0, 2]);
    expect(events.destroy).toHaveLength(2);
    expect(store.size).toBe(0);
  });
});

/** Moves the stored record's expiry to `expiresIn` ms from now, keeping its content, past any refusal. */
function expireRecord(sessionId: string, expiresIn: number): void {
  const state = store.get(sessionId)!;
  expect(state).toBeDefined();
  const refusing = store.refuseSet;
  store.refuseSet = false;
  store.set(sessionId, { ...state, expiresAt: Date.now() + expiresIn });
  store.refuseSet = refusing;
}
