export { RedisStore } from "./stores/redis/RedisStore.js";
export type { RedisStoreOptions } from "./stores/redis/RedisStore.js";
export type { RedisClientLike } from "./stores/redis/access.js";
export type { IoredisClientLike, IoredisClusterLike } from "./stores/redis/ioredis.js";
export type { NodeRedisClientLike, NodeRedisClusterLike } from "./stores/redis/nodeRedis.js";
export type { MaybePromise, SessionStore, StoreChange, StoreChangeMeta, StoreState } from "./stores/types.js";
