import type { Cluster } from "ioredis";
import type Koa from "koa";
import type { Server } from "socket.io";
import type { Socket as ClientSocket } from "socket.io-client";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SessionBridge } from "../src/index.js";
import { RedisStore } from "../src/redis.js";
import { subscribed, testPrefix, waitUntil } from "./helpers/redis.js";
import { clusterClient } from "./helpers/redisCluster.js";
import { type DurableCluster, hasRedisServer, startDurableCluster } from "./helpers/redisDurableCluster.js";
import { type FamilyClient, openClient, type RedisTopology } from "./helpers/redisFlavors.js";
import { BRIDGE_FAMILIES } from "./helpers/redisTopologies.js";
import { CookieJar, startServer, type TestServer } from "./helpers/server.js";
import { recordEvents } from "./helpers/storeFixtures.js";

// Ports of this file's own cluster (other cluster suites use 7301–7399).
const PORTS = [7401, 7402, 7403];
const enabled = process.env.REQUIRE_REDIS === "1" || hasRedisServer();
if (!enabled) console.warn("[redis cluster restart tests] SKIPPED: no redis-server (install it, or REQUIRE_REDIS=1 to fail instead).");

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** What one session's drivers saw: every increment tried, and the counts the acknowledged ones returned. */
interface Tally {
  attempted: number;
  acked: number[];
  failures: string[];
  ackedAfterRestart: number;
}

interface Driven {
  sessionId: string;
  jar: CookieJar;
  /** The port of the master holding the session's slot. */
  port: number;
  socket: ClientSocket;
  /** The bridge the HTTP requests go to (the socket is on the other one). */
  http: TestServer;
  tally: Tally;
}

/** `withSession` increments over socket.io, and every failure the app reports. */
function counting(errors: string[]) {
  return ({ app, io, bridge }: { app: Koa; io: Server; bridge: SessionBridge }): void => {
    app.on("error", (error: Error) => errors.push(error.message));
    bridge.on("error", (error: Error) => errors.push(error.message));
    io.on("connection", (socket) => {
      socket.on("count:inc", async (ack: (reply: unknown) => void) => {
        try {
          ack({ count: await socket.withSession((s) => (s.session.count = (Number(s.session.count) || 0) + 1), { missing: true }) });
        } catch (error) {
          ack({ error: (error as Error).message });
        }
      });
    });
  };
}

/** The master port serving `key`'s slot. */
async function masterOf(admin: Cluster, key: string): Promise<number> {
  const slot = (await admin.cluster("KEYSLOT", key)) as number;
  const range = (await admin.cluster("SLOTS")).find(([from, to]) => slot >= from && slot <= to);
  if (!range?.[2]) throw new Error(`no master serves slot ${slot}`);
  return Number(range[2][1]);
}

/** The count stored in the session record `key`. */
async function storedCount(admin: Cluster, key: string): Promise<number> {
  const raw = await admin.get(key);
  if (raw === null) throw new Error(`${key} is gone from Redis`);
  return Number(JSON.parse(JSON.parse(raw).session).count);
}

