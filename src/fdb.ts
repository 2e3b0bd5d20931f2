export { COMPACT_BYTES_RATIO, COMPACT_MIN_BYTES, COMPACT_MIN_LINES, COMPACT_RATIO, FileStore } from "./stores/FileStore.js";
export type { FileDbOptions, FileStoreOptions } from "./stores/FileStore.js";
export type { FileDb, FileDbFile } from "./stores/fileDb.js";
export type { MaybePromise, SessionStore, StoreState } from "./stores/types.js";
