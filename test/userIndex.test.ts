import { afterEach, describe, expect, it } from "vitest";
import { type BridgeOptions, LiveStore, type SessionStore, type StoreState } from "../src/index.js";
import { ask } from "./helpers/socketTools.js";
import { recordEvents } from "./helpers/storeFixtures.js";
import { closeAll, CookieJar, startServer, type TestServer, waitFor } from "./helpers/server.js";

afterEach(closeAll);

/** The test server with `userKey: "user"` and `/as?user=` (change the user without regenerate), `/as?num=` (a number id). */
function userServer(opt: BridgeOptions = {}): Promise<TestServer> {
  return startServer({ userKey: "user", ...opt }, ({ app }) => {
    app.use(async (ctx, next) => {
      if (ctx.path !== "/as") return next();
      ctx.session!.user = ctx.query.num !== undefined ? Number(ctx.query.num) : ctx.query.user;
      ctx.body = { sessionId: ctx.sessionId };
    });
  });
}

/** A client logged in as `user` through `/login` (regenerate); resolves its jar and session id. */
async function login(server: TestServer, user: string): Promise<{ jar: CookieJar; sessionId: string; clientId: string }> {
  const jar = new CookieJar();
  await server.get("/inc", jar);
  await server.get(`/login?user=${user}`, jar);
  const sessionId = jar.get("test.sid")!;
  const clientId = jar.get("test.sid.cid")!;
  expect(server.bridge.getSessionId(clientId)).toBe(sessionId);
  return { jar, sessionId, clientId };
}

const sorted = (ids: string[]): string[] => [...ids].sort();

describe("getSessionIdsByUser follows every channel", () => {
  it("through login, user change, logout and a socket-side destroy", async () => {
    const server = await userServer();
    const { bridge } = server;
    expect(await bridge.getSessionIdsByUser("ann")).toEqual([]);
    const a = await login(server, "ann");
    const b = await login(server, "ann");
    const c = await login(server, "bob");
    expect(sorted(await bridge.getSessionIdsByUser("ann"))).toEqual(sorted([a.sessionId, b.sessionId]));
    expect(await bridge.getSessionIdsByUser("bob")).toEqual([c.sessionId]);

    // A user change without a new id moves the session to the other user.
    await server.get("/as?user=bob", b.jar);
    expect(await bridge.getSessionIdsByUser("ann")).toEqual([a.sessionId]);
    expect(sorted(await bridge.getSessionIdsByUser("bob"))).toEqual(sorted([b.sessionId, c.sessionId]));

    // HTTP logout.
    await server.get("/logout", a.jar);
    expect(await bridge.getSessionIdsByUser("ann")).toEqual([]);

    // A socket ends its session.
    const socket = await server.connect(c.jar);
    expect(await ask(socket, "session:logout")).toBe(true);
    expect(await bridge.getSessionIdsByUser("bob")).toEqual([b.sessionId]);
  });

  it("indexes number ids under their string, and ignores values that name no user", async () => {
    const server = await userServer();
    const jar = new CookieJar();
    await server.get("/as?num=42", jar);
    const sessionId = jar.get("test.sid")!;
    expect(await server.bridge.getSessionIdsByUser(42)).toEqual([sessionId]);
    expect(await server.bridge.getSessionIdsByUser("42")).toEqual([sessionId]);
    await server.get("/as?user=", jar);
    expect(await server.bridge.getSessionIdsByUser(42)).toEqual([]);
  });

  it("drops a session whose record expired, with its sessionDestroy", async () => {
    const store = new LiveStore();
    const server = await userServer({ store });
    const a = await login(server, "ann");
    const events = recordEvents(server.bridge);
    const state = store.get(a.sessionId)!;
    store.set(a.sessionId, { ...state, expiresAt: Date.now() - 1 });
    expect(await server.bridge.getSessionIdsByUser("ann")).toEqual([]);
    expect(events.destroy).toEqual([{ clientId: a.clientId, sessionId: a.sessionId }]);
  });

  it("a new bridge on the same store finds sessions saved before it started (one scan of list())", async () => {
    const store = new LiveStore();
    const first = await userServer({ store });
    const a = await login(first, "ann");
    const b = await login(first, "ann");
    await first.close();
    const second = await userServer({ store });
    expect(sorted(await second.bridge.getSessionIdsByUser("ann"))).toEqual(sorted([a.sessionId, b.sessionId]));
    // Unmapped here, yet destroyed: the store is what counts.
    expect(await second.bridge.destroyByUser("ann")).toBe(2);
    expect(store.size).toBe(0);
  });
});