// A cluster of this file's own whose masters persist with AOF (fsync always),
// so a master SIGKILLed and started again still holds every write it
// acknowledged; two bridges (Koa + socket.io on port 0, RedisStore over the
// user's cluster client) keep writing through the restart.
describe.skipIf(!enabled)("a cluster master restarted mid-run", () => {
  let cluster: DurableCluster;

  beforeAll(async () => {
    cluster = await startDurableCluster(PORTS);
  }, 40_000);

  afterAll(() => cluster?.stop());

  for (const [index, family] of BRIDGE_FAMILIES.entries()) {
    // Each client code path has the change channel's master (the first by host:port) restarted once, and another master once.
    const victim = PORTS[index % PORTS.length]!;

    it(`${family}: keeps every acknowledged write when master ${victim} restarts, recovers by itself, and its feeds are live again`, async () => {
      const prefix = testPrefix();
      const topology: RedisTopology = { kind: "cluster", urls: cluster.urls };
      // The test's own view of the cluster, opened after the previous test's restart.
      const admin = clusterClient(cluster.urls);
      const users: FamilyClient[] = [];
      const errors: string[] = [];
      const servers: TestServer[] = [];
      let driving = true;
      let restarted = false;
      const loops: Promise<void>[] = [];
      try {
        for (let i = 0; i < 2; i++) {
          const user = await openClient(family, topology);
          users.push(user);
          // A long lock TTL: a lock left behind by the restart would block its session past this test.
          const onError = (error: Error): void => void errors.push(error.message);
          const store = new RedisStore({ client: user.client, prefix, lockTtlMs: 60_000, lockWaitMs: 3000, onError });
          servers.push(await startServer({ store, serializeRequests: true }, counting(errors)));
        }
        const [a, b] = servers as [TestServer, TestServer];
        const keyOf = (sessionId: string): string => `${prefix}{${sessionId}}`;
        await subscribed(admin, `${prefix}changes`, 2);

        // Sessions created over HTTP until every master holds at least two.
        const driven: Driven[] = [];
        const perMaster = new Map<number, number>(PORTS.map((p) => [p, 0]));
        while ([...perMaster.values()].some((n) => n < 2)) {
          if (driven.length >= 40) throw new Error(`sessions do not spread over the masters: ${JSON.stringify([...perMaster])}`);
          const jar = new CookieJar();
          const res = await a.get("/inc", jar);
          expect(res.status).toBe(200);
          const sessionId = jar.get("test.sid")!;
          const port = await masterOf(admin, keyOf(sessionId));
          perMaster.set(port, perMaster.get(port)! + 1);
          const [socketOn, http] = driven.length % 2 === 0 ? [b, a] : [a, b];
          const socket = await socketOn.connect(jar);
          driven.push({ sessionId, jar, port, socket, http, tally: { attempted: 1, acked: [1], failures: [], ackedAfterRestart: 0 } });
        }

        const acknowledged = (d: Driven, count: unknown): void => {
          if (typeof count !== "number") return void d.tally.failures.push(`not a count: ${JSON.stringify(count)}`);
          d.tally.acked.push(count);
          if (restarted) d.tally.ackedAfterRestart++;
        };
        const viaSocket = async (d: Driven): Promise<void> => {
          while (driving) {
            d.tally.attempted++;
            const reply = (await d.socket.timeout(10_000).emitWithAck("count:inc").catch((e: Error) => ({ error: `no ack: ${e.message}` }))) as {
              count?: unknown;
              error?: string;
            };
            if ("error" in reply) d.tally.failures.push(reply.error!);
            else acknowledged(d, reply.count);
            await sleep(20);
          }
        };
        const viaHttp = async (d: Driven): Promise<void> => {
          while (driving) {
            d.tally.attempted++;
            const res = await request(d.http.http).get("/inc").set("Cookie", d.jar.header()).timeout(10_000).catch((e: Error) => e);
            if (res instanceof Error) d.tally.failures.push(`no response: ${res.message}`);
            else if (res.status !== 200) d.tally.failures.push(`HTTP ${res.status}`);
            else {
              d.jar.store(res.headers["set-cookie"]);
              // A failure must never hand the client another session.
              if (res.body.sessionId !== d.sessionId) d.tally.failures.push(`moved to session ${res.body.sessionId}`);
              acknowledged(d, res.body.session?.count);
            }
            await sleep(20);
          }
        };
        for (const d of driven) loops.push(viaSocket(d), viaHttp(d));

        await sleep(500);
        await cluster.kill(victim);
        await sleep(1500);
        await cluster.start(victim);
        restarted = true;
        // Every session's calls succeed again, on the same clients, bridges and sockets.
        await waitUntil(() => driven.every((d) => d.tally.ackedAfterRestart >= 3), 20_000, "acknowledged calls on every session after the restart").catch(
          (error: Error) => {
            const stuck = driven.filter((d) => d.tally.ackedAfterRestart < 3).map((d) => `${d.sessionId} on ${d.port}: ${d.tally.failures.at(-1)}`);
            throw new Error(`${error.message}; sessions without them: ${stuck.join("; ")}`);
          },
        );
        driving = false;
        await Promise.all(loops.splice(0));

        const onVictim = driven.filter((d) => d.port === victim);
        // The outage was real: calls on the stopped master's sessions failed, with the library's errors.
        expect(onVictim.some((d) => d.tally.failures.length > 0)).toBe(true);
        for (const d of driven) {
          for (const failure of d.tally.failures) expect(failure).toMatch(/^(\[koa-io-session\] |HTTP 5\d\d$)/);
        }
        for (const error of errors) expect(error).toMatch(/^\[koa-io-session\] /);
        for (const d of driven) {
          const stored = await storedCount(admin, keyOf(d.sessionId));
          const { attempted, acked } = d.tally;
          // Increments ran under the session's lock: each acknowledged one returned a count of its own ...
          expect(new Set(acked).size).toBe(acked.length);
          // ... and each is in Redis; unacknowledged ones may have landed too.
          expect(stored).toBeGreaterThanOrEqual(Math.max(acked.length, ...acked));
          expect(stored).toBeLessThanOrEqual(attempted);
        }
        // No lock was left behind (their TTL is 60 s).
        const locks = await Promise.all(driven.map((d) => admin.exists(`${keyOf(d.sessionId)}:lock`)));
        expect(locks.every((n) => n === 0)).toBe(true);

        // The feeds are live again: the change channel (both bridges subscribed) ...
        await subscribed(admin, `${prefix}changes`, 2);
        const eventsA = recordEvents(a.bridge);
        const eventsB = recordEvents(b.bridge);
        const changed = driven[0]!;
        expect((await a.get("/inc", changed.jar)).status).toBe(200);
        await waitUntil(() => eventsB.set.some((e) => e.sessionId === changed.sessionId && !e.isInit), 10_000, "B to hear A's change");
        // ... and the restarted master's expiry notifications, on both bridges.
        const expiring = onVictim[0]!;
        await admin.pexpire(keyOf(expiring.sessionId), 20);
        await waitUntil(
          () => [eventsA, eventsB].every((events) => events.destroy.some((e) => e.sessionId === expiring.sessionId)),
          10_000,
          "both bridges to hear the expiry on the restarted master",
        );
      } finally {
        driving = false;
        await Promise.all(loops);
        await Promise.all(servers.map((server) => server.close()));
        await Promise.all(users.map((user) => user.close()));
        admin.disconnect();
      }
    }, 60_000);
  }
});
