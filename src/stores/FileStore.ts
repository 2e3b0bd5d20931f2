import { mkdir } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { invalidType, message, stateError } from "../errors.js";
import { type FileDb, type FileDbFile, isFileDb, linkFile, readIndex } from "./fileDb.js";
import { readString } from "../validate.js";
import { acquireLock, type FileLock, IN_USE_CODE } from "./fileLock.js";
import { AppendLog, encodeLine, type LineCodec, type LogEntry, recordBytes } from "./fileLog.js";
import type { SessionStore, StoreState } from "./types.js";

/** The `@randajan/file-db` options FileStore understands. */
export interface FileDbOptions {
  /** Directory of the file, created when missing. Default: `"."` (the working directory). */
  dir?: string;
  /** File extension, without the dot. Default: `"fdb"`. */
  extension?: string;
  /** Text encoding of the file. Default: `"utf8"`. */
  encoding?: BufferEncoding;
  /** Turns each JSON line into the stored line (must not contain line breaks). Needs `decrypt`. */
  encrypt?: (json: string, key: unknown) => string;
  /** Turns a stored line back into its JSON line. Needs `encrypt`. */
  decrypt?: (line: string, key: unknown) => string;
  /** Passed as the second argument of `encrypt`/`decrypt`. */
  key?: unknown;
}

/** Options of `new FileStore(opt)`. */
export interface FileStoreOptions {
  /** File name without extension. Default: `"sessions"`. */
  fileName?: string;
  /** Your own `@randajan/file-db` instance; when set it does the file work instead of the built-in log. */
  fdb?: FileDb;
  /** file-db options (also passed to `fdb.link(fileName, fdbOpt)` when `fdb` is set). */
  fdbOpt?: FileDbOptions;
  /**
   * `fsync` every append before acknowledging it. Off, an acknowledged write
   * survives a crash of the process; on, also a crash of the machine.
   * Default: `false`.
   */
  fsync?: boolean;
}

/** Automatic compaction needs more than this many lines in the file... */
export const COMPACT_MIN_LINES = 1000;
/** ...and more than this many lines per live record. */
export const COMPACT_RATIO = 4;
/** Automatic compaction also once the file is larger than this many bytes... */
export const COMPACT_MIN_BYTES = 64 * 1024 * 1024;
/** ...and more than this many times the size of its live records. */
export const COMPACT_BYTES_RATIO = 4;

/** The file work behind the store: the built-in log or a user's file-db file. */
interface Backend {
  write(entry: LogEntry): Promise<unknown>;
  compact(records: Map<string, StoreState>): Promise<unknown>;
  /** Lines in the file (`NaN` when unknown: no automatic compaction). */
  readonly lines: number;
  /** Bytes in the file (`NaN` when unknown). */
  readonly bytes: number;
  /** Set once the backend cannot go on; the store then reloads on next use. */
  readonly broken: unknown;
  close(): Promise<void>;
}

interface Loaded {
  records: Map<string, StoreState>;
  /** The sum of `recordBytes` over `records`, kept up to date on every write. */
  liveBytes: number;
  backend: Backend;
}

function logBackend(log: AppendLog, codec: LineCodec): Backend {
  return {
    write: (entry) => log.append(encodeLine(codec, entry)),
    compact: (records) => log.compact(records),
    get lines() {
      return log.lines;
    },
    get bytes() {
      return log.bytes;
    },
    get broken() {
      return log.broken;
    },
    close: () => log.close(),
  };
}

function fileDbBackend(file: FileDbFile): Backend {
  const backend = {
    broken: undefined as unknown,
    lines: Number.NaN,
    bytes: Number.NaN,
    async write([id, state]: LogEntry) {
      try {
        return await (state === undefined ? file.write(id) : file.write(id, state));
      } catch (error) {
        // The memory already holds the change: reload the index on next use.
        backend.broken = error;
        throw error;
      }
    },
    compact: async () => file.optimize?.(),
    close: async () => undefined,
  };
  return backend;
}

function optional<T>(name: string, value: T | undefined, expected: string, valid: (value: T) => boolean): T | undefined {
  if (value !== undefined && !valid(value)) throw invalidType(name, expected, value);
  return value;
}

const isString = (value: unknown): value is string => typeof value === "string";
const isFunction = (value: unknown): boolean => typeof value === "function";

