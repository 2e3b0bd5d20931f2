import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LiveStore } from "../src/index.js";
import { ask, closeSocketTools, deferred, serverSocketOf } from "./helpers/socketTools.js";
import { type RecordedEvents, recordEvents, storedRecord } from "./helpers/storeFixtures.js";
import { closeAll, CookieJar, startServer, type TestServer } from "./helpers/server.js";

afterEach(async () => {
  await closeSocketTools();
  await closeAll();
});

const CLIENT = "test.sid.cid";
const SESSION = "test.sid";

let store: LiveStore;
let server: TestServer;
let events: RecordedEvents;

beforeEach(async () => {
  store = new LiveStore();
  server = await startServer({ store });
  events = recordEvents(server.bridge);
});

const stored = (sessionId: string) => storedRecord(store, sessionId);

/** Lets other queued work run: resolves after `turns` turns of the event loop. */
async function turns(count: number): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** A client with a session written over HTTP by `path`. */
async function client(path = "/inc") {
  const jar = new CookieJar();
  await server.get(path, jar);
  const clientId = jar.get(CLIENT)!;
  const sessionId = jar.get(SESSION)!;
  expect(server.bridge.getSessionId(clientId)).toBe(sessionId);
  return { jar, clientId, sessionId };
}

describe("withSession concurrency", () => {
  it("loses no update when 4 sockets of one session increment 200 times at once", async () => {
    const { jar, clientId, sessionId } = await client("/set?name=counter");
    expect(stored(sessionId)).toMatchObject({ name: "counter" });
    expect(stored(sessionId)!.count).toBeUndefined();
    const sockets = await Promise.all([1, 2, 3, 4].map(() => server.connect(jar)));
    events.set.length = 0;

    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => ask<number>(sockets[i % 4], "session:inc")),
    );

    expect([...results].sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect(stored(sessionId)).toMatchObject({ name: "counter", count: 200 });
    const forSession = events.set.filter((e) => e.sessionId === sessionId);
    expect(forSession).toHaveLength(200);
    expect(events.set).toHaveLength(200);
    expect(forSession.every((e) => e.clientId === clientId && !e.isNew && !e.isInit)).toBe(true);
    expect(events.destroy).toEqual([]);
    const res = await server.get("/session", jar);
    expect(res.body).toEqual({ clientId, sessionId, session: { name: "counter", count: 200 } });
  });

  it("runs calls of different sessions concurrently", async () => {
    const a = await client();
    const b = await client();
    expect(a.sessionId).not.toBe(b.sessionId);
    const socketA = serverSocketOf(server.io, await server.connect(a.jar));
    const socketB = serverSocketOf(server.io, await server.connect(b.jar));
    const releasedByB = deferred();
    const startedA = deferred();

    // A's handler can only finish once B's handler has run: if calls of different
    // sessions were serialized, B would wait behind A forever (and the test would time out).
    const callA = socketA.withSession(async (ctx) => {
      startedA.resolve();
      await releasedByB.promise;
      ctx.session!.by = "A";
      return ctx.sessionId;
    });
    await startedA.promise;
    const callB = socketB.withSession((ctx) => {
      releasedByB.resolve();
      ctx.session!.by = "B";
      return ctx.sessionId;
    });

    expect(await Promise.all([callA, callB])).toEqual([a.sessionId, b.sessionId]);
    expect(stored(a.sessionId)).toMatchObject({ count: 1, by: "A" });
    expect(stored(b.sessionId)).toMatchObject({ count: 1, by: "B" });
  });

  it("queues a call made from inside a sync handler of the same session behind that handler", async () => {
    const { jar, sessionId } = await client();
    const socket = serverSocketOf(server.io, await server.connect(jar));
    let inner: Promise<unknown> | undefined;
    let innerSaw: unknown;
    const outer = await socket.withSession((ctx) => {
      ctx.session!.count = (ctx.session!.count as number) + 1;
      // Not awaited (that would wait for itself): it must run once this handler's save is done.
      inner = socket.withSession((innerCtx) => {
        innerSaw = innerCtx.session!.count;
        innerCtx.session!.count = (innerCtx.session!.count as number) + 1;
        return innerSaw;
      });
      return ctx.session!.count;
    });
    expect(outer).toBe(2);
    expect(await inner).toBe(2);
    expect(stored(sessionId)).toMatchObject({ count: 3 });
  });

  it("runs calls of one session one at a time, in call order, across sockets", async () => {
    const { jar, sessionId } = await client();
    const first = serverSocketOf(server.io, await server.connect(jar));
    const second = serverSocketOf(server.io, await server.connect(jar));
    const N = 12;
    const started: number[] = [];
    let running = 0;
    let maxRunning = 0;

    const calls = Array.from({ length: N }, (_, i) =>
      (i % 2 === 0 ? first : second).withSession(async (ctx) => {
        started.push(i);
        running++;
        maxRunning = Math.max(maxRunning, running);
        // Earlier calls wait longer: concurrent handlers would finish (and start) out of order.
        await turns(N - i);
        ctx.session!.order = [...((ctx.session!.order as number[] | undefined) ?? []), i];
        running--;
        return i;
      }),
    );

    expect(await Promise.all(calls)).toEqual(Array.from({ length: N }, (_, i) => i));
    expect(started).toEqual(Array.from({ length: N }, (_, i) => i));
    expect(maxRunning).toBe(1);
    expect(stored(sessionId)!.order).toEqual(Array.from({ length: N }, (_, i) => i));
  });

  it("runs a call queued behind a slow one on the session the client moved to by login", async () => {
    const { jar, clientId, sessionId: first } = await client();
    const clientSocket = await server.connect(jar);
    const socket = serverSocketOf(server.io, clientSocket);
    const slowStarted = deferred();
    const releaseSlow = deferred();

    const slow = socket.withSession(async (ctx) => {
      slowStarted.resolve();
      await releaseSlow.promise;
      return ctx.sessionId;
    });
    await slowStarted.promise;
    const queued = socket.withSession((ctx) => {
      ctx.session!.marker = "queued";
      return ctx.sessionId;
    });

    const login = await server.get("/login?user=ann", jar);
    expect(login.status).toBe(200);
    const second = jar.get(SESSION)!;
    expect(second).not.toBe(first);
    expect(server.bridge.getSessionId(clientId)).toBe(second);
    expect(socket.sessionId).toBe(second);

    releaseSlow.resolve();
    expect(await slow).toBe(first);
    expect(await queued).toBe(second);

    expect(store.get(first)).toBeUndefined();
    expect(stored(second)).toMatchObject({ marker: "queued" });
    expect(events.destroy).toEqual([{ clientId, sessionId: first }]);
    expect(await ask(clientSocket, "session:get")).toEqual({
      sessionId: second,
      session: expect.objectContaining({ marker: "queued" }),
    });
    const res = await server.get("/session", jar);
    expect(res.body.sessionId).toBe(second);
    expect(res.body.session).toMatchObject({ marker: "queued" });
  });
});
