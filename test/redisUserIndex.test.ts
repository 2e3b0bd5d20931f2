import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { redisUserIndex, type UserIndexCommands } from "../src/stores/redisUserIndex.js";
import { deleteKeys, redisAvailable, redisClient, testPrefix } from "./helpers/redis.js";

const available = await redisAvailable();

/** The `eval` shim over ioredis, as RedisStore's command layer provides it. */
const evalOver = (client: Redis): UserIndexCommands => ({
  eval: (script, keys, args) => client.eval(script.source, keys.length, ...keys, ...args),
});

describe.runIf(available)("redisUserIndex (real Redis)", () => {
  let client: Redis;
  const prefix = testPrefix();
  beforeAll(() => {
    client = redisClient();
  });
  afterAll(async () => {
    await deleteKeys(client, prefix);
    client.disconnect();
  });

  it("keeps one sorted set per user, scored by expiry, pruned lazily, with a hash tag per user", async () => {
    const index = redisUserIndex(evalOver(client), prefix);
    const now = Date.now();
    await index.indexUser("ann", "s1", now + 60_000);
    await index.indexUser("ann", "s2", now + 120_000);
    await index.indexUser("bob", "s3", now + 60_000);
    expect((await index.sessionsOfUser("ann")).sort()).toEqual(["s1", "s2"]);
    expect(await index.sessionsOfUser("bob")).toEqual(["s3"]);
    const key = index.userKeyOf("ann");
    expect(key).toBe(`${prefix}user:{ann}`);
    expect(index.userKeyOf("a{b}")).toBe(`${prefix}user:{a%7Bb%7D}`);
    // The key lives until its last session's expiry.
    expect(Number(await client.pexpiretime(key))).toBe(now + 120_000);

    await index.unindexUser("ann", "s1");
    expect(await index.sessionsOfUser("ann")).toEqual(["s2"]);
    // An entry whose session expired drops out at the next read.
    await index.indexUser("ann", "s2", now - 1);
    await index.indexUser("ann", "s4", now + 30_000);
    expect(await index.sessionsOfUser("ann")).toEqual(["s4"]);
    expect(await client.zcard(key)).toBe(1);
    expect(await index.sessionsOfUser("nobody")).toEqual([]);
  });
});
