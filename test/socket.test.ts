import type { Socket as ServerSocket } from "socket.io";
import type { Socket as ClientSocket } from "socket.io-client";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { LiveStore, ms, type SessionContext } from "../src/index.js";
import {
  answerIdentity, ask, closeSocketTools, connectSocket, serverSocketOf, startNamespaceServer, TRANSPORTS,
} from "./helpers/socketTools.js";
import { type RecordedEvents, recordEvents, storedRecord } from "./helpers/storeFixtures.js";
import { closeAll, CookieJar, startServer, type TestServer } from "./helpers/server.js";

afterEach(async () => {
  vi.useRealTimers();
  await closeSocketTools();
  await closeAll();
});

const CLIENT = "test.sid.cid";
const SESSION = "test.sid";
const MISSING_MESSAGE = "[koa-io-session] Session is missing for this socket.";

interface WhoAmI {
  clientId: string;
  sessionId: string | undefined;
}

let store: LiveStore;
let server: TestServer;
let events: RecordedEvents;

beforeEach(async () => {
  store = new LiveStore();
  server = await startServer({ store });
  events = recordEvents(server.bridge);
});

const stored = (sessionId: string, on: LiveStore = store) => storedRecord(on, sessionId);

/** The stored session without koa-session's fields. */
function storedData(sessionId: string): Record<string, unknown> | undefined {
  const record = stored(sessionId);
  if (!record) return undefined;
  const { _expire, _maxAge, _session, ...data } = record;
  return data;
}

/** A client whose session `{ count: 1 }` was written over HTTP, with a connected socket. */
async function clientWithSession(transports: ("polling" | "websocket")[] = ["websocket"]) {
  const jar = new CookieJar();
  const res = await server.get("/inc", jar);
  expect(res.status).toBe(200);
  const clientId = jar.get(CLIENT)!;
  const sessionId = jar.get(SESSION)!;
  // The body is rendered before koa-session commits, so the first write's ctx.sessionId is still undefined.
  expect(res.body).toEqual({ clientId, session: { count: 1 } });
  expect(server.bridge.getSessionId(clientId)).toBe(sessionId);
  expect(stored(sessionId)!.count).toBe(1);
  const client = await server.connect(jar, { transports });
  const socket = serverSocketOf(server.io, client);
  events.set.length = 0;
  events.destroy.length = 0;
  return { jar, clientId, sessionId, client, socket };
}

/** A connected socket whose client has no session. */
async function clientWithoutSession(): Promise<{ client: ClientSocket; socket: ServerSocket }> {
  const client = await server.connect(new CookieJar());
  return { client, socket: serverSocketOf(server.io, client) };
}

describe.each(TRANSPORTS)("socket identity over %s", (transport) => {
  it("gives the socket the same clientId as HTTP and no sessionId before any session write", async () => {
    const jar = new CookieJar();
    const res = await server.get("/session", jar);
    const clientId = jar.get(CLIENT)!;
    expect(clientId).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(res.body.clientId).toBe(clientId);
    expect(res.body.sessionId).toBeUndefined();
    expect(store.size).toBe(0);

    const client = await server.connect(jar, { transports: [transport] });
    expect(client.io.engine.transport.name).toBe(transport);
    expect(await ask<WhoAmI>(client, "whoami")).toEqual({ clientId, sessionId: undefined });
    expect(serverSocketOf(server.io, client).clientId).toBe(clientId);
    expect(serverSocketOf(server.io, client).sessionId).toBeUndefined();
  });

  it("makes socket.sessionId the session an HTTP request writes while the socket stays connected", async () => {
    const jar = new CookieJar();
    await server.get("/session", jar);
    const clientId = jar.get(CLIENT)!;
    const client = await server.connect(jar, { transports: [transport] });
    expect(await ask<WhoAmI>(client, "whoami")).toEqual({ clientId, sessionId: undefined });
    expect(await ask(client, "session:get")).toEqual({ missing: true });

    await server.get("/inc", jar);
    const sessionId = jar.get(SESSION)!;
    expect(server.bridge.getSessionId(clientId)).toBe(sessionId);
    expect(events.set).toEqual([{ clientId, sessionId, isNew: true, isInit: true }]);

    expect(client.connected).toBe(true);
    expect(await ask<WhoAmI>(client, "whoami")).toEqual({ clientId, sessionId });
    expect(await ask(client, "session:get")).toEqual({ sessionId, session: { count: 1 } });
  });

  it("re-attaches a stored session on the handshake of a restarted server", async () => {
    const jar = new CookieJar();
    await server.get("/inc", jar);
    const clientId = jar.get(CLIENT)!;
    const sessionId = jar.get(SESSION)!;

    const restarted = await startServer({ store });
    const restartedEvents = recordEvents(restarted.bridge);
    expect(restarted.bridge.getSessionId(clientId)).toBeUndefined();

    const client = await restarted.connect(jar, { transports: [transport] });
    expect(restartedEvents.set).toEqual([{ clientId, sessionId, isNew: false, isInit: true }]);
    expect(restartedEvents.destroy).toEqual([]);
    expect(serverSocketOf(restarted.io, client).sessionId).toBe(sessionId);
    expect(restarted.bridge.getClientId(sessionId)).toBe(clientId);
    expect(await ask<WhoAmI>(client, "whoami")).toEqual({ clientId, sessionId });
    expect(await ask(client, "session:get")).toEqual({ sessionId, session: { count: 1 } });
    expect(restartedEvents.set).toHaveLength(1);
  });
});

