import { invalidType } from "../errors.js";
import type { MaybePromise, StoreState } from "./types.js";

/**
 * A linked file of a `@randajan/file-db` instance, as FileStore uses it.
 * Assumptions (duck-typed, no dependency on the package):
 * - `verify()`, when present, is awaited once before the first `index()`;
 *   a rejection fails the load.
 * - `index()` resolves the live records: a `Map`, an iterable of
 *   `[id, state]` pairs, or a plain object keyed by id. A `null`/`undefined`
 *   state counts as deleted.
 * - `write(id, state)` appends a record and `write(id)` a delete (the
 *   `[id, state]` / `[id]` lines of the file format); FileStore resolves
 *   `set`/`destroy` when it settles.
 * - `optimize()`, when present, compacts the file; FileStore's `optimize()`
 *   awaits it. The instance is the user's: FileStore never closes it and
 *   leaves automatic compaction to it.
 */
export interface FileDbFile {
  verify?(): unknown;
  index(): MaybePromise<unknown>;
  write(id: string, state?: StoreState): unknown;
  optimize?(): unknown;
}

/** A `@randajan/file-db` instance: `get(name)` returns a linked file, `link(name, opt)` links one. */
export interface FileDb {
  link?(name: string, options?: object): MaybePromise<FileDbFile>;
  get?(name: string): MaybePromise<FileDbFile | undefined | null>;
}

/** Whether `value` looks like a file-db instance (an object with `link()` or `get()`). */
export function isFileDb(value: unknown): value is FileDb {
  const candidate = value as FileDb | null;
  return typeof value === "object" && value !== null &&
    (typeof candidate!.link === "function" || typeof candidate!.get === "function");
}

/** The file `name` of `fdb`: the one already linked (`get`), else a new link with `options`. */
export async function linkFile(fdb: FileDb, name: string, options: object | undefined): Promise<FileDbFile> {
  let file = typeof fdb.get === "function" ? await fdb.get(name) : undefined;
  if (file == null && typeof fdb.link === "function") {
    file = await (options === undefined ? fdb.link(name) : fdb.link(name, options));
  }
  if (typeof file !== "object" || file === null || typeof file.index !== "function" || typeof file.write !== "function") {
    throw invalidType("fdb", `a file-db instance whose file "${name}" has index() and write()`, file);
  }
  return file;
}

/** Reads the live records of a linked file into a Map. */
export async function readIndex(file: FileDbFile): Promise<Map<string, StoreState>> {
  if (typeof file.verify === "function") await file.verify();
  const index = await file.index();
  const entries: Iterable<[string, unknown]> =
    index instanceof Map || (index != null && typeof (index as Iterable<unknown>)[Symbol.iterator] === "function")
      ? (index as Iterable<[string, unknown]>)
      : Object.entries((index ?? {}) as object);
  const records = new Map<string, StoreState>();
  for (const [id, state] of entries) {
    if (state != null) records.set(String(id), state as StoreState);
  }
  return records;
}
