import Koa from "koa";
import { Server, type Socket } from "socket.io";
import type { Socket as ClientSocket } from "socket.io-client";
import { afterEach, describe, expect, it } from "vitest";
import { bridgeSession, LiveStore, type SessionStore } from "../src/index.js";
import { type FaultMode, FaultyStore, recordEvents } from "./helpers/storeFixtures.js";
import { closeAll, CookieJar, KEYS, startServer, type TestServer } from "./helpers/server.js";

afterEach(closeAll);

const MODES: FaultMode[] = ["throw", "reject"];

interface Harness {
  server: TestServer;
  /** Errors Koa reported for failed requests (also keeps Koa from logging them). */
  errors: Error[];
  /** The client id of every request, in order. */
  clientIds: string[];
}

async function start(store: SessionStore): Promise<Harness> {
  const errors: Error[] = [];
  const clientIds: string[] = [];
  const server = await startServer({ store }, ({ app }) => {
    app.on("error", (error: Error) => errors.push(error));
    app.use((ctx, next) => {
      clientIds.push(ctx.clientId);
      return next();
    });
  });
  return { server, errors, clientIds };
}

/** A client with a session `{ count: 1 }` written over HTTP. */
async function firstVisit(server: TestServer): Promise<{ jar: CookieJar; clientId: string; sessionId: string }> {
  const jar = new CookieJar();
  const res = await server.get("/inc", jar);
  expect(res.status).toBe(200);
  const clientId = jar.get("test.sid.cid")!;
  const sessionId = jar.get("test.sid")!;
  expect(server.bridge.getSessionId(clientId)).toBe(sessionId);
  return { jar, clientId, sessionId };
}

/** The server side of a connected client socket. */
function serverSide(server: TestServer, client: ClientSocket): Socket {
  const socket = server.io.of("/").sockets.get(client.id!);
  expect(socket).toBeDefined();
  return socket!;
}

describe("store shape", () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ["no verbs", {}, "get, set, destroy"],
    ["only get", { get() {} }, "set, destroy"],
    ["no destroy", { get() {}, set() {} }, "destroy"],
    ["a get that is not a function", { get: "yes", set() {}, destroy() {} }, "get"],
  ];
  for (const [title, store, missing] of cases) {
    it(`rejects a store with ${title} at construction, listing what is missing`, () => {
      const app = new Koa();
      app.keys = KEYS;
      let error: unknown;
      try {
        bridgeSession(app, new Server(), { store: store as unknown as SessionStore });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(TypeError);
      expect((error as Error).message).toMatch(/^\[koa-io-session\] Invalid 'store'/);
      expect((error as Error).message).toContain(`(missing ${missing})`);
      // Nothing was installed on the app.
      expect(app.middleware).toHaveLength(0);
    });
  }
});

describe("a failing get", () => {
  for (const mode of MODES) {
    it(`(${mode}) fails that HTTP request and socket call, then the next ones work with the maps unchanged`, async () => {
      const store = new FaultyStore();
      const { server, errors } = await start(store);
      const { jar, clientId, sessionId } = await firstVisit(server);
      const client = await server.connect(jar);
      const socket = serverSide(server, client);
      const events = recordEvents(server.bridge);

      store.faults.get = mode;
      const failed = await server.get("/inc", jar);
      expect(failed.status).toBe(500);
      expect(errors).toEqual([store.error]);
      await expect(socket.withSession((s) => s.session)).rejects.toBe(store.error);
      await expect(server.bridge.getById(sessionId)).rejects.toBe(store.error);
      expect(store.failures.get).toBe(3);
      delete store.faults.get;

      expect(server.bridge.getSessionId(clientId)).toBe(sessionId);
      expect(server.bridge.getClientId(sessionId)).toBe(clientId);
      expect(events.set).toHaveLength(0);
      expect(events.destroy).toHaveLength(0);
      expect(JSON.parse(store.inner.get(sessionId)!.session)).toMatchObject({ count: 1 });

      const res = await server.get("/inc", jar);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ clientId, sessionId, session: { count: 2 } });
      expect(await socket.withSession((s) => s.session)).toEqual({ count: 2 });
      expect(await client.emitWithAck("session:inc")).toBe(3);
      expect(events.set).toHaveLength(2);
      expect(events.destroy).toHaveLength(0);
    });
  }

  it("fails the socket handshake that had to read the store, and the next handshake attaches", async () => {
    const store = new FaultyStore();
    const first = await start(store);
    const { jar, clientId, sessionId } = await firstVisit(first.server);
    await first.server.close();

    // A restarted process knows the session only through the cookie and the store.
    const { server } = await start(store);
    const events = recordEvents(server.bridge);
    store.faults.get = "reject";
    const error = await server.connect(jar).then(() => undefined, (e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect(error!.message).toBe(store.error.message);
    expect(server.bridge.getSessionId(clientId)).toBeUndefined();
    expect(events.set).toHaveLength(0);
    delete store.faults.get;

    const client = await server.connect(jar);
    expect(await client.emitWithAck("whoami")).toEqual({ clientId, sessionId });
    expect(events.set).toEqual([{ clientId, sessionId, isNew: false, isInit: true }]);
  });
});