describe("sockets without a session", () => {
  it("give a cookie-less socket a fresh client id of its own and no session", async () => {
    const first = await server.connect(new CookieJar());
    const second = await server.connect(new CookieJar());
    const a = await ask<WhoAmI>(first, "whoami");
    const b = await ask<WhoAmI>(second, "whoami");
    expect(a.clientId).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(b.clientId).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(a.clientId).not.toBe(b.clientId);
    expect(a.sessionId).toBeUndefined();
    expect(b.sessionId).toBeUndefined();
  });

  it("never creates a session over WebSocket", async () => {
    const { client, socket } = await clientWithoutSession();
    const handler = vi.fn((ctx: SessionContext) => {
      ctx.session = { created: true };
    });
    await expect(socket.withSession(handler)).rejects.toThrow(MISSING_MESSAGE);
    expect(await ask(client, "session:inc")).toEqual({ missing: true });
    expect(await ask(client, "session:logout")).toEqual({ missing: true });
    expect(handler).not.toHaveBeenCalled();
    expect(store.size).toBe(0);
    expect(socket.sessionId).toBeUndefined();
    expect(server.bridge.getSessionId(socket.clientId)).toBeUndefined();
    expect(events.set).toEqual([]);
  });

  it("rejects with an Error whose message is exact when onMissing is omitted", async () => {
    const { socket } = await clientWithoutSession();
    const error = await socket.withSession(() => "never").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(TypeError);
    expect((error as Error).message).toBe(MISSING_MESSAGE);
  });

  it("rejects with the very Error given as onMissing", async () => {
    const { socket } = await clientWithoutSession();
    const mine = new RangeError("no session here");
    const handler = vi.fn();
    await expect(socket.withSession(handler, mine)).rejects.toBe(mine);
    expect(handler).not.toHaveBeenCalled();
  });

  it("resolves what an onMissing function returns, called with the socket", async () => {
    const { socket } = await clientWithoutSession();
    const fallback = { guest: true };
    const onMissing = vi.fn((_socket: ServerSocket) => fallback);
    await expect(socket.withSession(() => "never", onMissing)).resolves.toBe(fallback);
    expect(onMissing).toHaveBeenCalledTimes(1);
    expect(onMissing.mock.calls[0]).toEqual([socket]);
    expect(onMissing.mock.calls[0][0]).toBe(socket);
  });

  it("resolves what an async onMissing function resolves", async () => {
    const { socket } = await clientWithoutSession();
    const onMissing = vi.fn(async (s: ServerSocket) => {
      await new Promise((resolve) => setImmediate(resolve));
      return `guest:${s.clientId}`;
    });
    await expect(socket.withSession(() => "never", onMissing)).resolves.toBe(`guest:${socket.clientId}`);
    expect(onMissing).toHaveBeenCalledTimes(1);
  });

  it.each([
    ["an object", { fallback: 1 }],
    ["null", null],
    ["0", 0],
    ["a string", "no session"],
    ["false", false],
  ])("resolves onMissing itself when it is %s", async (_kind, value) => {
    const { socket } = await clientWithoutSession();
    const handler = vi.fn();
    await expect(socket.withSession(handler, value)).resolves.toBe(value);
    expect(handler).not.toHaveBeenCalled();
  });
});

