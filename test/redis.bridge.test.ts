import { type Cluster, Redis } from "ioredis";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { ms, type StoreState } from "../src/index.js";
import { RedisStore } from "../src/redis.js";
import { deleteKeys, subscribed, testPrefix, waitUntil } from "./helpers/redis.js";
import { stopTestCluster } from "./helpers/redisCluster.js";
import { adminOf, BRIDGE_FAMILIES, testTopologies } from "./helpers/redisTopologies.js";
import { type FamilyClient, openClient } from "./helpers/redisFlavors.js";
import { closeAll, CookieJar, startServer, type TestServer } from "./helpers/server.js";
import { recordEvents } from "./helpers/storeFixtures.js";

const topologies = await testTopologies();
afterAll(stopTestCluster);
const families = BRIDGE_FAMILIES;

// Two bridges in one process, each with its own client and RedisStore on one
// prefix: the change feed treats them as two nodes (the cross-process test
// with real child processes is test/redis.cluster.test.ts).
for (const topology of topologies) for (const family of families) describe(`bridges sharing a RedisStore prefix (${family}, ${topology.kind})`, () => {
  let prefix: string;
  let users: FamilyClient[];
  /** Raw key access for the tests, and a listener on the change channel. */
  let clients: (Redis | Cluster)[];
  const messages: string[] = [];
  let a: TestServer;
  let b: TestServer;

  beforeEach(async () => {
    prefix = testPrefix();
    users = [await openClient(family, topology), await openClient(family, topology)];
    clients = [adminOf(topology), adminOf(topology)];
    clients[1]!.on("message", (_channel: string, text: string) => messages.push(text));
    await clients[1]!.subscribe(`${prefix}changes`);
    a = await startServer({ store: new RedisStore({ client: users[0]!.client, prefix }), onSessionDestroy: "notify", rolling: true });
    b = await startServer({ store: new RedisStore({ client: users[1]!.client, prefix }), onSessionDestroy: "notify", rolling: true });
    await subscribed(clients[0]!, `${prefix}changes`, 3);
  });

  afterEach(async () => {
    await closeAll();
    await deleteKeys(clients[0]!, prefix);
    for (const client of clients) client.disconnect();
    for (const user of users) await user.close();
  });

  /** A session created over HTTP on A and mapped on B through a socket. */
  async function shared() {
    const jar = new CookieJar();
    await a.get("/inc", jar);
    const sessionId = jar.get("test.sid")!;
    // Once this listener has A's announcement, B has it too: B's socket then attaches after it.
    await waitUntil(() => messages.some((text) => text.includes(sessionId)), 10_000, "A's announcement");
    const clientId = jar.get("test.sid.cid")!;
    const socket = await b.connect(jar);
    expect(await socket.emitWithAck("whoami")).toEqual({ clientId, sessionId });
    return { jar, clientId, sessionId, socket };
  }

  it("a change written on A emits sessionSet { isNew: false, isInit: false } on B; a rolling TTL refresh emits nothing", async () => {
    const { jar, clientId, sessionId } = await shared();
    const events = recordEvents(b.bridge);
    await a.get("/inc", jar);
    await waitUntil(() => events.set.length === 1);
    expect(events.set).toEqual([{ clientId, sessionId, isNew: false, isInit: false }]);
    // rolling: a request that changes nothing rewrites the record for its TTL only.
    const key = `${prefix}{${sessionId}}`;
    await new Promise((resolve) => setTimeout(resolve, 30));
    const before = await clients[0]!.pttl(key);
    await a.get("/session", jar);
    expect(await clients[0]!.pttl(key)).toBeGreaterThan(before);
    await a.get("/inc", jar);
    expect(JSON.parse((await clients[0]!.get(key))!)).toMatchObject({ session: expect.stringContaining('"count":3') });
    // Changes arrive in order: once B has the destroy, it has everything A published before it.
    await a.bridge.destroyById(sessionId);
    await waitUntil(() => events.destroy.length === 1);
    expect(events.set).toEqual([
      { clientId, sessionId, isNew: false, isInit: false },
      { clientId, sessionId, isNew: false, isInit: false },
    ]);
    expect(events.destroy).toEqual([{ clientId, sessionId }]);
  });

  it("destroyById on A detaches the pair on B and notifies B's socket", async () => {
    const { clientId, sessionId, socket } = await shared();
    const events = recordEvents(b.bridge);
    const notice = new Promise((resolve) => socket.once("session:destroyed", resolve));
    expect(await a.bridge.destroyById(sessionId)).toBe(true);
    expect(await notice).toEqual({ sessionId });
    expect(events.destroy).toEqual([{ clientId, sessionId }]);
    expect(b.bridge.getSessionId(clientId)).toBeUndefined();
    expect(b.bridge.getClientId(sessionId)).toBeUndefined();
  });

  it("a socket logout on B detaches the pair on A", async () => {
    const { clientId, sessionId, socket } = await shared();
    const events = recordEvents(a.bridge);
    expect(await socket.emitWithAck("session:logout")).toBe(true);
    await waitUntil(() => events.destroy.length === 1);
    expect(events.destroy).toEqual([{ clientId, sessionId }]);
    expect(a.bridge.getSessionId(clientId)).toBeUndefined();
  });

  it("a cleanup on A that removes an expired session detaches it on B", async () => {
    const { clientId, sessionId, socket } = await shared();
    // Expired by the bridge's clock while Redis still keeps the key.
    const stored = JSON.parse((await clients[0]!.get(`${prefix}{${sessionId}}`))!) as StoreState;
    await clients[0]!.set(`${prefix}{${sessionId}}`, JSON.stringify({ ...stored, expiresAt: Date.now() - 1000 }), "PX", 60_000);
    const events = recordEvents(b.bridge);
    const notice = new Promise((resolve) => socket.once("session:destroyed", resolve));
    expect(await a.bridge.cleanup()).toBe(1);
    expect(await notice).toEqual({ sessionId });
    expect(events.destroy).toEqual([{ clientId, sessionId }]);
  });

  it("a session Redis dropped by itself is detached on the next read, without a keyspace notification", async () => {
    const { clientId, sessionId, socket } = await shared();
    await clients[0]!.del(`${prefix}{${sessionId}}`); // as an expiry would, unannounced
    const events = recordEvents(b.bridge);
    expect(await socket.emitWithAck("session:get")).toEqual({ missing: true });
    expect(events.destroy).toEqual([{ clientId, sessionId }]);
    expect(b.bridge.getSessionId(clientId)).toBeUndefined();
  });

  it("a withSession call is acknowledged only once its write is in Redis, though the calls of a batch write together", async () => {
    const { jar, sessionId, socket } = await shared();
    const sockets = [socket, await b.connect(jar), await b.connect(jar), await a.connect(jar)];
    const stored = async (): Promise<number> => JSON.parse(JSON.parse((await clients[0]!.get(`${prefix}{${sessionId}}`))!).session).count;
    const seen: [number, number][] = [];
    await Promise.all(sockets.map(async (s) => {
      for (let i = 0; i < 10; i++) {
        const count = (await s.emitWithAck("session:inc")) as number;
        seen.push([count, await stored()]);
      }
    }));
    for (const [count, inRedis] of seen) expect(inRedis).toBeGreaterThanOrEqual(count);
    expect(seen.map(([count]) => count).sort((x, y) => x - y)).toEqual(Array.from({ length: 40 }, (_, i) => i + 2));
    for (const s of sockets) s.disconnect();
  });

  it("HTTP requests for one client on both bridges keep one session", async () => {
    const { jar, clientId, sessionId } = await shared();
    for (let i = 0; i < 4; i++) await (i % 2 ? a : b).get("/inc", jar);
    expect((await b.get("/session", jar)).body).toEqual({ clientId, sessionId, session: { count: 5 } });
    expect(a.bridge.getSessionId(clientId)).toBe(sessionId);
    expect(b.bridge.getSessionId(clientId)).toBe(sessionId);
  });
});
