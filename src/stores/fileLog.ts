import { randomBytes } from "node:crypto";
import { type FileHandle, mkdir, open, readdir, rename, rm, truncate } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { message } from "../errors.js";
import type { StoreState } from "./types.js";

/** One line of the file: `[id, state]` writes a record, `[id]` deletes it. */
export type LogEntry = [id: string, state?: StoreState];

/** Turns entries into stored lines and back (the `fdbOpt` encrypt/decrypt/key hooks). */
export interface LineCodec {
  encoding: BufferEncoding;
  encrypt?: ((json: string, key: unknown) => string) | undefined;
  decrypt?: ((line: string, key: unknown) => string) | undefined;
  key?: unknown;
}

/** What loading a log file found. */
export interface LoadedLog {
  log: AppendLog;
  /** The live records, last line for each id winning. */
  records: Map<string, StoreState>;
  /** The sum of {@link recordBytes} over the live records. */
  liveBytes: number;
}

/** The warning code of a torn last line cut off at load. */
export const TRUNCATED_WARNING = "KOA_IO_SESSION_FDB_TRUNCATED";
const TEMP_MARK = ".tmp-";

interface Append {
  text: string;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** Bytes read per chunk at load (a multiple of every encoding's newline width) and written per chunk when compacting. */
const CHUNK_BYTES = 1 << 20;
/** Longest run of line handling or encoding before yielding to the event loop. */
const SLICE_MS = 8;
/** Most characters of queued lines joined into one append. */
const BATCH_CHARS = 64 << 20;
const ignore = (): void => undefined;
const yieldTurn = (): Promise<void> => new Promise((done) => setImmediate(done));

/**
 * About the bytes a record's line takes (its id and session JSON plus the
 * state's other fields), in O(1): the store sums it over live records to
 * compare the file's size with its live data.
 */
export function recordBytes(id: string, state: StoreState): number {
  return id.length + (typeof state.session === "string" ? state.session.length : 0) + 64;
}

/**
 * Reads the file a chunk at a time and calls `onLine` for every line (its
 * text, 1-based number, byte offset, and whether a newline ended it); a
 * line longer than a chunk is collected as a list of chunks and joined
 * once. Yields to the event loop every few milliseconds. Resolves the
 * number of bytes read.
 */
async function scanLines(
  handle: FileHandle,
  path: string,
  encoding: BufferEncoding,
  onLine: (line: string, number: number, start: number, terminated: boolean) => void,
): Promise<number> {
  const newline = Buffer.from("\n", encoding);
  const width = newline.length;
  let position = 0;
  let pieces: Buffer[] = [];
  let pending = 0;
  let lineStart = 0;
  let number = 0;
  let sliceStart = performance.now();
  const emit = (data: Buffer, from: number, to: number, terminated: boolean) => {
    number++;
    let text: string;
    try {
      text = pieces.length === 0 ? data.toString(encoding, from, to) : Buffer.concat([...pieces, data.subarray(from, to)]).toString(encoding);
    } catch (error) {
      throw new Error(message(`Cannot load "${path}": line ${number} (${pending + to - from} bytes) cannot be read: ${(error as Error).message}`));
    }
    if (pieces.length > 0) {
      pieces = [];
      pending = 0;
    }
    onLine(text, number, lineStart, terminated);
  };
  for (;;) {
    const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
    const { bytesRead } = await handle.read(chunk, 0, CHUNK_BYTES, position);
    if (bytesRead === 0) break;
    const data = chunk.subarray(0, bytesRead);
    let from = 0;
    let search = 0;
    while (from < data.length) {
      const at = data.indexOf(newline, search);
      if (at === -1) {
        pieces.push(data.subarray(from));
        pending += data.length - from;
        break;
      }
      // A two-byte newline (utf16le) only counts at a character boundary.
      if ((position + at) % width !== 0) {
        search = at + 1;
        continue;
      }
      emit(data, from, at, true);
      from = search = at + width;
      lineStart = position + from;
      if (performance.now() - sliceStart > SLICE_MS) {
        await yieldTurn();
        sliceStart = performance.now();
      }
    }
    position += bytesRead;
  }
  if (pending > 0) emit(Buffer.alloc(0), 0, 0, false);
  return position;
}

/** Encodes an entry as one stored line (JSON, then `encrypt` when set). */
export function encodeLine(codec: LineCodec, entry: LogEntry): string {
  const json = JSON.stringify(entry);
  if (codec.encrypt === undefined) return json;
  const line = codec.encrypt(json, codec.key);
  if (typeof line !== "string" || /[\r\n]/.test(line)) {
    throw new TypeError(message("'fdbOpt.encrypt' must return a string without line breaks."));
  }
  return line;
}

/** Decodes one stored line; `undefined` when it is not a record. */
function decodeLine(codec: LineCodec, line: string): LogEntry | undefined {
  try {
    const json = codec.decrypt === undefined ? line : codec.decrypt(line, codec.key);
    const entry: unknown = JSON.parse(json);
    if (!Array.isArray(entry) || typeof entry[0] !== "string" || entry.length < 1 || entry.length > 2) return undefined;
    return entry as LogEntry;
  } catch {
    return undefined;
  }
}

async function fsyncDir(dir: string): Promise<void> {
  // Makes a rename durable; some platforms (Windows) cannot open or sync a directory.
  try {
    const handle = await open(dir, "r");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    /* best effort */
  }
}

async function writeAll(handle: FileHandle, data: Buffer): Promise<void> {
  let offset = 0;
  while (offset < data.length) {
    const { bytesWritten } = await handle.write(data, offset, data.length - offset);
    offset += bytesWritten;
  }
}

/**
 * The append-only log behind the built-in FileStore backend.
 *
 * - Appends are queued and written in call order; everything queued while a
 *   write is in flight goes out as the next single write (group commit).
 *   An append resolves once its bytes are handed to the OS (and synced when
 *   `fsync` is set), so an acknowledged record survives a process crash.
 * - A compaction (one at a time) streams the live records to a temp file
 *   beside the original while appends go on, then briefly holds
 *   appends, copies the lines appended since it started, fsyncs, and renames
 *   the temp file over the original. A crash leaves the old or the new file.
 * - After a failed append the log is `broken`: the owner must drop its
 *   in-memory state and load the file again.
 */
export class AppendLog {
  readonly path: string;
  readonly #codec: LineCodec;
  readonly #fsync: boolean;
  #handle: FileHandle | undefined;
  #size: number;
  #lines: number;
  #ops: Append[] = [];
  /** Lines queued or being written, not yet in `#lines`. */
  #unwritten = 0;
  /** Their characters (about their bytes), not yet in `#size`. */
  #unwrittenChars = 0;
  #draining: Promise<void> | undefined;
  /** Set while a compaction swaps the files: appends wait in `#ops`. */
  #paused = false;
  /** Lines appended since the running compaction took its snapshot. */
  #side: string[] | undefined;
  #compacting: Promise<void> | undefined;
  #broken: unknown;

  private constructor(path: string, codec: LineCodec, fsync: boolean, handle: FileHandle, size: number, lines: number) {
    this.path = path;
    this.#codec = codec;
    this.#fsync = fsync;
    this.#handle = handle;
    this.#size = size;
    this.#lines = lines;
  }

  /**
   * Reads `path` (created when missing) as a stream of lines, replays it,
   * cuts a torn last line (unterminated and unparsable) off with a warning,
   * removes temp files left by an interrupted compaction and opens the file
   * for appending. Any other bad line fails the load with an Error naming
   * the file and line. The caller must own the file (its lock).
   */
  static async load(path: string, codec: LineCodec, fsync: boolean): Promise<LoadedLog> {
    const dir = dirname(path);
    await mkdir(dir, { recursive: true });
    const stale = `${basename(path)}${TEMP_MARK}`;
    for (const name of await readdir(dir)) {
      if (name.startsWith(stale)) await rm(join(dir, name), { force: true });
    }
    const records = new Map<string, StoreState>();
    let liveBytes = 0;
    let lines = 0;
    let torn: { start: number; number: number } | undefined;
    let unterminated = false;
    const onLine = (row: string, number: number, start: number, terminated: boolean): void => {
      if (row.trim() === "") return;
      const entry = decodeLine(codec, row);
      if (entry === undefined) {
        // Only an unterminated last line can come from a crash mid-append; any other bad line is refused.
        if (terminated) throw new Error(message(`Cannot load "${path}": line ${number} is not a valid record; fix or remove that line.`));
        torn = { start, number };
        return;
      }
      unterminated = !terminated;
      lines++;
      const [id, state] = entry;
      const before = records.get(id);
      if (before !== undefined) liveBytes -= recordBytes(id, before);
      if (entry.length === 2 && state != null) {
        records.set(id, state);
        liveBytes += recordBytes(id, state);
      } else {
        records.delete(id);
      }
    };
    let size = 0;
    let reader: FileHandle | undefined;
    try {
      reader = await open(path, "r");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
    if (reader !== undefined) {
      try {
        size = await scanLines(reader, path, codec.encoding, onLine);
      } finally {
        await reader.close();
      }
    }
    if (torn !== undefined) {
      // A crash mid-append leaves a torn last line: cut it off, as Redis does with aof-load-truncated.
      size = torn.start;
      await truncate(path, size);
      process.emitWarning(
        message(`"${path}" ended with a torn line (line ${torn.number}); the file was truncated to its last complete line.`),
        { code: TRUNCATED_WARNING },
      );
    }
    const handle = await open(path, "a");
    const log = new AppendLog(path, codec, fsync, handle, size, lines);
    // A complete last record without its newline (a file written elsewhere): terminate it before appending.
    if (unterminated) await log.#write(Buffer.from("\n", codec.encoding));
    return { log, records, liveBytes };
  }

  /** Record lines in the file (deletes and overwritten records included), queued ones counted. */
  get lines(): number {
    return this.#lines + this.#unwritten;
  }

  /** The file's size in bytes, queued lines counted (by their characters). */
  get bytes(): number {
    return this.#size + this.#unwrittenChars;
  }

  /** The error that broke the log, or `undefined` while it is healthy. */
  get broken(): unknown {
    return this.#broken;
  }

  /** Appends one encoded line; resolves once it is written. */
  append(line: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.#broken !== undefined) return reject(this.#broken);
      const text = `${line}\n`;
      this.#ops.push({ text, resolve, reject });
      this.#unwritten++;
      this.#unwrittenChars += text.length;
      this.#side?.push(text);
      this.#kick();
    });
  }

  /**
   * Rewrites the file as `records` (when this compaction starts, after any
   * running one) followed by the lines appended meanwhile; does nothing when
   * the file already holds exactly one line per live record. Streams: the
   * records are encoded and written a chunk at a time.
   */
  compact(records: ReadonlyMap<string, StoreState>): Promise<void> {
    const run = (this.#compacting ?? Promise.resolve()).then(() => this.#compact(records));
    const current = run.catch(ignore).finally(() => {
      if (this.#compacting === current) this.#compacting = undefined;
    });
    this.#compacting = current;
    return run;
  }

  /** Writes everything queued, waits for a running compaction, then releases the file. Idempotent. */
  async close(): Promise<void> {
    while (this.#compacting !== undefined || this.#draining !== undefined) {
      await this.#compacting;
      await this.#draining;
    }
    this.#broken ??= new Error(message(`FileStore "${this.path}" is closed.`));
    const handle = this.#handle;
    this.#handle = undefined;
    await handle?.close();
  }

  #kick(): void {
    if (this.#paused || this.#ops.length === 0) return;
    this.#draining ??= this.#drain().finally(() => (this.#draining = undefined));
  }

  async #drain(): Promise<void> {
    while (this.#ops.length > 0 && !this.#paused) {
      // Bounded so that a burst of big records never makes one oversized string.
      let count = 0;
      for (let chars = 0; count < this.#ops.length && (count === 0 || chars < BATCH_CHARS); count++) chars += this.#ops[count]!.text.length;
      const batch = this.#ops.splice(0, count);
      try {
        await this.#write(Buffer.from(batch.map((op) => op.text).join(""), this.#codec.encoding));
      } catch (error) {
        await this.#fail(error, batch);
        return;
      }
      this.#lines += batch.length;
      this.#unwritten -= batch.length;
      for (const op of batch) this.#unwrittenChars -= op.text.length;
      for (const op of batch) op.resolve();
    }
  }

  async #fail(error: unknown, failed: Append[]): Promise<void> {
    this.#broken ??= error;
    for (const op of [...failed, ...this.#ops.splice(0)]) op.reject(error);
    this.#unwritten = 0;
    this.#unwrittenChars = 0;
    const handle = this.#handle;
    this.#handle = undefined;
    await handle?.close().catch(ignore);
  }

  async #write(data: Buffer): Promise<void> {
    const handle = this.#handle!;
    try {
      await writeAll(handle, data);
      if (this.#fsync) await handle.datasync();
      this.#size += data.length;
    } catch (error) {
      // Cut a partial append off so that later loads do not meet it mid-file.
      await handle.truncate(this.#size).catch(ignore);
      throw error;
    }
  }

  async #compact(records: ReadonlyMap<string, StoreState>): Promise<void> {
    if (this.#broken !== undefined) throw this.#broken;
    if (this.lines === records.size) return;
    const side: string[] = [];
    this.#side = side;
    const temp = `${this.path}${TEMP_MARK}${randomBytes(6).toString("hex")}`;
    let handle: FileHandle | undefined;
    let absorbed: Append[] = [];
    let size = 0;
    let written = 0;
    let parts: string[] = [];
    let chars = 0;
    const flush = async () => {
      const data = Buffer.from(parts.join(""), this.#codec.encoding);
      parts = [];
      chars = 0;
      await writeAll(handle!, data);
      size += data.length;
    };
    const put = async (text: string) => {
      parts.push(text);
      chars += text.length;
      if (chars >= CHUNK_BYTES) await flush();
    };
    try {
      handle = await open(temp, "wx");
      // The Map's live iterator: a record changed after this point is visited with a newer
      // state or not at all, and its side line (below) comes after it either way.
      let sliceStart = performance.now();
      for (const [id, state] of records) {
        await put(`${encodeLine(this.#codec, [id, state])}\n`);
        written++;
        if (performance.now() - sliceStart > SLICE_MS) {
          if (chars > 0) await flush();
          else await yieldTurn();
          sliceStart = performance.now();
        }
      }
      // Hold appends, then take in every line appended since the snapshot, written or still queued.
      this.#paused = true;
      while (this.#draining !== undefined) await this.#draining;
      if (this.#broken !== undefined) throw this.#broken;
      this.#side = undefined;
      absorbed = this.#ops.splice(0);
      for (const text of side) await put(text);
      await flush();
      await handle.sync();
      await handle.close();
      handle = undefined;
      // Closed before the rename so that platforms that lock open files can replace it.
      await this.#handle!.close();
      this.#handle = undefined;
      await rename(temp, this.path);
    } catch (error) {
      this.#side = undefined;
      await handle?.close().catch(ignore);
      await rm(temp, { force: true }).catch(ignore);
      // The old file is still the file: queued appends go to it.
      this.#ops.unshift(...absorbed);
      if (this.#broken === undefined && this.#handle === undefined) {
        try {
          this.#handle = await open(this.path, "a");
        } catch (reopen) {
          await this.#fail(reopen, []);
        }
      }
      this.#paused = false;
      this.#kick();
      throw error;
    }
    try {
      await fsyncDir(dirname(this.path));
      this.#handle = await open(this.path, "a");
    } catch (error) {
      this.#paused = false;
      await this.#fail(error, absorbed);
      throw error;
    }
    // The appends that were still queued are in the new file (their lines, or the snapshot they shaped).
    this.#size = size;
    this.#lines = written + side.length;
    this.#unwritten -= absorbed.length;
    for (const op of absorbed) this.#unwrittenChars -= op.text.length;
    for (const op of absorbed) op.resolve();
    this.#paused = false;
    this.#kick();
  }
}
