export { RedisStore } from "./stores/RedisStore.js";
export type { RedisStoreOptions } from "./stores/RedisStore.js";
export type { MaybePromise, SessionStore, StoreChange, StoreChangeMeta, StoreState } from "./stores/types.js";