/**
 * A persistent store: an append-only text file in the `@randajan/file-db`
 * format, `<dir>/<fileName>.<extension>`, one record per line —
 * `JSON.stringify([id, state])` for a write, `JSON.stringify([id])` for a
 * delete, the last line of an id winning (each line passed through
 * `fdbOpt.encrypt`/`decrypt` when set).
 *
 * - One owner per file: at first use the store takes the lock file
 *   `<file>.lock` (created exclusively, holding the owner's PID, hostname
 *   and start time). While another live FileStore holds it — in this
 *   process or another — every call rejects with an Error naming the
 *   holder (`code` `KOA_IO_SESSION_FDB_IN_USE`) and nothing is written.
 *   A lock whose holder is gone from this host is taken over with a
 *   warning (code `KOA_IO_SESSION_FDB_STALE_LOCK`); a lock from another
 *   host never is. `close()` removes the lock.
 * - The file is then read as a stream of lines (concurrent first calls
 *   share the load) and kept in memory as a Map; reads never touch the disk.
 * - `set`/`destroy` resolve once their line is written; lines queued while a
 *   write is in flight go out together as one write, in call order.
 * - A torn last line (unterminated and unreadable: a crash mid-append) is
 *   cut off at load with a warning (code `KOA_IO_SESSION_FDB_TRUNCATED`);
 *   any other unreadable line fails the load with an Error naming the file
 *   and line.
 * - Compaction streams the live records to a temp file beside the original
 *   while appends go on, adds the lines appended meanwhile, fsyncs it and
 *   renames it over the original. It runs on `optimize()` and by itself once
 *   the file holds more than {@link COMPACT_MIN_LINES} lines and more than
 *   {@link COMPACT_RATIO} lines per live record, or more than
 *   {@link COMPACT_MIN_BYTES} bytes and more than {@link COMPACT_BYTES_RATIO}
 *   times the size of its live records.
 */
export class FileStore implements SessionStore {
  /** The file's absolute path (`undefined` with an `fdb` instance, which owns its paths). */
  readonly path: string | undefined;
  readonly #fileName: string;
  readonly #fdb: FileDb | undefined;
  readonly #fdbOpt: FileDbOptions | undefined;
  readonly #codec: LineCodec;
  readonly #fsync: boolean;
  #loading: Promise<Loaded> | undefined;
  #loaded: Loaded | undefined;
  #closed = false;
  readonly #inflight = new Set<Promise<unknown>>();
  #autoCompacting = false;
  #autoFloor = COMPACT_MIN_LINES;
  #autoFloorBytes = COMPACT_MIN_BYTES;
  #lock: FileLock | undefined;
  /** Set once another FileStore was found holding the file: every call fails with it. */
  #refused: Error | undefined;

  constructor(opt: FileStoreOptions = {}) {
    if (typeof opt !== "object" || opt === null) throw invalidType("opt", "an object", opt);
    const fileName = readString(opt as Record<string, unknown>, "fileName", () => "sessions");
    const fdb = optional("fdb", opt.fdb, "a file-db instance (an object with link() or get())", isFileDb);
    const fdbOpt = opt.fdbOpt;
    if (fdbOpt !== undefined && (typeof fdbOpt !== "object" || fdbOpt === null)) {
      throw invalidType("fdbOpt", "an object", fdbOpt);
    }
    const dir = optional("fdbOpt.dir", fdbOpt?.dir, "a non-empty string", (v) => isString(v) && v !== "") ?? ".";
    const extension = optional("fdbOpt.extension", fdbOpt?.extension, "a string", isString) ?? "fdb";
    // hex and base64 cannot hold a line break: no line format in them.
    const encoding = optional("fdbOpt.encoding", fdbOpt?.encoding, 'a Buffer encoding such as "utf8"',
      (v) => isString(v) && Buffer.isEncoding(v) && Buffer.from("\n", v).length > 0) ?? "utf8";
    const encrypt = optional("fdbOpt.encrypt", fdbOpt?.encrypt, "a function", isFunction);
    const decrypt = optional("fdbOpt.decrypt", fdbOpt?.decrypt, "a function", isFunction);
    if (fdb === undefined && (encrypt === undefined) !== (decrypt === undefined)) {
      const [name, other] = encrypt === undefined ? ["decrypt", "encrypt"] : ["encrypt", "decrypt"];
      throw invalidType(`fdbOpt.${other}`, `a function when 'fdbOpt.${name}' is set`, undefined);
    }
    this.#fsync = optional("fsync", opt.fsync, "a boolean", (v) => typeof v === "boolean") ?? false;
    const ext = extension.replace(/^\./, "");
    this.#fileName = fileName;
    this.#fdb = fdb;
    this.#fdbOpt = fdbOpt;
    this.#codec = { encoding, encrypt, decrypt, key: fdbOpt?.key };
    this.path = fdb === undefined ? resolve(dir, ext === "" ? fileName : `${fileName}.${ext}`) : undefined;
  }

  /** The stored state of `sessionId`, or `undefined`. */
  get(sessionId: string): Promise<StoreState | undefined> {
    return this.#run(async (loaded) => loaded.records.get(sessionId));
  }

