import { afterAll, describe, expect, it } from "vitest";
import { RedisStore } from "../src/redis.js";
import { redisUserIndex } from "../src/stores/redis/userIndex.js";
import { deleteKeys, testPrefix } from "./helpers/redis.js";
import { stopTestCluster } from "./helpers/redisCluster.js";
import { adminOf, STORE_FAMILIES, testTopologies } from "./helpers/redisTopologies.js";
import { openClient } from "./helpers/redisFlavors.js";

const topologies = await testTopologies();
afterAll(stopTestCluster);
const families = STORE_FAMILIES;

const userKeyOf = (prefix: string, userId: string): string => redisUserIndex({ eval: async () => null }, prefix).userKeyOf(userId);

it("names one key per user under the store's prefix, the user id as its hash tag", () => {
  expect(userKeyOf("p:", "ann")).toBe("p:user:{ann}");
  // Braces in an id cannot end the hash tag early.
  expect(userKeyOf("p:", "a{b}")).toBe("p:user:{a%7Bb%7D}");
});

for (const topology of topologies) {
  for (const family of families) {
    it(`RedisStore's user index with ${family} on ${topology.kind}: one sorted set per user, scored by expiry, pruned lazily`, async () => {
      const prefix = testPrefix();
      const user = await openClient(family, topology);
      const admin = adminOf(topology);
      const store = new RedisStore({ client: user.client, prefix });
      try {
        const now = Date.now();
        await store.indexUser("ann", "s1", now + 60_000);
        await store.indexUser("ann", "s2", now + 120_000);
        await store.indexUser("bob", "s3", now + 60_000);
        expect([...(await store.sessionsOfUser("ann"))].sort()).toEqual(["s1", "s2"]);
        expect(await store.sessionsOfUser("bob")).toEqual(["s3"]);
        const key = userKeyOf(prefix, "ann");
        expect(await admin.zcard(key)).toBe(2);
        // The key lives until its last session's expiry.
        expect(Number(await admin.pexpiretime(key))).toBe(now + 120_000);
        // A user's set is never taken for a session.
        expect(await store.list()).toEqual([]);

        await store.unindexUser("ann", "s1");
        expect(await store.sessionsOfUser("ann")).toEqual(["s2"]);
        // An entry whose session expired drops out at the next write or read.
        await store.indexUser("ann", "s2", now - 1);
        await store.indexUser("ann", "s4", now + 30_000);
        expect(await store.sessionsOfUser("ann")).toEqual(["s4"]);
        expect(await admin.zcard(key)).toBe(1);
        expect(await store.sessionsOfUser("nobody")).toEqual([]);
      } finally {
        await store.close();
        await deleteKeys(admin, prefix);
        await admin.quit();
        await user.close();
      }
    });
  }
}