describe("destroyByUser", () => {
  it("ends every session of the user, notifies their sockets, and leaves other users alone", async () => {
    const server = await userServer({ onSessionDestroy: "notify" });
    const { bridge } = server;
    const a = await login(server, "ann");
    const b = await login(server, "ann");
    const c = await login(server, "bob");
    const socketA = await server.connect(a.jar);
    const socketB = await server.connect(b.jar);
    const socketC = await server.connect(c.jar);
    let bobNotified = 0;
    socketC.on("session:destroyed", () => bobNotified++);
    const events = recordEvents(bridge);
    const notifiedA = waitFor<{ sessionId: string }>(socketA, "session:destroyed");
    const notifiedB = waitFor<{ sessionId: string }>(socketB, "session:destroyed");

    expect(await bridge.destroyByUser("ann")).toBe(2);
    expect(await notifiedA).toEqual({ sessionId: a.sessionId });
    expect(await notifiedB).toEqual({ sessionId: b.sessionId });
    expect(sorted(events.destroy.map((e) => e.sessionId))).toEqual(sorted([a.sessionId, b.sessionId]));
    expect(events.destroy).toHaveLength(2);
    expect(events.set).toHaveLength(0);
    expect(bridge.getSessionId(a.clientId)).toBeUndefined();
    expect(bridge.getSessionId(b.clientId)).toBeUndefined();
    expect(await bridge.getSessionIdsByUser("ann")).toEqual([]);
    // Bob is untouched: still listed, still attached, his socket still works.
    expect(await bridge.getSessionIdsByUser("bob")).toEqual([c.sessionId]);
    expect(bridge.getSessionId(c.clientId)).toBe(c.sessionId);
    expect(await ask(socketC, "session:get")).toMatchObject({ sessionId: c.sessionId, session: { user: "bob" } });
    expect(bobNotified).toBe(0);
    expect(await bridge.destroyByUser("ann")).toBe(0);
  });

  it("keeps `except`, and disconnects the others' sockets under onSessionDestroy: disconnect", async () => {
    const server = await userServer({ onSessionDestroy: "disconnect" });
    const { bridge } = server;
    const mine = await login(server, "ann");
    const other = await login(server, "ann");
    const third = await login(server, "ann");
    const mySocket = await server.connect(mine.jar);
    const otherSocket = await server.connect(other.jar);
    const gone = waitFor(otherSocket, "disconnect");
    const events = recordEvents(bridge);

    expect(await bridge.destroyByUser("ann", { except: mine.sessionId })).toBe(2);
    await gone;
    expect(sorted(events.destroy.map((e) => e.sessionId))).toEqual(sorted([other.sessionId, third.sessionId]));
    expect(await bridge.getSessionIdsByUser("ann")).toEqual([mine.sessionId]);
    expect(mySocket.connected).toBe(true);
    expect((await server.get("/session", mine.jar)).body).toMatchObject({ sessionId: mine.sessionId, session: { user: "ann" } });
    // The others got a fresh, empty session over HTTP.
    const res = await server.get("/session", other.jar);
    expect(res.body.sessionId).toBeUndefined();
  });
});

/** A LiveStore with the user-index verbs, recording their calls. */
class IndexingStore extends LiveStore {
  readonly index = new Map<string, Map<string, number>>();
  readonly calls: string[] = [];

