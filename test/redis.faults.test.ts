import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { RedisStore } from "../src/redis.js";
import { redisAvailable, redisClient, subscribed, testPrefix, waitUntil } from "./helpers/redis.js";
import { type OwnRedis, sparePort, startOwnRedis, stopOwnRedis } from "./helpers/redisServer.js";
import { openClient } from "./helpers/redisFlavors.js";
import { closeAll, CookieJar, startServer, type TestServer } from "./helpers/server.js";
import { recordEvents } from "./helpers/storeFixtures.js";

const available = await redisAvailable();

const opened: Redis[] = [];
function clientOf(url: string): Redis {
  const client = redisClient(url);
  opened.push(client);
  return client;
}

/** Keeps Koa from printing the 500s these tests provoke. */
const quiet = ({ app }: { app: { silent?: boolean } }): void => {
  app.silent = true;
};

afterEach(async () => {
  await closeAll();
  for (const client of opened.splice(0)) client.disconnect();
});

describe("a Redis that does not answer", () => {
  it("fails the first store call with an error that names the operation", async () => {
    const store = new RedisStore({ client: clientOf(`redis://127.0.0.1:${await sparePort()}`) });
    await expect(store.get("abc")).rejects.toThrow(/^\[koa-io-session\] RedisStore could not read session "abc": /);
    await expect(store.set("abc", { session: "{}", expiresAt: Date.now() + 60_000, ttl: 60_000 })).rejects.toThrow(
      /^\[koa-io-session\] RedisStore could not write session "abc": /,
    );
    await expect(store.destroy("abc")).rejects.toThrow(/^\[koa-io-session\] RedisStore could not destroy session "abc": /);
    await expect(store.list()).rejects.toThrow(/^\[koa-io-session\] RedisStore could not list sessions: /);
    await expect(store.withLock("abc", async () => 1)).rejects.toThrow(/^\[koa-io-session\] RedisStore could not lock session "abc": /);
    const error = await store.get("abc").catch((e: Error) => e);
    expect((error as Error & { cause?: Error }).cause).toBeInstanceOf(Error);
    await store.close();
  });

  it("fails the HTTP request that needs the store and maps nothing", async () => {
    const store = new RedisStore({ client: clientOf(`redis://127.0.0.1:${await sparePort()}`) });
    const server = await startServer({ store }, quiet);
    const jar = new CookieJar();
    const res = await server.get("/inc", jar);
    expect(res.status).toBe(500);
    expect(server.bridge.getSessionId(jar.get("test.sid.cid")!)).toBeUndefined();
  });
});