describe("a failing set", () => {
  for (const mode of MODES) {
    it(`(${mode}) on a first write leaves no mapping and no sessionSet`, async () => {
      const store = new FaultyStore();
      const { server, errors, clientIds } = await start(store);
      const events = recordEvents(server.bridge);
      const jar = new CookieJar();

      store.faults.set = mode;
      const failed = await server.get("/inc", jar);
      expect(failed.status).toBe(500);
      expect(errors).toEqual([store.error]);
      expect(clientIds).toHaveLength(1);
      expect(server.bridge.getSessionId(clientIds[0])).toBeUndefined();
      expect(events.set).toHaveLength(0);
      expect(store.inner.size).toBe(0);
      delete store.faults.set;

      const res = await server.get("/inc", jar);
      expect(res.status).toBe(200);
      expect(res.body.session).toEqual({ count: 1 });
      const clientId = jar.get("test.sid.cid")!;
      const sessionId = jar.get("test.sid")!;
      expect(server.bridge.getSessionId(clientId)).toBe(sessionId);
      expect(events.set).toEqual([{ clientId, sessionId, isNew: true, isInit: true }]);
      expect(store.inner.size).toBe(1);
    });

    it(`(${mode}) on a later write keeps the stored session and the mapping`, async () => {
      const store = new FaultyStore();
      const { server } = await start(store);
      const { jar, clientId, sessionId } = await firstVisit(server);
      const client = await server.connect(jar);
      const socket = serverSide(server, client);
      const events = recordEvents(server.bridge);

      store.faults.set = mode;
      expect((await server.get("/inc", jar)).status).toBe(500);
      const bump = (s: { session: Record<string, unknown> | null }) => {
        s.session!.count = 10;
      };
      await expect(socket.withSession(bump)).rejects.toBe(store.error);
      await expect(server.bridge.setById(sessionId, { count: 20 })).rejects.toBe(store.error);
      delete store.faults.set;

      expect(JSON.parse(store.inner.get(sessionId)!.session)).toMatchObject({ count: 1 });
      expect(server.bridge.getSessionId(clientId)).toBe(sessionId);
      expect(events.set).toHaveLength(0);
      expect((await server.get("/session", jar)).body.session).toEqual({ count: 1 });
    });
  }
});

describe("a failing destroy", () => {
  for (const mode of MODES) {
    it(`(${mode}) on /logout keeps the session and its mapping`, async () => {
      const store = new FaultyStore();
      const { server, errors } = await start(store);
      const { jar, clientId, sessionId } = await firstVisit(server);
      const client = await server.connect(jar);
      const events = recordEvents(server.bridge);

      store.faults.destroy = mode;
      const failed = await server.get("/logout", jar);
      expect(failed.status).toBe(500);
      expect(errors).toEqual([store.error]);
      await expect(server.bridge.destroyById(sessionId)).rejects.toBe(store.error);
      await expect(serverSide(server, client).withSession((s) => { s.session = null; })).rejects.toBe(store.error);
      delete store.faults.destroy;

      expect(server.bridge.getSessionId(clientId)).toBe(sessionId);
      expect(server.bridge.getClientId(sessionId)).toBe(clientId);
      expect(store.inner.get(sessionId)).toBeDefined();
      expect(events.destroy).toHaveLength(0);
      expect((await server.get("/session", jar)).body).toEqual({ clientId, sessionId, session: { count: 1 } });
      expect(await client.emitWithAck("session:get")).toEqual({ sessionId, session: { count: 1 } });

      // Healthy again, the same logout works.
      expect((await server.get("/logout", jar)).status).toBe(200);
      expect(store.inner.get(sessionId)).toBeUndefined();
      expect(events.destroy).toEqual([{ clientId, sessionId }]);
    });
  }
});

describe("a record that is not valid JSON", () => {
  function corrupt(store: LiveStore, sessionId: string): void {
    const state = store.get(sessionId)!;
    store.set(sessionId, { ...state, session: '{"count":1,' });
  }

  it("fails the HTTP request with an error naming the id, is destroyed, and the next request starts fresh", async () => {
    const store = new LiveStore();
    const { server, errors } = await start(store);
    const { jar, clientId, sessionId } = await firstVisit(server);
    corrupt(store, sessionId);
    const events = recordEvents(server.bridge);

    const failed = await server.get("/session", jar);
    expect(failed.status).toBe(500);
    expect(errors).toHaveLength(1);
    expect(errors[0].message).toMatch(/^\[koa-io-session\] /);
    expect(errors[0].message).toContain(sessionId);
    expect(store.get(sessionId)).toBeUndefined();
    expect(events.destroy).toEqual([{ clientId, sessionId }]);
    expect(server.bridge.getSessionId(clientId)).toBeUndefined();

    const res = await server.get("/inc", jar);
    expect(res.status).toBe(200);
    expect(res.body.session).toEqual({ count: 1 });
    const next = jar.get("test.sid")!;
    expect(next).not.toBe(sessionId);
    expect(server.bridge.getSessionId(clientId)).toBe(next);
    expect(events.set).toEqual([{ clientId, sessionId: next, isNew: true, isInit: true }]);
  });

  it("rejects withSession with an error naming the id, and the socket is then without a session", async () => {
    const store = new LiveStore();
    const { server } = await start(store);
    const { jar, clientId, sessionId } = await firstVisit(server);
    const client = await server.connect(jar);
    corrupt(store, sessionId);
    const events = recordEvents(server.bridge);

    const error = await serverSide(server, client).withSession((s) => s.session).then(() => undefined, (e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect(error!.message).toMatch(/^\[koa-io-session\] /);
    expect(error!.message).toContain(sessionId);
    expect(store.get(sessionId)).toBeUndefined();
    expect(events.destroy).toEqual([{ clientId, sessionId }]);
    expect(await client.emitWithAck("session:get")).toEqual({ missing: true });
  });
});