  indexUser(userId: string, sessionId: string, expiresAt: number): void {
    this.calls.push(`index ${userId}`);
    let sessions = this.index.get(userId);
    if (!sessions) this.index.set(userId, (sessions = new Map()));
    sessions.set(sessionId, expiresAt);
  }

  unindexUser(userId: string, sessionId: string): void {
    this.calls.push(`unindex ${userId}`);
    this.index.get(userId)?.delete(sessionId);
  }

  sessionsOfUser(userId: string): string[] {
    const now = Date.now();
    return [...(this.index.get(userId) ?? [])].filter(([, expiresAt]) => expiresAt > now).map(([id]) => id);
  }
}

describe("stores", () => {
  it("a store with the index verbs keeps the index, and the bridge prunes stale entries", async () => {
    const store = new IndexingStore();
    const server = await userServer({ store });
    const a = await login(server, "ann");
    expect(store.index.get("ann")?.has(a.sessionId)).toBe(true);
    expect(store.index.get("ann")!.get(a.sessionId)).toBe(store.get(a.sessionId)!.expiresAt);
    await server.get("/as?user=bob", a.jar);
    // Moved: the old entry is stale until the next query removes it.
    expect(store.index.get("ann")?.has(a.sessionId)).toBe(true);
    expect(await server.bridge.getSessionIdsByUser("ann")).toEqual([]);
    expect(store.index.get("ann")?.has(a.sessionId)).toBe(false);
    expect(await server.bridge.getSessionIdsByUser("bob")).toEqual([a.sessionId]);
    expect(store.calls.filter((c) => c.startsWith("unindex"))).toEqual(["unindex ann"]);
  });

  it("a shared store without the verbs is scanned through list()", async () => {
    const store = new LiveStore() as LiveStore & SessionStore;
    let lists = 0;
    const list = store.list.bind(store);
    Object.assign(store, {
      subscribe: () => () => {},
      list: () => {
        lists++;
        return list();
      },
    });
    const server = await userServer({ store });
    const a = await login(server, "ann");
    // Written by "another process": straight into the store.
    const foreign: StoreState = { ...store.get(a.sessionId)!, session: JSON.stringify({ user: "ann" }) };
    store.set("foreign-session", foreign);
    expect(sorted(await server.bridge.getSessionIdsByUser("ann"))).toEqual(sorted([a.sessionId, "foreign-session"]));
    expect(await server.bridge.getSessionIdsByUser("ann")).toHaveLength(2);
    expect(lists).toBe(2);
  });
});

describe("option and argument checks", () => {
  it("refuse a bad userKey, a store the index cannot use, and bad calls", async () => {
    await expect(startServer({ userKey: "" })).rejects.toThrow("[koa-io-session] Invalid 'userKey': expected a non-empty string, received \"\".");
    const noList: SessionStore = { get: () => undefined, set: () => true, destroy: () => true };
    await expect(startServer({ userKey: "user", store: noList })).rejects.toThrow(
      "[koa-io-session] Invalid 'store.list': expected a function ('userKey' needs store.list() or the user-index verbs), received undefined.",
    );
    const partial = Object.assign(new LiveStore(), { indexUser: () => {} });
    await expect(startServer({ userKey: "user", store: partial })).rejects.toThrow(
      "(missing unindexUser, sessionsOfUser)",
    );
    const off = await startServer();
    await expect(off.bridge.getSessionIdsByUser("ann")).rejects.toThrow("[koa-io-session] getSessionIdsByUser() needs the 'userKey' option.");
    await expect(off.bridge.destroyByUser("ann")).rejects.toThrow("[koa-io-session] destroyByUser() needs the 'userKey' option.");
    const on = await userServer();
    await expect(on.bridge.getSessionIdsByUser({} as never)).rejects.toThrow(
      "[koa-io-session] Invalid 'userId': expected a non-empty string or a finite number, received an object.",
    );
    await expect(on.bridge.destroyByUser("ann", { except: 5 as never })).rejects.toThrow("Invalid 'except'");
  });
});