// A redis-server of the test's own, stopped and started again.
describe.skipIf(!available)("a Redis restarted mid-run", () => {
  let redis: OwnRedis;

  beforeAll(async () => {
    redis = await startOwnRedis();
  }, 30_000);

  afterAll(stopOwnRedis);

  async function twoBridges(prefix: string): Promise<{ a: TestServer; b: TestServer; admin: Redis }> {
    const admin = clientOf(redis.url);
    const a = await startServer({ store: new RedisStore({ client: clientOf(redis.url), prefix }), onSessionDestroy: "notify" }, quiet);
    const b = await startServer({ store: new RedisStore({ client: clientOf(redis.url), prefix }), onSessionDestroy: "notify" });
    await subscribed(admin, `${prefix}changes`, 2);
    return { a, b, admin };
  }

  it("fails calls during the outage, succeeds after, resumes the change feed and detaches the sessions Redis lost", async () => {
    const prefix = testPrefix();
    const { a, b, admin } = await twoBridges(prefix);
    const jar = new CookieJar();
    await a.get("/inc", jar);
    const lost = jar.get("test.sid")!;
    const clientId = jar.get("test.sid.cid")!;
    const socket = await b.connect(jar);
    expect(await socket.emitWithAck("whoami")).toEqual({ clientId, sessionId: lost });
    const eventsA = recordEvents(a.bridge);
    const eventsB = recordEvents(b.bridge);
    const notice = new Promise((resolve) => socket.once("session:destroyed", resolve));

    await redis.stop();
    expect((await a.get("/inc", jar)).status).toBe(500);
    await expect(a.bridge.getById(lost)).rejects.toThrow(/^\[koa-io-session\] RedisStore could not read session/);
    await expect(b.bridge.setById(lost, { count: 9 })).rejects.toThrow(/^\[koa-io-session\] RedisStore could not lock session/);
    await expect(b.bridge.destroyById(lost)).rejects.toThrow("[koa-io-session] RedisStore");
    // Failed calls change no map.
    expect(a.bridge.getSessionId(clientId)).toBe(lost);
    expect(b.bridge.getSessionId(clientId)).toBe(lost);
    expect(eventsA.destroy).toEqual([]);

    await redis.start(); // empty: no persistence
    // Both feeds come back and re-check their maps: the lost session is detached everywhere.
    await waitUntil(() => eventsA.destroy.length === 1 && eventsB.destroy.length === 1, 15_000, "both bridges to detach");
    expect(eventsA.destroy).toEqual([{ clientId, sessionId: lost }]);
    expect(eventsB.destroy).toEqual([{ clientId, sessionId: lost }]);
    expect(await notice).toEqual({ sessionId: lost });
    expect(a.bridge.getClientId(lost)).toBeUndefined();
    expect(b.bridge.getClientId(lost)).toBeUndefined();
    await subscribed(admin, `${prefix}changes`, 2);

    const res = await a.get("/inc", jar);
    expect(res.status).toBe(200);
    expect(res.body.session).toEqual({ count: 1 });
    const fresh = jar.get("test.sid")!;
    expect(fresh).not.toBe(lost);
    // B hears of the new session over the resumed feed and moves its socket there.
    await waitUntil(() => b.bridge.getSessionId(clientId) === fresh);
    expect(await socket.emitWithAck("whoami")).toEqual({ clientId, sessionId: fresh });
    expect(await socket.emitWithAck("session:inc")).toBe(2);
    expect(a.bridge.getSessionId(clientId)).toBe(fresh);
  }, 40_000);

  it("keeps the sessions Redis still holds when only the subscriber connection dropped", async () => {
    const prefix = testPrefix();
    const { a, b, admin } = await twoBridges(prefix);
    const jar = new CookieJar();
    await a.get("/inc", jar);
    const sessionId = jar.get("test.sid")!;
    const clientId = jar.get("test.sid.cid")!;
    await b.get("/session", jar);
    expect(b.bridge.getSessionId(clientId)).toBe(sessionId);
    const eventsB = recordEvents(b.bridge);
    await admin.client("KILL", "TYPE", "pubsub");
    await subscribed(admin, `${prefix}changes`, 2);
    await a.get("/inc", jar);
    await waitUntil(() => eventsB.set.length === 1);
    expect(eventsB.set).toEqual([{ clientId, sessionId, isNew: false, isInit: false }]);
    expect(eventsB.destroy).toEqual([]);
    expect(b.bridge.getSessionId(clientId)).toBe(sessionId);
  }, 20_000);
});

describe.skipIf(!available)("Redis expiry", () => {
  let notifying: OwnRedis;

  beforeAll(async () => {
    notifying = await startOwnRedis(["--notify-keyspace-events", "Ex"]);
  }, 30_000);

  afterAll(stopOwnRedis);

  it("reports a key Redis expired at once when keyspace notifications are on", async () => {
    const prefix = testPrefix();
    const client = clientOf(notifying.url);
    const server = await startServer({ store: new RedisStore({ client, prefix }), onSessionDestroy: "notify" });
    await subscribed(client, `${prefix}changes`, 1);
    const jar = new CookieJar();
    await server.get("/inc", jar);
    const sessionId = jar.get("test.sid")!;
    const clientId = jar.get("test.sid.cid")!;
    const socket = await server.connect(jar);
    const notice = new Promise((resolve) => socket.once("session:destroyed", resolve));
    const events = recordEvents(server.bridge);
    // Another app's key on the same Redis expires too, and is none of the bridge's business.
    await client.set(`other:${sessionId}`, "x", "PX", 20);
    await client.pexpire(`${prefix}{${sessionId}}`, 20);
    expect(await notice).toEqual({ sessionId });
    expect(events.destroy).toEqual([{ clientId, sessionId }]);
    expect(server.bridge.getSessionId(clientId)).toBeUndefined();
  });

  it("does not listen for expiry with expiryEvents: false; the next read notices instead", async () => {
    const prefix = testPrefix();
    const client = clientOf(notifying.url);
    const server = await startServer({ store: new RedisStore({ client, prefix, expiryEvents: false }) });
    await subscribed(client, `${prefix}changes`, 1);
    await subscribed(client, "__keyevent@0__:expired", 0);
    const jar = new CookieJar();
    await server.get("/inc", jar);
    const sessionId = jar.get("test.sid")!;
    const clientId = jar.get("test.sid.cid")!;
    const events = recordEvents(server.bridge);
    await client.pexpire(`${prefix}{${sessionId}}`, 1);
    await waitUntil(async () => (await client.exists(`${prefix}{${sessionId}}`)) === 0);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(events.destroy).toEqual([]);
    expect(server.bridge.getSessionId(clientId)).toBe(sessionId);
    expect(await server.bridge.getById(sessionId)).toBeUndefined();
    expect(events.destroy).toEqual([{ clientId, sessionId }]);
    expect(server.bridge.getSessionId(clientId)).toBeUndefined();
  });
});

