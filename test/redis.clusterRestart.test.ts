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
import { type ClientFamily, type FamilyClient, openClient, type RedisTopology } from "./helpers/redisFlavors.js";
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
  /** Acknowledged since the fault ended (`Run.healed`). */
  ackedAfter: number;
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

/**
 * Two bridges (Koa + socket.io on port 0, serializeRequests, RedisStore over
 * a `family` cluster client of their own) on one prefix, the sessions they
 * drive, and the test's own view of the cluster.
 */
class Run {
  readonly prefix = testPrefix();
  readonly admin: Cluster;
  readonly errors: string[] = [];
  readonly driven: Driven[] = [];
  readonly #users: FamilyClient[] = [];
  readonly #servers: TestServer[] = [];
  readonly #loops: Promise<void>[] = [];
  #driving = false;
  /** Set once the fault is over: acknowledgements from then on count as recovery. */
  healed = false;

  constructor(readonly cluster: DurableCluster) {
    // Opened after the previous test's fault, so its slot cache is current.
    this.admin = clusterClient(cluster.urls);
  }

  get a(): TestServer {
    return this.#servers[0]!;
  }

  get b(): TestServer {
    return this.#servers[1]!;
  }

  keyOf(sessionId: string): string {
    return `${this.prefix}{${sessionId}}`;
  }

  async start(family: ClientFamily): Promise<void> {
    const topology: RedisTopology = { kind: "cluster", urls: this.cluster.urls };
    const onError = (error: Error): void => void this.errors.push(error.message);
    for (let i = 0; i < 2; i++) {
      const user = await openClient(family, topology);
      this.#users.push(user);
      // A long lock TTL: a lock left behind by the fault would block its session past the test.
      const store = new RedisStore({ client: user.client, prefix: this.prefix, lockTtlMs: 60_000, lockWaitMs: 3000, onError });
      this.#servers.push(await startServer({ store, serializeRequests: true }, counting(this.errors)));
    }
    await subscribed(this.admin, `${this.prefix}changes`, 2);
  }

  /** A session created over HTTP on A, with a socket on one bridge and HTTP requests to the other. */
  async addSession(): Promise<Driven> {
    const jar = new CookieJar();
    const res = await this.a.get("/inc", jar);
    expect(res.status).toBe(200);
    const sessionId = jar.get("test.sid")!;
    const port = await masterOf(this.admin, this.keyOf(sessionId));
    const [socketOn, http] = this.driven.length % 2 === 0 ? [this.b, this.a] : [this.a, this.b];
    const socket = await socketOn.connect(jar);
    const d: Driven = { sessionId, jar, port, socket, http, tally: { attempted: 1, acked: [1], failures: [], ackedAfter: 0 } };
    this.driven.push(d);
    return d;
  }

  /** Increments every session over its socket and over HTTP, each in a loop, until `stopDriving`. */
  drive(): void {
    this.#driving = true;
    for (const d of this.driven) this.#loops.push(this.#viaSocket(d), this.#viaHttp(d));
  }

