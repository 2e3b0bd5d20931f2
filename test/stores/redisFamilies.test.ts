import type { Cluster, Redis } from "ioredis";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { generateUid, ms } from "../../src/index.js";
import { RedisStore, type StoreChange, type StoreState } from "../../src/redis.js";
import { deleteKeys, mastersOf, subscribed, testPrefix, waitUntil } from "../helpers/redis.js";
import { stopTestCluster } from "../helpers/redisCluster.js";
import { adminOf, STORE_FAMILIES, testTopologies } from "../helpers/redisTopologies.js";
import { type FamilyClient, openClient } from "../helpers/redisFlavors.js";
import { storeContract } from "./contract.js";

// One suite, a factory per client family × topology (standalone Redis, a 3-master Redis Cluster).
const topologies = await testTopologies();
afterAll(stopTestCluster);
const families = STORE_FAMILIES;

const state = (session: Record<string, unknown>, expiresIn: number): StoreState => ({
  session: JSON.stringify(session),
  expiresAt: Date.now() + expiresIn,
  ttl: Math.max(expiresIn, 1000),
});

for (const topology of topologies) {
  for (const family of families) {
    describe(`RedisStore with ${family} on ${topology.kind}`, () => {
      storeContract(`RedisStore (${family}, ${topology.kind})`, async () => {
        const prefix = testPrefix();
        const opened: FamilyClient[] = [];
        const stores: RedisStore[] = [];
        const open = async (): Promise<RedisStore> => {
          const user = await openClient(family, topology);
          opened.push(user);
          const store = new RedisStore({ client: user.client, prefix });
          stores.push(store);
          return store;
        };
        return {
          store: await open(),
          reopen: open,
          async cleanup() {
            for (const store of stores) await store.close();
            const admin = adminOf(topology);
            await deleteKeys(admin, prefix);
            await admin.quit();
            for (const user of opened) await user.close();
          },
        };
      });

      describe("across families and masters", () => {
        let prefix: string;
        let admin: Redis | Cluster;
        let mine: FamilyClient;
        let theirs: FamilyClient;
        let stores: RedisStore[];

        beforeEach(async () => {
          prefix = testPrefix();
          admin = adminOf(topology);
          mine = await openClient(family, topology);
          // The other process runs another family: the records and the feed are the same for all.
          theirs = await openClient(family === "ioredis5" ? "redis5" : "ioredis5", topology);
          stores = [];
        });

        afterEach(async () => {
          for (const store of stores) await store.close();
          await deleteKeys(admin, prefix);
          await admin.quit();
          await mine.close();
          await theirs.close();
        });

        const storeOf = (user: FamilyClient): RedisStore => {
          const store = new RedisStore({ client: user.client, prefix });
          stores.push(store);
          return store;
        };

        it("hears another family's writes and destroys, and the other family hears its own", async () => {
          const store = storeOf(mine);
          const peer = storeOf(theirs);
          const heard: StoreChange[] = [];
          const peerHeard: StoreChange[] = [];
          // A resync (a subscriber reconnected, the topology moved) may come at any time; the changes are what counts.
          store.subscribe((change) => change.type !== "resync" && heard.push(change));
          peer.subscribe((change) => change.type !== "resync" && peerHeard.push(change));
          await subscribed(admin, store.channel, 2);
          await peer.set("a", state({ v: 1 }, ms.h()), { clientId: "c1", isNew: true });
          await store.set("b", state({ v: 2 }, ms.h()), { clientId: "c2", isNew: false });
          await peer.destroy("a");
          await waitUntil(() => heard.length === 2 && peerHeard.length === 1);
          expect(heard).toEqual([
            { type: "set", sessionId: "a", clientId: "c1", isNew: true },
            { type: "destroy", sessionId: "a" },
          ]);
          expect(peerHeard).toEqual([{ type: "set", sessionId: "b", clientId: "c2", isNew: false }]);
          expect(JSON.parse((await peer.get("b"))!.session)).toEqual({ v: 2 });
        });

        it("lists the sessions of every master, and withLock excludes the other family's store", async () => {
          const store = storeOf(mine);
          const peer = storeOf(theirs);
          const ids = Array.from({ length: 30 }, (_, i) => `m${i}-${generateUid(6)}`);
          for (const id of ids) await peer.set(id, state({ v: 1 }, ms.h()));
          await peer.withLock(ids[0]!, async () => undefined);
          const perMaster = await Promise.all(mastersOf(admin).map(async (node) => (await node.keys(`${prefix}*`)).length));
          if (topology.kind === "cluster") expect(perMaster.filter((n) => n > 0).length).toBeGreaterThan(1);
          expect(new Set(await store.list())).toEqual(new Set(ids));
          let release!: () => void;
          const held = new Promise<void>((resolve) => (release = resolve));
          const order: string[] = [];
          const first = peer.withLock(ids[1]!, async () => {
            order.push("theirs");
            await held;
            order.push("theirs done");
          });
          await waitUntil(async () => (await admin.exists(peer.lockKeyOf(ids[1]!))) === 1);
          const second = store.withLock(ids[1]!, async () => order.push("mine"));
          await new Promise((resolve) => setTimeout(resolve, 30));
          release();
          await Promise.all([first, second]);
          expect(order).toEqual(["theirs", "theirs done", "mine"]);
        });

        // Standalone has one node: the single-node expiry path is in the store contract.
        if (topology.kind === "cluster") it("reports keys Redis expires on every master (keyspace notifications are node-local)", async () => {
          const store = storeOf(mine);
          const destroyed = new Set<string>();
          store.subscribe((change) => {
            if (change.type === "destroy") destroyed.add(change.sessionId);
          });
          await subscribed(admin, store.channel, 1);
          // Every master's expiry subscription is up once each has a subscriber on the expiry channel.
          await waitUntil(async () => {
            for (const node of mastersOf(admin)) {
              const [, count] = (await node.pubsub("NUMSUB", "__keyevent@0__:expired")) as [string, number];
              if (Number(count) === 0) return false;
            }
            return true;
          });
          const ids = Array.from({ length: 30 }, (_, i) => `x${i}-${generateUid(6)}`);
          for (const id of ids) await store.set(id, state({ v: 1 }, ms.h()));
          for (const id of ids) await admin.pexpire(store.keyOf(id), 20);
          await waitUntil(() => ids.every((id) => destroyed.has(id)), 10_000, "30 expiry notifications");
          expect([...destroyed].sort()).toEqual([...ids].sort());
        });
      });
    });
  }
}