describe.skipIf(!available)("RedisStore when Redis goes away", () => {
  afterAll(stopOwnRedis);

  const state = () => ({ session: "{}", expiresAt: Date.now() + 60_000, ttl: 60_000 });

  it("close() resolves while Redis is unreachable and reports the announcement it could not send", async () => {
    const redis = await startOwnRedis();
    // ioredis' defaults: commands wait for a reconnect forever, as a new user's client would.
    const client = new Redis(redis.url);
    client.on("error", () => {});
    opened.push(client);
    const errors: Error[] = [];
    const store = new RedisStore({ client, onError: (error) => errors.push(error) });
    store.subscribe(() => {});
    expect(await store.set("s1", state())).toBe(true);
    // Killed before the announcement goes out (it waits for the end of this event-loop turn).
    await redis.stop();
    await store.close();
    expect(errors.map((e) => e.message)).toEqual([
      "[koa-io-session] RedisStore closed while Redis did not answer: 1 announcement(s) of session changes did not reach Redis.",
    ]);
  }, 15_000);

  it("retries a lock release that failed while Redis was down once it is back, so the lock does not wait for its TTL", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kis-aof-"));
    const redis = await startOwnRedis(["--appendonly", "yes", "--appendfsync", "always", "--dir", dir]);
    try {
      const client = clientOf(redis.url);
      const errors: Error[] = [];
      const store = new RedisStore({ client, lockTtlMs: 60_000, onError: (error) => errors.push(error) });
      const admin = clientOf(redis.url);
      await store.withLock("s", async () => {
        expect(await admin.exists(store.lockKeyOf("s"))).toBe(1);
        await redis.stop();
      });
      await redis.start(); // the append-only file brings the lock key back, with most of its 60 s TTL
      await waitUntil(async () => (await admin.exists(store.lockKeyOf("s")).catch(() => 1)) === 0, 10_000, "the retried release");
      const other = new RedisStore({ client: admin, lockWaitMs: 100 });
      expect(await other.withLock("s", async () => "free")).toBe("free");
      await store.close();
      expect(errors.filter((e) => e.message.includes("lock"))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);

  for (const family of ["ioredis5", "redis5"] as const) {
    it(`${family}: fails calls with the documented error while Redis is unreachable at start, then recovers by itself`, async () => {
      const redis = await startOwnRedis();
      await redis.stop();
      const user = await openClient(family, { kind: "standalone", urls: [redis.url] });
      try {
        const store = new RedisStore({ client: user.client });
        await expect(store.get("abc")).rejects.toThrow(/^\[koa-io-session\] RedisStore could not read session "abc": /);
        await expect(store.set("abc", state())).rejects.toThrow(/^\[koa-io-session\] RedisStore could not write session "abc": /);
        await redis.start();
        await waitUntil(() => store.set("abc", state()).then(() => true, () => false), 15_000, "a write after Redis started");
        expect(await store.get("abc")).toEqual(expect.objectContaining({ session: "{}" }));
        await store.close();
      } finally {
        await user.close();
      }
    }, 30_000);
  }
});
