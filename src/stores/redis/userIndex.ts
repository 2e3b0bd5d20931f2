import { type RedisAccess, redisScript } from "./client.js";

/** The part of every user-index key after the store's prefix: `prefix + "user:{" + userId + "}"`. */
export const USER_KEY_PART = "user:";

// Scored by expiry: entries of dead sessions fall out here, and the key lives as long as its last session.
const INDEX = redisScript(`
redis.call("zadd", KEYS[1], ARGV[2], ARGV[1])
redis.call("zremrangebyscore", KEYS[1], "-inf", ARGV[3])
local last = redis.call("zrange", KEYS[1], -1, -1, "WITHSCORES")
if last[2] then redis.call("pexpireat", KEYS[1], last[2]) end
return 1`);
const UNINDEX = redisScript(`return redis.call("zrem", KEYS[1], ARGV[1])`);
const SESSIONS = redisScript(`
redis.call("zremrangebyscore", KEYS[1], "-inf", ARGV[1])
return redis.call("zrange", KEYS[1], 0, -1)`);

/**
 * RedisStore's user-index verbs: one sorted set per user (members session
 * ids, scores their expiry), pruned lazily. The key carries the user id as
 * its hash tag, so each set lives in one Cluster slot and every command is
 * a script over that one key, on any client family.
 */
export function redisUserIndex(redis: Pick<RedisAccess, "eval">, prefix: string) {
  // encodeURIComponent keeps braces out of the id, so they cannot end the hash tag early.
  const keyOf = (userId: string): string => `${prefix}${USER_KEY_PART}{${encodeURIComponent(userId)}}`;
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

/** The user index as RedisStore holds it. */
export type RedisUserIndex = ReturnType<typeof redisUserIndex>;
