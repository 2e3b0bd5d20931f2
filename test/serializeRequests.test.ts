import { AsyncLocalStorage } from "node:async_hooks";
import { afterEach, describe, expect, it } from "vitest";
import { type BridgeOptions, LiveStore, type StoreState } from "../src/index.js";
import { ask, deferred } from "./helpers/socketTools.js";
import { recordEvents } from "./helpers/storeFixtures.js";
import { closeAll, CookieJar, startServer, type TestServer } from "./helpers/server.js";

afterEach(closeAll);

const sleep = (delay: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, delay));

/**
 * A LiveStore with an in-process `withLock` that waits at most `waitMs` for a
 * lock, like RedisStore's; `hold(id)` takes a lock as another process would.
 */
class LockingStore extends LiveStore {
  readonly #held = new Map<string, Promise<void>>();
  locked = 0;
  /** Writes made while their session's lock was held. */
  lockedWrites = 0;
  constructor(readonly waitMs = 2000) {
    super();
  }

  hold(sessionId: string): () => void {
    const release = deferred();
    this.#held.set(sessionId, release.promise);
    return () => {
      this.#held.delete(sessionId);
      release.resolve();
    };
  }

  override set(sessionId: string, state: StoreState): boolean {
    if (this.#held.has(sessionId)) this.lockedWrites++;
    return super.set(sessionId, state);
  }

  async withLock<T>(sessionId: string, task: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.waitMs;
    while (this.#held.has(sessionId)) {
      if (Date.now() > deadline) throw new Error(`gave up waiting for the lock of "${sessionId}" after ${this.waitMs} ms`);
      await sleep(5);
    }
    const release = this.hold(sessionId);
    this.locked++;
    try {
      return await task();
    } finally {
      release();
    }
  }
}

/** Routes: `/slowinc` (read, wait, write), `/hold` (waits for `gate`), `/regen` (regenerate + setById on its own session). */
function serialServer(opt: BridgeOptions, gate = deferred()): Promise<TestServer> {
  return startServer({ serializeRequests: true, ...opt }, ({ app, bridge }) => {
    app.use(async (ctx, next) => {
      const session = ctx.session!;
      if (ctx.path === "/slowinc") {
        const count = Number(session.count) || 0;
        await sleep(2);
        session.count = count + 1;
      } else if (ctx.path === "/hold") {
        session.held = true;
        await gate.promise;
      } else if (ctx.path === "/own") {
        // A bridge call on the request's own session, from inside the request.
        await bridge.setById(ctx.sessionId!, { ...session.toJSON(), viaBridge: true });
      } else if (ctx.path === "/regen") {
        session.user = "ann";
        await session.regenerate();
      } else {
        return next();
      }
      ctx.body = { sessionId: ctx.sessionId, session: ctx.session };
    });
  });
}

async function started(server: TestServer): Promise<{ jar: CookieJar; sessionId: string }> {
  const jar = new CookieJar();
  await server.get("/inc", jar);
  return { jar, sessionId: jar.get("test.sid")! };
}

describe("serializeRequests", () => {
  it.each([
    ["LiveStore", () => new LiveStore()],
    ["a store with withLock", () => new LockingStore()],
  ])("100 slow HTTP increments and 100 socket increments at once end exact (%s)", async (_name, makeStore) => {
    const store = makeStore();
    const server = await serialServer({ store });
    const { jar, sessionId } = await started(server);
    const socket = await server.connect(jar);
    const events = recordEvents(server.bridge);
    await Promise.all([
      ...Array.from({ length: 100 }, () => server.get("/slowinc", jar.clone())),
      ...Array.from({ length: 100 }, () => ask(socket, "session:inc")),
    ]);
    const res = await server.get("/session", jar);
    expect(res.body).toMatchObject({ sessionId, session: { count: 201 } });
    expect(events.set).toHaveLength(200);
    expect(events.destroy).toHaveLength(0);
    // The first request had no session yet; the 200 writes after it each ran under the lock,
    // calls queued while it was held under the same one.
    if (store instanceof LockingStore) {
      expect(store.lockedWrites).toBe(200);
      expect(store.locked).toBeGreaterThan(0);
      expect(store.locked).toBeLessThanOrEqual(201);
    }
  });

  it("calls queued under one held lock each run in their own caller's async context", async () => {
    const store = new LockingStore();
    const server = await serialServer({ store });
    const { sessionId } = await started(server);
    const caller = new AsyncLocalStorage<number>();
    const seen: [number, number | undefined][] = [];
    const write = store.set.bind(store);
    store.set = (id, state) => {
      seen.push([JSON.parse(state.session).n, caller.getStore()]);
      return write(id, state);
    };
    await Promise.all(Array.from({ length: 5 }, (_, n) => caller.run(n, () => server.bridge.setById(sessionId, { n }))));
    expect(store.locked).toBeLessThan(5); // some ran in one batch
    expect(seen).toEqual([0, 1, 2, 3, 4].map((n) => [n, n]));
  });

  it("never delays requests without a session or of other sessions; queues those of the held session", async () => {
    const gate = deferred();
    const server = await serialServer({}, gate);
    const held = await started(server);
    const other = await started(server);
    const holding = server.get("/hold", held.jar.clone());
    let secondDone = false;
    const second = server.get("/inc", held.jar.clone()).then((res) => {
      secondDone = true;
      return res;
    });
    await sleep(30);
    // A fresh client and another session go straight through.
    expect((await server.get("/inc", new CookieJar())).body.session).toEqual({ count: 1 });
    expect((await server.get("/inc", other.jar)).body.session).toEqual({ count: 2 });
    expect(secondDone).toBe(false);
    gate.resolve();
    expect((await holding).body.session).toEqual({ count: 1, held: true });
    // The queued request loaded what the first one committed.
    expect((await second).body.session).toEqual({ count: 2, held: true });
  });

  it("a bridge call on the request's own session and regenerate() inside a serialized request do not deadlock", async () => {
    const store = new LockingStore();
    const server = await serialServer({ store, userKey: "user" });
    const { jar, sessionId } = await started(server);
    const own = await server.get("/own", jar);
    expect(own.status).toBe(200);
    expect(await server.bridge.getById(sessionId)).toEqual({ count: 1, viaBridge: true });
    const regen = await server.get("/regen", jar);
    expect(regen.status).toBe(200);
    const newId = jar.get("test.sid")!;
    expect(newId).not.toBe(sessionId);
    expect(regen.body.sessionId).toBe(newId);
    expect(await server.bridge.getSessionIdsByUser("ann")).toEqual([newId]);
    expect(store.get(sessionId)).toBeUndefined();
  });

  it("a lock wait over the store's bound fails the request with 503 and a [koa-io-session] error", async () => {
    const store = new LockingStore(100);
    const server = await serialServer({ store });
    const { jar, sessionId } = await started(server);
    const errors: Error[] = [];
    server.app.silent = true;
    server.app.on("error", (error: Error) => errors.push(error));
    const release = store.hold(sessionId);
    const res = await server.get("/inc", jar.clone());
    release();
    expect(res.status).toBe(503);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toMatch(/^\[koa-io-session\] The session of this request is locked elsewhere; try again\. \(gave up waiting/);
    // Nothing was lost or written; the next request runs normally.
    expect((await server.get("/inc", jar)).body.session).toEqual({ count: 2 });
  });

  it("is off by default: requests take no lock", async () => {
    const store = new LockingStore();
    const server = await startServer({ store });
    const { jar } = await started(server);
    await Promise.all(Array.from({ length: 5 }, () => server.get("/inc", jar.clone())));
    expect(store.locked).toBe(0);
  });

  it("refuses a non-boolean", async () => {
    await expect(startServer({ serializeRequests: "yes" as never })).rejects.toThrow(
      "[koa-io-session] Invalid 'serializeRequests': expected a boolean, received \"yes\".",
    );
  });
});
