import { afterEach, describe, expect, it } from "vitest";
import { type BridgeOptions, LiveStore, ms, type StoreState } from "../src/index.js";
import { ask } from "./helpers/socketTools.js";
import { recordEvents, storedRecord } from "./helpers/storeFixtures.js";
import { closeAll, CookieJar, startServer, type TestServer } from "./helpers/server.js";

afterEach(closeAll);

/** A LiveStore that counts its writes. */
class CountingStore extends LiveStore {
  writes = 0;
  override set(sessionId: string, state: StoreState): boolean {
    this.writes++;
    return super.set(sessionId, state);
  }
}

const sleep = (delay: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, delay));

async function withSessionAndSocket(opt: BridgeOptions) {
  const store = new CountingStore();
  const server = await startServer({ store, ...opt });
  const jar = new CookieJar();
  await server.get("/inc", jar);
  const sessionId = jar.get("test.sid")!;
  const socket = await server.connect(jar);
  return { store, server, jar, sessionId, socket };
}

/** Resolves once the store has been written `count` times in all. */
async function writesReach(store: CountingStore, count: number): Promise<void> {
  for (let turn = 0; store.writes < count && turn < 200; turn++) await sleep(5);
}

describe("socketTouch", () => {
  it("an incoming event refreshes the expiry once per interval, without sessionSet", async () => {
    const { store, server, sessionId, socket } = await withSessionAndSocket({ socketTouch: 5000 });
    const before = store.get(sessionId)!;
    const expireBefore = storedRecord(store, sessionId)!._expire as number;
    const events = recordEvents(server.bridge);
    await sleep(20);
    const writesBefore = store.writes;
    for (let i = 0; i < 5; i++) await ask(socket, "whoami");
    await writesReach(store, writesBefore + 1);
    expect(store.writes).toBe(writesBefore + 1);
    const after = store.get(sessionId)!;
    expect(after.expiresAt).toBeGreaterThan(before.expiresAt);
    expect(after.ttl).toBe(before.ttl);
    expect(storedRecord(store, sessionId)!._expire).toBeGreaterThan(expireBefore);
    expect(storedRecord(store, sessionId)).toMatchObject({ count: 1, _maxAge: ms.d(30) });
    expect(events.set).toHaveLength(0);
    expect(events.error).toHaveLength(0);
  });

  it("withSession calls touch too, and `true` means once a minute", async () => {
    const { store, server, socket } = await withSessionAndSocket({ socketTouch: true });
    await sleep(20);
    const writesBefore = store.writes;
    const serverSocket = [...server.io.of("/").sockets.values()][0]!;
    await serverSocket.withSession(() => 1);
    await ask(socket, "session:get");
    await serverSocket.withSession(() => 2);
    await writesReach(store, writesBefore + 1);
    expect(store.writes).toBe(writesBefore + 1);
  });

  it("is off by default: socket events write nothing", async () => {
    const { store, socket } = await withSessionAndSocket({});
    const writesBefore = store.writes;
    for (let i = 0; i < 3; i++) await ask(socket, "session:get");
    await sleep(50);
    expect(store.writes).toBe(writesBefore);
  });

  it("a socket without a session writes nothing", async () => {
    const store = new CountingStore();
    const server = await startServer({ store, socketTouch: 1000 });
    const events = recordEvents(server.bridge);
    const socket = await server.connect(new CookieJar());
    expect(await ask(socket, "session:get")).toEqual({ missing: true });
    await sleep(50);
    expect(store.writes).toBe(0);
    expect(events.error).toHaveLength(0);
  });

  it("refuses an interval under a second and a value of another type", async () => {
    await expect(startServer({ socketTouch: 999 })).rejects.toThrow(
      "[koa-io-session] Invalid 'socketTouch': expected a number in [1000, 2147483647], received 999.",
    );
    await expect(startServer({ socketTouch: "1m" as never })).rejects.toThrow(
      "[koa-io-session] Invalid 'socketTouch': expected a boolean or a number in [1000, 2147483647], received \"1m\".",
    );
  });

  it("keeps a 1-minute session alive through ~80 s of socket-only activity; HTTP without the session cookie gets it back (real timers)", async () => {
    const { store, server, jar, sessionId, socket } = await withSessionAndSocket({ maxAge: ms.m(), socketTouch: 1000 });
    const started = Date.now();
    while (Date.now() - started < 80_000) {
      await ask(socket, "whoami");
      await sleep(4000);
    }
    // A plain koa-session session would be long gone by now.
    expect(Date.now() - started).toBeGreaterThan(ms.m() + 10_000);
    expect(await ask(socket, "session:get")).toEqual({ sessionId, session: { count: 1 } });

    // The browser dropped its expired session cookie; the client cookie still names the client.
    const browser = jar.clone();
    browser.delete("test.sid");
    const res = await server.get("/session", browser);
    expect(res.body).toEqual({ clientId: jar.get("test.sid.cid"), sessionId, session: { count: 1 } });
    expect(browser.get("test.sid")).toBe(sessionId);
    expect(store.get(sessionId)!.expiresAt).toBeGreaterThan(Date.now() + 30_000);
  }, 120_000);
});
