import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { Cluster } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { generateUid, ms } from "../src/index.js";
import { RedisStore, type StoreChange, type StoreState } from "../src/redis.js";
import { deleteKeys, mastersOf, subscribed, testPrefix, waitUntil } from "./helpers/redis.js";
import { clusterClient, startOwnCluster, type TestCluster } from "./helpers/redisCluster.js";
import { type FamilyClient, openClient } from "./helpers/redisFlavors.js";
import { sparePort } from "./helpers/redisServer.js";

const run = promisify(execFile);
const canStart = await run("redis-server", ["--version"]).then(() => true, () => false);
if (!canStart && process.env.REQUIRE_REDIS === "1") throw new Error("REQUIRE_REDIS=1 but redis-server is not installed");

const state = (): StoreState => ({ session: "{}", expiresAt: Date.now() + ms.h(), ttl: ms.h() });

/** Subscribers on `channel`, counted on every master. */
async function expirySubscribersPerMaster(admin: Cluster): Promise<number[]> {
  return Promise.all(mastersOf(admin).map(async (node) => Number(((await node.pubsub("NUMSUB", "__keyevent@0__:expired")) as [string, number])[1])));
}

// A cluster of this file's own: its connections are killed and its slots moved.
describe.skipIf(!canStart)("RedisStore on a changing cluster", () => {
  let cluster: TestCluster;
  let admin: Cluster;
  let user: FamilyClient | undefined;
  let store: RedisStore | undefined;
  const prefix = testPrefix();

  beforeAll(async () => {
    cluster = await startOwnCluster();
    admin = clusterClient(cluster.urls);
  }, 60_000);

  afterEach(async () => {
    await store?.close();
    await user?.close();
    // This cluster is the file's own and thrown away after it: the resharding test has shut its extra
    // master down, which the other nodes still list, so cleaning up may meet a closed connection.
    await deleteKeys(admin, prefix).catch(() => 0);
  });

  afterAll(async () => {
    admin?.disconnect();
    await cluster?.stop();
  });

  /** Destroys and resyncs the store reports. */
  async function watched(family: "ioredis5" | "redis5") {
    user = await openClient(family, { kind: "cluster", urls: cluster.urls });
    store = new RedisStore({ client: user.client, prefix });
    const changes: StoreChange[] = [];
    store.subscribe((change) => changes.push(change));
    await subscribed(admin, store.channel, 1);
    await waitUntil(async () => (await expirySubscribersPerMaster(admin)).every((n) => n === 1), 10_000, "one expiry subscriber per master");
    return changes;
  }

  /** Expires 30 sessions spread over the masters; resolves once the store reported each. */
  async function expireSome(changes: StoreChange[]): Promise<void> {
    const ids = Array.from({ length: 30 }, (_, i) => `e${i}-${generateUid(6)}`);
    for (const id of ids) await store!.set(id, state());
    for (const id of ids) await admin.pexpire(store!.keyOf(id), 10);
    await waitUntil(() => ids.every((id) => changes.some((c) => c.type === "destroy" && c.sessionId === id)), 10_000, "30 expiries");
  }

  for (const family of ["ioredis5", "redis5"] as const) {
    it(`${family}: resubscribes on every master after its subscriber connections are killed, and reports a resync`, async () => {
      const changes = await watched(family);
      for (const node of mastersOf(admin)) await node.client("KILL", "TYPE", "pubsub");
      await waitUntil(() => changes.some((c) => c.type === "resync"), 10_000, "a resync");
      await waitUntil(async () => (await expirySubscribersPerMaster(admin)).every((n) => n === 1), 10_000, "the expiry subscribers back");
      await subscribed(admin, store!.channel, 1);
      await expireSome(changes);
    }, 40_000);
  }

  it("follows a new master that took over slots (resharding) and hears the expiries there", async () => {
    const changes = await watched("ioredis5");
    const port = await sparePort();
    const dir = (await run("mktemp", ["-d"])).stdout.trim();
    await run("redis-server", [
      "--port", String(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes", "--cluster-config-file", `${dir}/nodes.conf`, "--dir", dir,
      "--save", "", "--appendonly", "no", "--notify-keyspace-events", "Ex", "--daemonize", "yes",
    ]);
    const first = new URL(cluster.urls[0]!);
    try {
      await waitUntil(() => run("redis-cli", ["-p", String(port), "ping"]).then((r) => r.stdout.includes("PONG"), () => false), 10_000, "the new node");
      await run("redis-cli", ["--cluster", "add-node", `127.0.0.1:${port}`, `${first.hostname}:${first.port}`]);
      const ports = [...cluster.urls.map((url) => new URL(url).port), String(port)];
      const knowsFour = async (p: string) => (await run("redis-cli", ["-p", p, "cluster", "info"])).stdout.includes("cluster_known_nodes:4");
      await waitUntil(async () => (await Promise.all(ports.map(knowsFour))).every(Boolean), 20_000, "every node to know the new one");
      const id = (await run("redis-cli", ["-p", String(port), "cluster", "myid"])).stdout.trim();
      // redis-cli refuses to reshard while the nodes still disagree about the new one: try again then.
      const reshard = ["--cluster", "reshard", `${first.hostname}:${first.port}`, "--cluster-from", "all", "--cluster-to", id, "--cluster-slots", "4096", "--cluster-yes"];
      await waitUntil(() => run("redis-cli", reshard, { timeout: 60_000 }).then(() => true, () => false), 60_000, "a resharding redis-cli accepts");
      // Four masters now, each with the store's expiry subscriber.
      await admin.cluster("SLOTS");
      await waitUntil(async () => {
        await new Promise((resolve) => admin.refreshSlotsCache(resolve));
        const counts = await expirySubscribersPerMaster(admin);
        return counts.length === 4 && counts.every((n) => n === 1);
      }, 20_000, "an expiry subscriber on the new master");
      await expireSome(changes);
    } finally {
      await run("redis-cli", ["-p", String(port), "shutdown", "nosave"]).catch(() => {});
    }
  }, 90_000);
});