describe("withSession", () => {
  it("calls the handler with { session, sessionId, socket } and the socket, and returns its value", async () => {
    const { sessionId, socket } = await clientWithSession();
    const value = { answer: 42 };
    const seen: { ctx?: SessionContext; second?: unknown; session?: unknown } = {};
    const result = await socket.withSession((ctx, second) => {
      seen.ctx = ctx;
      seen.second = second;
      seen.session = { ...ctx.session };
      return value;
    });
    expect(result).toBe(value);
    expect(seen.session).toEqual({ count: 1 });
    expect(seen.ctx!.sessionId).toBe(sessionId);
    expect(seen.ctx!.socket).toBe(socket);
    expect(seen.second).toBe(socket);
  });

  it("hands the handler the session as JSON.parse reads the stored record, whatever its layout", async () => {
    const { sessionId, socket } = await clientWithSession();
    const { expiresAt, ttl } = store.get(sessionId)!;
    const expire = Date.now() + ms.h();
    const layouts = [
      // koa-session's own layout, integers and a fraction.
      [`{"count":2,"_expire":${expire},"_maxAge":${ms.h()}}`, { count: 2 }],
      [`{"count":2,"_expire":${expire}.5,"_maxAge":${ms.h()}}`, { count: 2 }],
      [`{"_expire":${expire},"_maxAge":${ms.h()}}`, {}],
      [`{"count":2,"_session":true}`, { count: 2 }],
      // Another order, and bookkeeping names in the user's part too (the last one wins).
      [`{"_expire":${expire},"count":2,"_maxAge":${ms.h()}}`, { count: 2 }],
      [`{"_maxAge":5,"count":2,"_expire":${expire},"_maxAge":${ms.h()}}`, { count: 2 }],
    ] as const;
    for (const [at, [json, session]] of layouts.entries()) {
      store.set(sessionId, { session: json, expiresAt, ttl });
      expect(await socket.withSession((ctx) => ({ ...ctx.session })), json).toStrictEqual(session);
      // Unchanged apart from _expire: not written. The last one parses to another key order, so it is rewritten.
      if (at < layouts.length - 1) expect(store.get(sessionId)!.session).toBe(json);
      else expect(stored(sessionId)).toStrictEqual({ count: 2, _expire: expect.any(Number), _maxAge: ms.h() });
    }
  });

  it("keeps sessionId and socket read-only in the handler", async () => {
    const { sessionId, socket } = await clientWithSession();
    const other = (await clientWithoutSession()).socket;
    await socket.withSession((ctx) => {
      const writable = ctx as unknown as { sessionId: string; socket: unknown };
      expect(() => {
        writable.sessionId = "another-session-id";
      }).toThrow(TypeError);
      expect(() => {
        writable.socket = other;
      }).toThrow(TypeError);
      expect(ctx.sessionId).toBe(sessionId);
      expect(ctx.socket).toBe(socket);
    });
    expect(storedData(sessionId)).toEqual({ count: 1 });
  });

  it("writes a session changed in place and emits one sessionSet", async () => {
    const { jar, clientId, sessionId, socket } = await clientWithSession();
    const result = await socket.withSession((ctx) => {
      ctx.session!.name = "ws";
      ctx.session!.count = 5;
      return "done";
    });
    expect(result).toBe("done");
    expect(storedData(sessionId)).toEqual({ count: 5, name: "ws" });
    expect(events.set).toEqual([{ clientId, sessionId, isNew: false, isInit: false }]);
    expect(events.destroy).toEqual([]);
    const res = await server.get("/session", jar);
    expect(res.body).toEqual({ clientId, sessionId, session: { count: 5, name: "ws" } });
  });

  it("does not write or emit when the handler leaves the session unchanged", async () => {
    const { sessionId, socket } = await clientWithSession();
    const before = store.get(sessionId);
    // LiveStore answers a new state object each time: a write shows as a set() call.
    const writes = vi.spyOn(store, "set");
    await socket.withSession((ctx) => ctx.session!.count);
    await socket.withSession((ctx) => {
      ctx.session!.count = 1;
    });
    await socket.withSession((ctx) => {
      ctx.session = { count: 1 };
    });
    expect(store.get(sessionId)).toStrictEqual(before);
    expect(writes).not.toHaveBeenCalled();
    expect(events.set).toEqual([]);
    expect(events.destroy).toEqual([]);
  });

  it("writes a replaced session", async () => {
    const { jar, clientId, sessionId, socket } = await clientWithSession();
    await socket.withSession((ctx) => {
      ctx.session = { replaced: true };
    });
    expect(storedData(sessionId)).toEqual({ replaced: true });
    expect(events.set).toEqual([{ clientId, sessionId, isNew: false, isInit: false }]);
    expect((await server.get("/session", jar)).body.session).toEqual({ replaced: true });
  });

  it("destroys the session when the handler sets it to null", async () => {
    const { jar, client, clientId, sessionId, socket } = await clientWithSession();
    await expect(socket.withSession((ctx) => {
      ctx.session = null;
      return "gone";
    })).resolves.toBe("gone");
    expect(events.destroy).toEqual([{ clientId, sessionId }]);
    expect(events.set).toEqual([]);
    expect(store.size).toBe(0);
    expect(socket.sessionId).toBeUndefined();
    expect(await ask<WhoAmI>(client, "whoami")).toEqual({ clientId, sessionId: undefined });
    expect(await ask(client, "session:get")).toEqual({ missing: true });

    const res = await server.get("/inc", jar);
    const fresh = jar.get(SESSION)!;
    expect(fresh).not.toBe(sessionId);
    expect(res.body).toEqual({ clientId, session: { count: 1 } });
    expect(server.bridge.getSessionId(clientId)).toBe(fresh);
    expect(stored(fresh)).toMatchObject({ count: 1 });
    expect(events.destroy).toHaveLength(1);
  });

  it("destroys the session through the session:logout event as well", async () => {
    const { client, clientId, sessionId } = await clientWithSession();
    expect(await ask(client, "session:logout")).toBe(true);
    expect(events.destroy).toEqual([{ clientId, sessionId }]);
    expect(store.get(sessionId)).toBeUndefined();
  });

  it.each([
    ["a string", "not a session"],
    ["an array", [1, 2]],
    ["a number", 7],
  ])("rejects with a TypeError and leaves the store unchanged when the session is set to %s", async (_kind, value) => {
    const { sessionId, socket } = await clientWithSession();
    const before = store.get(sessionId);
    // LiveStore answers a new state object each time: a write shows as a set() call.
    const writes = vi.spyOn(store, "set");
    const error = await socket.withSession((ctx) => {
      (ctx as { session: unknown }).session = value;
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toMatch(/^\[koa-io-session\] /);
    expect(store.get(sessionId)).toStrictEqual(before);
    expect(writes).not.toHaveBeenCalled();
    expect(storedData(sessionId)).toEqual({ count: 1 });
    expect(events.set).toEqual([]);
    expect(events.destroy).toEqual([]);
  });

  it("rejects with the handler's error, writes nothing, and runs the next call", async () => {
    const { clientId, sessionId, socket } = await clientWithSession();
    const before = store.get(sessionId);
    // LiveStore answers a new state object each time: a write shows as a set() call.
    const writes = vi.spyOn(store, "set");
    const failure = new Error("handler failed");
    await expect(socket.withSession((ctx) => {
      ctx.session!.count = 99;
      throw failure;
    })).rejects.toBe(failure);
    await expect(socket.withSession(async (ctx) => {
      await new Promise((resolve) => setImmediate(resolve));
      ctx.session!.count = 98;
      throw failure;
    })).rejects.toBe(failure);
    expect(store.get(sessionId)).toStrictEqual(before);
    expect(writes).not.toHaveBeenCalled();
    expect(events.set).toEqual([]);

    await expect(socket.withSession((ctx) => {
      ctx.session!.count = Number(ctx.session!.count) + 1;
      return ctx.session!.count;
    })).resolves.toBe(2);
    expect(storedData(sessionId)).toEqual({ count: 2 });
    expect(events.set).toEqual([{ clientId, sessionId, isNew: false, isInit: false }]);
  });

  it("rejects with a TypeError when the handler is not a function", async () => {
    const { socket } = await clientWithSession();
    await expect(socket.withSession("nope" as never)).rejects.toThrow(TypeError);
  });
});

describe("withSession expiry (one expiry for HTTP and sockets)", () => {
  const MAX_AGE = ms.h(2);

  it("refreshes _expire and the store TTL exactly like an HTTP write, hiding koa-session's fields", async () => {
    await closeAll();
    store = new LiveStore();
    const T0 = Date.UTC(2030, 0, 1);
    vi.useFakeTimers({ toFake: ["Date"], now: T0 });
    server = await startServer({ store, maxAge: MAX_AGE, autoCleanup: false });
    events = recordEvents(server.bridge);

    const jar = new CookieJar();
    await server.get("/inc", jar);
    const sessionId = jar.get(SESSION)!;
    const afterHttp = stored(sessionId)!;
    const httpState = store.get(sessionId)!;
    expect(afterHttp).toEqual({ count: 1, _expire: T0 + MAX_AGE, _maxAge: MAX_AGE });
    expect(httpState.expiresAt - (afterHttp._expire as number)).toBe(10_000);
    expect(httpState.ttl).toBe(MAX_AGE + 10_000);

    const client = await server.connect(jar);
    const socket = serverSocketOf(server.io, client);
    vi.setSystemTime(T0 + ms.m(5));
    const keysSeen = await socket.withSession((ctx) => {
      const keys = Object.keys(ctx.session!);
      ctx.session!.count = 2;
      return keys;
    });
    expect(keysSeen).toEqual(["count"]);
    const afterSocket = stored(sessionId)!;
    const socketState = store.get(sessionId)!;
    expect(afterSocket).toEqual({ count: 2, _expire: T0 + ms.m(5) + MAX_AGE, _maxAge: MAX_AGE });
    expect(socketState.expiresAt - (afterSocket._expire as number)).toBe(10_000);
    expect(socketState.expiresAt - (afterSocket._expire as number))
      .toBe(httpState.expiresAt - (afterHttp._expire as number));
    expect(socketState.ttl).toBe(httpState.ttl);

    expect(await server.bridge.getById(sessionId)).toEqual({ count: 2 });
    expect(await server.bridge.getByClientId(jar.get(CLIENT)!)).toEqual({ count: 2 });

    // A later HTTP write keeps the same relation.
    vi.setSystemTime(T0 + ms.m(9));
    const res = await server.get("/inc", jar);
    expect(res.body.session).toEqual({ count: 3 });
    const afterSecondHttp = stored(sessionId)!;
    expect(afterSecondHttp).toEqual({ count: 3, _expire: T0 + ms.m(9) + MAX_AGE, _maxAge: MAX_AGE });
    expect(store.get(sessionId)!.expiresAt - (afterSecondHttp._expire as number)).toBe(10_000);
  });

  it.each([
    ["the store record's expiresAt", (state: { session: string; expiresAt: number; ttl: number }) => ({ ...state, expiresAt: Date.now() - 1 })],
    ["the session's _expire", (state: { session: string; expiresAt: number; ttl: number }) => ({
      ...state,
      session: JSON.stringify({ ...JSON.parse(state.session), _expire: Date.now() - 1 }),
    })],
  ])("treats a session whose %s passed as missing and emits sessionDestroy once", async (_what, expire) => {
    const { client, clientId, sessionId, socket } = await clientWithSession();
    store.set(sessionId, expire(store.get(sessionId)!));
    const handler = vi.fn();
    await expect(socket.withSession(handler, "expired")).resolves.toBe("expired");
    expect(handler).not.toHaveBeenCalled();
    expect(events.destroy).toEqual([{ clientId, sessionId }]);
    expect(store.size).toBe(0);
    expect(socket.sessionId).toBeUndefined();
    await expect(socket.withSession(handler)).rejects.toThrow(MISSING_MESSAGE);
    expect(await ask<WhoAmI>(client, "whoami")).toEqual({ clientId, sessionId: undefined });
    expect(events.destroy).toHaveLength(1);
    expect(events.set).toEqual([]);
  });
});

describe("foreign session cookies", () => {
  it("does not attach another client's session named by a copied session cookie", async () => {
    const owner = await clientWithSession();
    const jar = new CookieJar();
    await server.get("/session", jar);
    const intruderId = jar.get(CLIENT)!;
    jar.set(SESSION, owner.jar.get(SESSION)!);
    jar.set(`${SESSION}.sig`, owner.jar.get(`${SESSION}.sig`)!);

    const client = await server.connect(jar);
    expect(await ask<WhoAmI>(client, "whoami")).toEqual({ clientId: intruderId, sessionId: undefined });
    expect(await ask(client, "session:get")).toEqual({ missing: true });
    expect(await ask(client, "session:inc")).toEqual({ missing: true });
    expect(server.bridge.getClientId(owner.sessionId)).toBe(owner.clientId);
    expect(server.bridge.getSessionId(owner.clientId)).toBe(owner.sessionId);
    expect(storedData(owner.sessionId)).toEqual({ count: 1 });
    expect(events.set).toEqual([]);
    expect(await ask(owner.client, "session:get")).toEqual({ sessionId: owner.sessionId, session: { count: 1 } });
  });

  it("does not adopt a stored session named by a badly signed cookie after a restart", async () => {
    const owner = await clientWithSession();
    const restarted = await startServer({ store });
    const restartedEvents = recordEvents(restarted.bridge);
    const jar = new CookieJar();
    jar.set(SESSION, owner.sessionId);
    jar.set(`${SESSION}.sig`, "forged-signature");

    const client = await restarted.connect(jar);
    expect((await ask<WhoAmI>(client, "whoami")).sessionId).toBeUndefined();
    expect(restarted.bridge.getClientId(owner.sessionId)).toBeUndefined();
    expect(restartedEvents.set).toEqual([]);
  });
});

describe("namespaces", () => {
  it("gives sockets of namespaces created before and after the bridge clientId, sessionId and withSession", async () => {
    await closeAll();
    store = new LiveStore();
    const nsServer = await startNamespaceServer(
      { store },
      (io) => answerIdentity(io.of("/chat")),
      (io) => answerIdentity(io.of("/later")),
    );
    const jar = new CookieJar();
    await nsServer.get("/inc", jar);
    const clientId = jar.get(CLIENT)!;
    const sessionId = jar.get(SESSION)!;
    expect(nsServer.bridge.getSessionId(clientId)).toBe(sessionId);

    let count = 1;
    for (const nsp of ["/chat", "/later"]) {
      const client = await connectSocket(nsServer.url, jar, { nsp });
      expect(await ask<WhoAmI>(client, "whoami")).toEqual({ clientId, sessionId });
      expect(await ask(client, "session:get")).toEqual({ sessionId, session: { count } });
      const socket = serverSocketOf(nsServer.io, client, nsp);
      expect(socket.nsp.name).toBe(nsp);
      expect(socket.clientId).toBe(clientId);
      count = await socket.withSession((ctx) => {
        ctx.session!.count = Number(ctx.session!.count) + 1;
        return ctx.session!.count as number;
      });
      expect(stored(sessionId)!.count).toBe(count);
    }
    expect(count).toBe(3);
  });

  it("gives a cookie-less namespace socket a client id and no session", async () => {
    await closeAll();
    const nsServer = await startNamespaceServer({}, (io) => answerIdentity(io.of("/chat")), () => {});
    const client = await connectSocket(nsServer.url, new CookieJar(), { nsp: "/chat" });
    const who = await ask<WhoAmI>(client, "whoami");
    expect(who.clientId).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(who.sessionId).toBeUndefined();
    expect(await ask(client, "session:get")).toEqual({ missing: true });
  });
});