  /** Stores `state`; resolves `true` once its line is written. */
  set(sessionId: string, state: StoreState): Promise<boolean> {
    return this.#run(async (loaded) => {
      const written = loaded.backend.write([sessionId, state]);
      const before = loaded.records.get(sessionId);
      loaded.liveBytes += recordBytes(sessionId, state) - (before === undefined ? 0 : recordBytes(sessionId, before));
      loaded.records.set(sessionId, state);
      this.#maybeCompact(loaded);
      await this.#settle(loaded, written);
      return true;
    });
  }

  /** Removes the record; resolves whether it existed, once the delete line is written. */
  destroy(sessionId: string): Promise<boolean> {
    return this.#run(async (loaded) => {
      const before = loaded.records.get(sessionId);
      if (before === undefined) return false;
      const written = loaded.backend.write([sessionId]);
      loaded.liveBytes -= recordBytes(sessionId, before);
      loaded.records.delete(sessionId);
      this.#maybeCompact(loaded);
      await this.#settle(loaded, written);
      return true;
    });
  }

  /** Every stored session id. */
  list(): Promise<string[]> {
    return this.#run(async (loaded) => [...loaded.records.keys()]);
  }

  /** Compacts the file to one line per live record (the bridge calls it after each cleanup). */
  optimize(_clearedCount?: number): Promise<void> {
    return this.#run(async (loaded) => {
      await this.#settle(loaded, loaded.backend.compact(loaded.records));
    });
  }

  /** Waits for every pending write, then closes the file and removes its lock. Later calls reject; idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
    const loaded = await this.#loading?.catch(() => undefined);
    await loaded?.backend.close();
    const lock = this.#lock;
    this.#lock = undefined;
    await lock?.release();
  }

  #run<T>(task: (loaded: Loaded) => Promise<T>): Promise<T> {
    if (this.#refused !== undefined) return Promise.reject(this.#refused);
    if (this.#closed) return Promise.reject(stateError(`FileStore "${this.path ?? this.#fileName}" is closed.`));
    const running = this.#load().then(task);
    this.#inflight.add(running);
    const forget = () => this.#inflight.delete(running);
    running.then(forget, forget);
    return running;
  }

  #load(): Promise<Loaded> {
    this.#loading ??= this.#read().then(
      (loaded) => {
        this.#loaded = loaded;
        this.#maybeCompact(loaded);
        return loaded;
      },
      (error: unknown) => {
        this.#loading = undefined;
        throw error;
      },
    );
    return this.#loading;
  }

  async #read(): Promise<Loaded> {
    if (this.#fdb !== undefined) {
      const file = await linkFile(this.#fdb, this.#fileName, this.#fdbOpt);
      return { records: await readIndex(file), liveBytes: Number.NaN, backend: fileDbBackend(file) };
    }
    const path = this.path!;
    if (this.#lock === undefined) {
      await mkdir(dirname(path), { recursive: true });
      try {
        this.#lock = await acquireLock(path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === IN_USE_CODE) this.#refused = error as Error;
        throw error;
      }
    }
    try {
      const { log, records, liveBytes } = await AppendLog.load(path, this.#codec, this.#fsync);
      return { records, liveBytes, backend: logBackend(log, this.#codec) };
    } catch (error) {
      // Unloadable (a bad line): let whoever fixes the file open it meanwhile.
      const lock = this.#lock;
      this.#lock = undefined;
      await lock.release();
      throw error;
    }
  }

  /** Awaits a backend call; when it broke the backend, memory no longer matches the file: reload on next use. */
  async #settle(loaded: Loaded, pending: Promise<unknown>): Promise<void> {
    try {
      await pending;
    } catch (error) {
      if (this.#loaded === loaded && loaded.backend.broken !== undefined) {
        this.#loaded = undefined;
        this.#loading = undefined;
      }
      throw error;
    }
  }

  /** O(1): compares counters the writes keep up to date. */
  #maybeCompact(loaded: Loaded): void {
    if (this.#autoCompacting) return;
    const { lines, bytes } = loaded.backend;
    const byLines = lines > this.#autoFloor && lines > COMPACT_RATIO * loaded.records.size;
    const byBytes = bytes > this.#autoFloorBytes && bytes > COMPACT_BYTES_RATIO * loaded.liveBytes;
    if (!byLines && !byBytes) return;
    this.#autoCompacting = true;
    loaded.backend.compact(loaded.records).then(
      () => {
        this.#autoCompacting = false;
        this.#autoFloor = COMPACT_MIN_LINES;
        // liveBytes is an estimate: never compact again before the file has doubled.
        this.#autoFloorBytes = Math.max(COMPACT_MIN_BYTES, 2 * loaded.backend.bytes);
      },
      (error: unknown) => {
        this.#autoCompacting = false;
        // Retry only after another COMPACT_MIN_LINES appends (or COMPACT_MIN_BYTES), not on every write.
        this.#autoFloor = lines + COMPACT_MIN_LINES;
        this.#autoFloorBytes = bytes + COMPACT_MIN_BYTES;
        if (loaded.backend.broken === undefined) {
          process.emitWarning(message(`Automatic compaction of "${this.path}" failed: ${(error as Error)?.message ?? error}`), {
            code: "KOA_IO_SESSION_FDB_COMPACT_FAILED",
          });
        }
      },
    );
  }
}
