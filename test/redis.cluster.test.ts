import type { Socket as ClientSocket } from "socket.io-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CookieJar } from "./helpers/cookieJar.js";
import { Redis, type Cluster } from "ioredis";
import { deleteKeys, subscribed, testPrefix, waitUntil } from "./helpers/redis.js";
import { stopTestCluster } from "./helpers/redisCluster.js";
import { adminOf, BRIDGE_FAMILIES, testTopologies } from "./helpers/redisTopologies.js";
import { type RedisNode, startRedisNode, stopRedisNodes } from "./helpers/redisNodes.js";

const topologies = await testTopologies();
afterAll(stopTestCluster);
const families = BRIDGE_FAMILIES;

/** Resolves every `event` the socket receives from now on, by reference. */
function collect<T>(socket: ClientSocket, event: string): T[] {
  const seen: T[] = [];
  socket.on(event, (payload: T) => seen.push(payload));
  return seen;
}

function nextOf<T>(socket: ClientSocket, event: string): Promise<T> {
  return new Promise((resolve) => socket.once(event, resolve));
}

// Two real server processes (Koa + socket.io with @socket.io/redis-adapter +
// bridge + RedisStore, from the built package) sharing one Redis.
for (const topology of topologies) for (const family of families) describe(`two processes on one Redis (${family}, ${topology.kind})`, () => {
  const prefix = testPrefix();
  let a: RedisNode;
  let b: RedisNode;
  /** The change channel's messages as the nodes receive them. */
  let listener: Redis | Cluster;
  const messages: string[] = [];

  beforeAll(async () => {
    listener = adminOf(topology);
    listener.on("message", (_channel: string, text: string) => messages.push(text));
    await listener.subscribe(`${prefix}changes`);
    const target = { client: family, topology };
    [a, b] = await Promise.all([startRedisNode(prefix, {}, target), startRedisNode(prefix, {}, target)]);
    // Both change feeds are live before the first write.
    const client = adminOf(topology);
    await subscribed(client, `${prefix}changes`, 3);
    await client.quit();
  }, 60_000);

  afterAll(async () => {
    listener.disconnect();
    await stopRedisNodes();
    const client = adminOf(topology);
    await deleteKeys(client, prefix);
    await client.quit();
  });

  async function sessionOnA(): Promise<{ jar: CookieJar; clientId: string; sessionId: string }> {
    const jar = new CookieJar();
    const res = await a.get("/inc", jar);
    expect(res.status).toBe(200);
    // The body is written before koa-session commits: the new id is in the cookie.
    const sessionId = jar.get("test.sid")!;
    // B hears of the new session at the latest when this listener does (Redis sends to all subscribers
    // at once): before it, a socket on B could attach first and then hear the creation as a change.
    await waitUntil(() => messages.some((text) => text.includes(sessionId)), 10_000, "A's announcement");
    return { jar, clientId: res.body.clientId, sessionId };
  }

  it("a socket on B reads and edits the session an HTTP request created on A", async () => {
    const { jar, clientId, sessionId } = await sessionOnA();
    const socket = await b.connect(jar);
    expect(await socket.emitWithAck("whoami")).toEqual({ clientId, sessionId });
    expect(await socket.emitWithAck("session:get")).toEqual({ sessionId, session: { count: 1 } });
    expect(b.events.filter((e) => e.sessionId === sessionId)).toEqual([
      { name: "sessionSet", clientId, sessionId, isNew: false, isInit: true },
    ]);
    expect(await socket.emitWithAck("session:inc")).toBe(2);
    expect((await a.get("/session", jar)).body).toEqual({ clientId, sessionId, session: { count: 2 } });
    // A maps the pair and hears B's write as a change of its own session.
    await a.waitForEvent((e) => e.sessionId === sessionId && e.name === "sessionSet" && e.isInit === false && e.isNew === false);
  });

  it("a socket already on B follows the session its client then creates on A", async () => {
    const jar = new CookieJar();
    await a.get("/session", jar); // the client cookie only: /session saves nothing
    const socket = await b.connect(jar, ["polling"]);
    const before = await socket.emitWithAck("whoami");
    expect(before.sessionId).toBeNull();
    const res = await a.get("/inc", jar);
    const { clientId } = res.body;
    const sessionId = jar.get("test.sid")!;
    expect(before.clientId).toBe(clientId);
    const attached = await b.waitForEvent((e) => e.sessionId === sessionId);
    expect(attached).toEqual({ name: "sessionSet", clientId, sessionId, isNew: true, isInit: true });
    expect(await socket.emitWithAck("whoami")).toEqual({ clientId, sessionId });
    expect(await socket.emitWithAck("session:inc")).toBe(2);
  });

  it("a logout on A fires sessionDestroy on B and B's socket receives the destroy notice", async () => {
    const { jar, clientId, sessionId } = await sessionOnA();
    const socket = await b.connect(jar);
    expect((await socket.emitWithAck("whoami")).sessionId).toBe(sessionId);
    const notice = nextOf<{ sessionId: string }>(socket, "session:destroyed");
    expect((await a.get("/logout", jar)).status).toBe(200);
    const destroyed = await b.waitForEvent((e) => e.sessionId === sessionId && e.name === "sessionDestroy");
    expect(destroyed).toEqual({ name: "sessionDestroy", clientId, sessionId });
    expect(await notice).toEqual({ sessionId });
    expect(await socket.emitWithAck("whoami")).toEqual({ clientId, sessionId: null });
    expect(await socket.emitWithAck("session:get")).toEqual({ missing: true });
    expect((await b.get(`/map?clientId=${clientId}`, new CookieJar())).body).toEqual({ sessionId: null });
    expect(b.events.filter((e) => e.sessionId === sessionId && e.name === "sessionDestroy")).toHaveLength(1);
  });

  it("a login on A moves B's sockets to the new session without a destroy notice", async () => {
    const { jar, clientId, sessionId: before } = await sessionOnA();
    const socket = await b.connect(jar);
    expect((await socket.emitWithAck("whoami")).sessionId).toBe(before);
    const notices = collect(socket, "session:destroyed");
    await a.get("/login?user=ada", jar);
    const after = jar.get("test.sid")!;
    expect(after).not.toBe(before);
    await b.waitForEvent((e) => e.sessionId === after && e.name === "sessionSet");
    expect(await socket.emitWithAck("whoami")).toEqual({ clientId, sessionId: after });
    // A later change goes out after the old id's destroy: once B has it, B has seen everything before.
    await a.get("/inc", jar);
    await b.waitForEvent((e) => e.sessionId === after && e.name === "sessionSet" && e.isInit === false);
    await socket.emitWithAck("whoami");
    expect(notices).toEqual([]);
    expect(b.events.filter((e) => e.clientId === clientId)).toEqual([
      { name: "sessionSet", clientId, sessionId: before, isNew: false, isInit: true },
      { name: "sessionDestroy", clientId, sessionId: before },
      { name: "sessionSet", clientId, sessionId: after, isNew: true, isInit: true },
      { name: "sessionSet", clientId, sessionId: after, isNew: false, isInit: false },
    ]);
    expect(await socket.emitWithAck("session:get")).toEqual({ sessionId: after, session: { count: 2, user: "ada" } });
  });

  it("io.to(room of a session) on A reaches that session's socket on B, and only it", async () => {
    const { jar, sessionId } = await sessionOnA();
    const other = await sessionOnA();
    const socket = await b.connect(jar);
    const stranger = await b.connect(other.jar);
    expect((await socket.emitWithAck("whoami")).sessionId).toBe(sessionId);
    expect((await stranger.emitWithAck("whoami")).sessionId).toBe(other.sessionId);
    const strangerGot = collect(stranger, "hello");
    const got = nextOf<string>(socket, "hello");
    await a.get(`/emit?room=${sessionId}&event=hello&data=from-a`, new CookieJar());
    expect(await got).toBe("from-a");
    await stranger.emitWithAck("whoami");
    expect(strangerGot).toEqual([]);
  });

  it("500 concurrent withSession increments split across both processes end at exactly 500", async () => {
    const { jar, sessionId } = await sessionOnA(); // count 1
    const sockets = await Promise.all([a.connect(jar), a.connect(jar), b.connect(jar), b.connect(jar)]);
    for (const socket of sockets) expect((await socket.emitWithAck("whoami")).sessionId).toBe(sessionId);
    const acks = await Promise.all(
      Array.from({ length: 500 }, (_, i) => sockets[i % sockets.length]!.timeout(60_000).emitWithAck("session:inc")),
    );
    // Each call saw the previous one's write: the counts are exactly 2 … 501, each once.
    expect([...acks].sort((x, y) => x - y)).toEqual(Array.from({ length: 500 }, (_, i) => i + 2));
    expect((await a.get("/session", jar)).body.session).toEqual({ count: 501 });
  }, 60_000);

  it("4 sockets on each process calling withSession one after another: each sees its own calls in order, none lost", async () => {
    const { jar, sessionId } = await sessionOnA(); // count 1
    const sockets = await Promise.all([...Array.from({ length: 4 }, () => a.connect(jar)), ...Array.from({ length: 4 }, () => b.connect(jar))]);
    for (const socket of sockets) expect((await socket.emitWithAck("whoami")).sessionId).toBe(sessionId);
    // One call in flight per socket: calls queue up on each process and run in batches under one lock.
    const seen = await Promise.all(
      sockets.map(async (socket) => {
        const counts: number[] = [];
        for (let i = 0; i < 40; i++) counts.push(await socket.timeout(60_000).emitWithAck("session:inc"));
        return counts;
      }),
    );
    for (const counts of seen) expect(counts).toEqual([...counts].sort((x, y) => x - y));
    expect(seen.flat().sort((x, y) => x - y)).toEqual(Array.from({ length: 320 }, (_, i) => i + 2));
    expect((await b.get("/session", jar)).body.session).toEqual({ count: 321 });
  }, 60_000);
});
