import { createHash } from "node:crypto";

/** A Lua script and its SHA1 (the shape of RedisStore's scripts). */
export interface UserIndexScript {
  readonly source: string;
  readonly sha: string;
}

/** The one command the user index needs: a script over one key (RedisStore's `eval` shim). */
export interface UserIndexCommands {
  eval(script: UserIndexScript, keys: string[], args: (string | number)[]): Promise<unknown>;
}

const script = (source: string): UserIndexScript => ({ source, sha: createHash("sha1").update(source).digest("hex") });

// Scored by expiry: entries of dead sessions fall out here, and the key lives as long as its last session.
const INDEX = script(`
redis.call("zadd", KEYS[1], ARGV[2], ARGV[1])
redis.call("zremrangebyscore", KEYS[1], "-inf", ARGV[3])
local last = redis.call("zrange", KEYS[1], -1, -1, "WITHSCORES")
if last[2] then redis.call("pexpireat", KEYS[1], last[2]) end
return 1`);
const UNINDEX = script(`return redis.call("zrem", KEYS[1], ARGV[1])`);
const SESSIONS = script(`
redis.call("zremrangebyscore", KEYS[1], "-inf", ARGV[1])
return redis.call("zrange", KEYS[1], 0, -1)`);

/**
 * RedisStore's user-index verbs: one sorted set per user (members session
 * ids, scores their expiry), pruned lazily. The key carries the user id as
 * its hash tag, so each set lives in one Cluster slot and no command spans
 * two keys. Mix the result into a store: `Object.assign(store, redisUserIndex(access, prefix))`
 * or delegate its three methods to it.
 */
export function redisUserIndex(redis: UserIndexCommands, prefix: string) {
  // encodeURIComponent keeps braces out of the id, so they cannot end the hash tag early.
  const keyOf = (userId: string): string => `${prefix}user:{${encodeURIComponent(userId)}}`;
  return {
    /** The Redis key of `userId`'s set. */
    userKeyOf: keyOf,
    async indexUser(userId: string, sessionId: string, expiresAt: number): Promise<void> {
      await redis.eval(INDEX, [keyOf(userId)], [sessionId, expiresAt, Date.now()]);
    },
    async unindexUser(userId: string, sessionId: string): Promise<void> {
      await redis.eval(UNINDEX, [keyOf(userId)], [sessionId]);
    },
    async sessionsOfUser(userId: string): Promise<string[]> {
      return (await redis.eval(SESSIONS, [keyOf(userId)], [Date.now()])) as string[];
    },
  };
}