  async stopDriving(): Promise<void> {
    this.#driving = false;
    await Promise.all(this.#loops.splice(0));
  }

  /** Resolves once every session had `count` calls acknowledged since `healed`, on the same clients, bridges and sockets. */
  async recovered(count = 3): Promise<void> {
    const what = "acknowledged calls on every session after the fault";
    await waitUntil(() => this.driven.every((d) => d.tally.ackedAfter >= count), 20_000, what).catch((error: Error) => {
      const stuck = this.driven.filter((d) => d.tally.ackedAfter < count).map((d) => `${d.sessionId} on ${d.port}: ${d.tally.failures.at(-1)}`);
      throw new Error(`${error.message}; sessions without them: ${stuck.join("; ")}`);
    });
  }

  /** Every acknowledged increment is in Redis, failures are the library's, and no lock is left. */
  async expectAcknowledgedKept(): Promise<void> {
    for (const d of this.driven) {
      for (const failure of d.tally.failures) expect(failure).toMatch(/^(\[koa-io-session\] |HTTP 5\d\d$)/);
    }
    for (const error of this.errors) expect(error).toMatch(/^\[koa-io-session\] /);
    for (const d of this.driven) {
      const stored = await storedCount(this.admin, this.keyOf(d.sessionId));
      const { attempted, acked } = d.tally;
      // Increments ran under the session's lock: each acknowledged one returned a count of its own ...
      expect(new Set(acked).size).toBe(acked.length);
      // ... and each is in Redis; unacknowledged ones may have landed too.
      expect(stored).toBeGreaterThanOrEqual(Math.max(acked.length, ...acked));
      expect(stored).toBeLessThanOrEqual(attempted);
    }
    // No lock was left behind (their TTL is 60 s).
    const locks = await Promise.all(this.driven.map((d) => this.admin.exists(`${this.keyOf(d.sessionId)}:lock`)));
    expect(locks).toEqual(this.driven.map(() => 0));
  }

  /** B hears a change A makes, and both bridges hear `expiring`'s record expire (a notification of its master only). */
  async expectFeedsLive(expiring: Driven): Promise<void> {
    await subscribed(this.admin, `${this.prefix}changes`, 2);
    const eventsA = recordEvents(this.a.bridge);
    const eventsB = recordEvents(this.b.bridge);
    const changed = this.driven.find((d) => d !== expiring)!;
    expect((await this.a.get("/inc", changed.jar)).status).toBe(200);
    await waitUntil(() => eventsB.set.some((e) => e.sessionId === changed.sessionId && !e.isInit), 10_000, "B to hear A's change");
    await this.admin.pexpire(this.keyOf(expiring.sessionId), 20);
    await waitUntil(
      () => [eventsA, eventsB].every((events) => events.destroy.some((e) => e.sessionId === expiring.sessionId)),
      10_000,
      `both bridges to hear the expiry on master ${expiring.port}`,
    );
  }

  async close(): Promise<void> {
    await this.stopDriving();
    await Promise.all(this.#servers.map((server) => server.close()));
    await Promise.all(this.#users.map((user) => user.close()));
    this.admin.disconnect();
  }

  #acknowledged(d: Driven, count: unknown): void {
    if (typeof count !== "number") return void d.tally.failures.push(`not a count: ${JSON.stringify(count)}`);
    d.tally.acked.push(count);
    if (this.healed) d.tally.ackedAfter++;
  }

  async #viaSocket(d: Driven): Promise<void> {
    while (this.#driving) {
      d.tally.attempted++;
      const reply = (await d.socket.timeout(10_000).emitWithAck("count:inc").catch((e: Error) => ({ error: `no ack: ${e.message}` }))) as {
        count?: unknown;
        error?: string;
      };
      if ("error" in reply) d.tally.failures.push(reply.error!);
      else this.#acknowledged(d, reply.count);
      await sleep(20);
    }
  }

  async #viaHttp(d: Driven): Promise<void> {
    while (this.#driving) {
      d.tally.attempted++;
      const res = await request(d.http.http).get("/inc").set("Cookie", d.jar.header()).timeout(10_000).catch((e: Error) => e);
      if (res instanceof Error) d.tally.failures.push(`no response: ${res.message}`);
      else if (res.status !== 200) d.tally.failures.push(`HTTP ${res.status}`);
      else {
        d.jar.store(res.headers["set-cookie"]);
        // A failure must never hand the client another session.
        if (res.body.sessionId !== d.sessionId) d.tally.failures.push(`moved to session ${res.body.sessionId}`);
        this.#acknowledged(d, res.body.session?.count);
      }
      await sleep(20);
    }
  }
}

// A cluster of this file's own whose masters persist with AOF (fsync always),
// so a master SIGKILLed and started again still holds every write it
// acknowledged, while two bridges keep writing through the fault.
describe.skipIf(!enabled)("a Redis Cluster changing under a running app", () => {
  let cluster: DurableCluster;

  beforeAll(async () => {
    cluster = await startDurableCluster(PORTS);
  }, 40_000);

  afterAll(() => cluster?.stop());

  for (const [index, family] of BRIDGE_FAMILIES.entries()) {
    // Each client code path has the change channel's master (the first by host:port) restarted once, and another master once.
    const victim = PORTS[index % PORTS.length]!;

    it(`${family}: keeps every acknowledged write when master ${victim} restarts, recovers by itself, and its feeds are live again`, async () => {
      const run = new Run(cluster);
      try {
        await run.start(family);
        // Sessions until every master holds at least two.
        while (PORTS.some((port) => run.driven.filter((d) => d.port === port).length < 2)) {
          if (run.driven.length >= 40) throw new Error("sessions do not spread over the masters");
          await run.addSession();
        }
        run.drive();
        await sleep(500);
        await cluster.kill(victim);
        await sleep(1500);
        await cluster.start(victim);
        run.healed = true;
        await run.recovered();
        await run.stopDriving();

        const onVictim = run.driven.filter((d) => d.port === victim);
        // The outage was real: calls on the stopped master's sessions failed.
        expect(onVictim.some((d) => d.tally.failures.length > 0)).toBe(true);
        await run.expectAcknowledgedKept();
        // The feeds are live again: the change channel and the restarted master's expiry notifications.
        await run.expectFeedsLive(onVictim[0]!);
      } finally {
        await run.close();
      }
    }, 60_000);
  }

  for (const family of BRIDGE_FAMILIES) {
    it(`${family}: a session whose slot moves to another master mid-run reads and writes throughout, and its expiry is still heard`, async () => {
      const run = new Run(cluster);
      try {
        await run.start(family);
        const moving = await run.addSession();
        await run.addSession();
        const slot = (await run.admin.cluster("KEYSLOT", run.keyOf(moving.sessionId))) as number;
        const to = PORTS.find((port) => port !== moving.port)!;
        run.drive();
        await sleep(300);
        // Half moved: the record may be on either master, and the clients follow ASK replies.
        await cluster.moveSlot(slot, moving.port, to, () => sleep(300));
        run.healed = true;
        await run.recovered();
        await run.stopDriving();

        expect(await masterOf(run.admin, run.keyOf(moving.sessionId))).toBe(to);
        // A resharding is no outage: no call failed, so every increment tried is in Redis.
        expect(run.driven.flatMap((d) => d.tally.failures)).toEqual([]);
        await run.expectAcknowledgedKept();
        moving.port = to;
        await run.expectFeedsLive(moving);
      } finally {
        await run.close();
      }
    }, 60_000);
  }
});
