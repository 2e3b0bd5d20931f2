import type { Socket as ClientSocket } from "socket.io-client";
import { type Cluster, Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CookieJar } from "./helpers/cookieJar.js";
import { deleteKeys, subscribed, testPrefix, waitUntil } from "./helpers/redis.js";
import { stopTestCluster } from "./helpers/redisCluster.js";
import { adminOf, BRIDGE_FAMILIES, testTopologies } from "./helpers/redisTopologies.js";
import { type RedisNode, startRedisNode, stopRedisNodes } from "./helpers/redisNodes.js";

const topologies = await testTopologies();
afterAll(stopTestCluster);
const families = BRIDGE_FAMILIES;
const OPTIONS = { userKey: "user", serializeRequests: true, onSessionDestroy: "notify" };

/** Every `event` the socket receives from now on. */
function collect<T>(socket: ClientSocket, event: string): T[] {
  const seen: T[] = [];
  socket.on(event, (payload: T) => seen.push(payload));
  return seen;
}

// Real server processes (Koa + socket.io with @socket.io/redis-adapter + bridge
// with userKey and serializeRequests + RedisStore, from the built package) on one Redis.
for (const topology of topologies) for (const family of families) describe(`log out everywhere and serialized requests across processes (${family}, ${topology.kind})`, () => {
  const prefix = testPrefix();
  const target = { client: family, topology };
  let a: RedisNode;
  let b: RedisNode;
  let admin: Redis | Cluster;
  /** The change channel's messages as the nodes receive them. */
  let listener: Redis | Cluster;
  const messages: string[] = [];

  beforeAll(async () => {
    admin = adminOf(topology);
    listener = adminOf(topology);
    listener.on("message", (_channel: string, text: string) => messages.push(text));
    await listener.subscribe(`${prefix}changes`);
    [a, b] = await Promise.all([startRedisNode(prefix, OPTIONS, target), startRedisNode(prefix, OPTIONS, target)]);
    await subscribed(admin, `${prefix}changes`, 3);
  }, 60_000);

  afterAll(async () => {
    listener.disconnect();
    await stopRedisNodes();
    await deleteKeys(admin, prefix);
    await admin.quit();
  });

  /** A session signed in as `user` by an HTTP request on `node`, once every process has heard of it. */
  async function signIn(node: RedisNode, user: string): Promise<{ jar: CookieJar; clientId: string; sessionId: string }> {
    const jar = new CookieJar();
    const res = await node.get(`/signin?user=${user}`, jar);
    expect(res.status).toBe(200);
    const sessionId = jar.get("test.sid")!;
    await waitUntil(() => messages.some((text) => text.includes(sessionId)), 10_000, "the new session's announcement");
    return { jar, clientId: res.body.clientId, sessionId };
  }

  it("node A lists and ends a user's sessions made on node B; B's sockets get the destroy policy; a fresh node C reads the index", async () => {
    const ann1 = await signIn(b, "ann");
    const ann2 = await signIn(b, "ann");
    const ann3 = await signIn(a, "ann");
    const bob = await signIn(b, "bob");
    const sockets = await Promise.all([ann1, ann2, bob].map(({ jar }) => b.connect(jar)));
    for (const [i, s] of [ann1, ann2, bob].entries()) expect((await sockets[i]!.emitWithAck("whoami")).sessionId).toBe(s.sessionId);
    const notices = sockets.map((socket) => collect<{ sessionId: string }>(socket, "session:destroyed"));

    const anns = [ann1, ann2, ann3].map((s) => s.sessionId).sort();
    expect((await a.get("/sessions-of?user=ann", new CookieJar())).body).toEqual({ sessionIds: anns });
    // The index lives in Redis: one sorted set per user, hash-tagged by user.
    expect(((await admin.zrange(`${prefix}user:{ann}`, 0, -1)) as string[]).sort()).toEqual(anns);
    expect(await admin.zrange(`${prefix}user:{bob}`, 0, -1)).toEqual([bob.sessionId]);

    const c = await startRedisNode(prefix, OPTIONS, target);
    expect((await c.get("/sessions-of?user=ann", new CookieJar())).body).toEqual({ sessionIds: anns });
    expect((await c.get("/sessions-of?user=bob", new CookieJar())).body).toEqual({ sessionIds: [bob.sessionId] });

    expect((await a.get(`/destroy-user?user=ann&except=${ann3.sessionId}`, new CookieJar())).body).toEqual({ count: 2 });
    for (const s of [ann1, ann2]) {
      const destroyed = await b.waitForEvent((e) => e.sessionId === s.sessionId && e.name === "sessionDestroy");
      expect(destroyed).toEqual({ name: "sessionDestroy", clientId: s.clientId, sessionId: s.sessionId });
    }
    // Each socket's next ack comes after its notice (one connection, in order).
    for (const socket of sockets) await socket.emitWithAck("whoami");
    expect(notices).toEqual([[{ sessionId: ann1.sessionId }], [{ sessionId: ann2.sessionId }], []]);
    expect(await sockets[0]!.emitWithAck("session:get")).toEqual({ missing: true });
    expect(await sockets[2]!.emitWithAck("session:get")).toEqual({ sessionId: bob.sessionId, session: { user: "bob" } });
    expect(b.events.filter((e) => e.name === "sessionDestroy" && [ann1, ann2, ann3, bob].some((s) => s.sessionId === e.sessionId))).toHaveLength(2);

    for (const node of [a, b, c]) expect((await node.get("/sessions-of?user=ann", new CookieJar())).body).toEqual({ sessionIds: [ann3.sessionId] });
    expect((await c.get("/sessions-of?user=bob", new CookieJar())).body).toEqual({ sessionIds: [bob.sessionId] });
    expect(await admin.zrange(`${prefix}user:{ann}`, 0, -1)).toEqual([ann3.sessionId]);
    // The ended sessions are gone for their browsers too; the kept one is not.
    expect((await b.get("/session", ann1.jar)).body.session).toEqual({});
    expect((await a.get("/session", ann3.jar)).body).toMatchObject({ sessionId: ann3.sessionId, session: { user: "ann" } });
    await c.stop();
  }, 60_000);

  it("serializeRequests across two processes: 100 slow HTTP increments on A and 100 socket increments on B end exact", async () => {
    const jar = new CookieJar();
    expect((await a.get("/inc", jar)).body.session).toEqual({ count: 1 });
    const sessionId = jar.get("test.sid")!;
    await waitUntil(() => messages.some((text) => text.includes(sessionId)), 10_000, "the new session's announcement");
    const socket = await b.connect(jar);
    expect((await socket.emitWithAck("whoami")).sessionId).toBe(sessionId);
    const acks = await Promise.all([
      ...Array.from({ length: 100 }, () => a.get("/slowinc", jar.clone()).then((res) => res.status)),
      ...Array.from({ length: 100 }, () => socket.emitWithAck("session:inc")),
    ]);
    expect(acks.slice(0, 100)).toEqual(Array.from({ length: 100 }, () => 200));
    // Each socket increment answers the count it wrote: all different.
    expect(new Set(acks.slice(100)).size).toBe(100);
    expect((await a.get("/session", jar)).body).toMatchObject({ sessionId, session: { count: 201 } });
    expect(await socket.emitWithAck("session:get")).toEqual({ sessionId, session: { count: 201 } });
  }, 120_000);
});
