import { randomBytes } from "node:crypto";
import { type FileHandle, mkdir, open, readdir, readFile, rename, rm, truncate } from "node:fs/promises";
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
}

/** The warning code of a torn last line cut off at load. */
export const TRUNCATED_WARNING = "KOA_IO_SESSION_FDB_TRUNCATED";
const TEMP_MARK = ".tmp-";

interface Append {
  text: string;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** Records encoded per write while compacting: small enough not to hold the event loop for long. */
const CHUNK = 2000;
const ignore = (): void => undefined;

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
 * - A compaction (one at a time) snapshots the live records, writes them to a
 *   temp file beside the original while appends go on, then briefly holds
 *   appends, copies the lines appended since the snapshot, fsyncs, and renames
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
   * Reads `path` (created when missing), replays it, cuts a torn last line
   * (unterminated and unparsable) off with a warning, removes temp files
   * left by an interrupted compaction and opens the file for appending. Any
   * other bad line fails the load with an Error naming the file and line.
   */
  static async load(path: string, codec: LineCodec, fsync: boolean): Promise<LoadedLog> {
    const dir = dirname(path);
    await mkdir(dir, { recursive: true });
    const stale = `${basename(path)}${TEMP_MARK}`;
    for (const name of await readdir(dir)) {
      if (name.startsWith(stale)) await rm(join(dir, name), { force: true });
    }
    let text = "";
    try {
      text = await readFile(path, codec.encoding);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
    const records = new Map<string, StoreState>();
    const rows = text.split("\n");
    let last = rows.length - 1;
    while (last >= 0 && rows[last]!.trim() === "") last--;
    let lines = 0;
    let keep = text.length; // characters of `text` that stay in the file
    for (let i = 0, start = 0; i <= last; start += rows[i]!.length + 1, i++) {
      const row = rows[i]!;
      if (row.trim() === "") continue;
      const entry = decodeLine(codec, row);
      if (entry === undefined) {
        // Only an unterminated last line can come from a crash mid-append; any other bad line is refused.
        if (i !== rows.length - 1) {
          throw new Error(message(`Cannot load "${path}": line ${i + 1} is not a valid record; fix or remove that line.`));
        }
        // A crash mid-append leaves a torn last line: cut it off, as Redis does with aof-load-truncated.
        keep = start;
        process.emitWarning(
          message(`"${path}" ended with a torn line (line ${i + 1}); the file was truncated to its last complete line.`),
          { code: TRUNCATED_WARNING },
        );
        break;
      }
      lines++;
      if (entry.length === 2 && entry[1] != null) records.set(entry[0], entry[1]);
      else records.delete(entry[0]);
    }
    let size = Buffer.byteLength(text, codec.encoding);
    if (keep < text.length) {
      size = Buffer.byteLength(text.slice(0, keep), codec.encoding);
      await truncate(path, size);
    }
    // A complete last record without its newline (a file written elsewhere): terminate it before appending.
    const terminate = keep === text.length && last === rows.length - 1 && last >= 0;
    const handle = await open(path, "a");
    const log = new AppendLog(path, codec, fsync, handle, size, lines);
    if (terminate) await log.#write(Buffer.from("\n", codec.encoding));
    return { log, records };
  }

  /** Record lines in the file (deletes and overwritten records included), queued ones counted. */
  get lines(): number {
    return this.#lines + this.#unwritten;
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
      this.#side?.push(text);
      this.#kick();
    });
  }

  /**
   * Rewrites the file as the entries `snapshot()` returns when this
   * compaction starts (after any running one); does nothing when the file
   * already holds exactly one line per live record.
   */
  compact(snapshot: () => LogEntry[]): Promise<void> {
    const run = (this.#compacting ?? Promise.resolve()).then(() => this.#compact(snapshot));
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
      const batch = this.#ops.splice(0);
      try {
        await this.#write(Buffer.from(batch.map((op) => op.text).join(""), this.#codec.encoding));
      } catch (error) {
        await this.#fail(error, batch);
        return;
      }
      this.#lines += batch.length;
      this.#unwritten -= batch.length;
      for (const op of batch) op.resolve();
    }
  }

  async #fail(error: unknown, failed: Append[]): Promise<void> {
    this.#broken ??= error;
    for (const op of [...failed, ...this.#ops.splice(0)]) op.reject(error);
    this.#unwritten = 0;
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

  async #compact(snapshot: () => LogEntry[]): Promise<void> {
    if (this.#broken !== undefined) throw this.#broken;
    const entries = snapshot();
    if (this.lines === entries.length) return;
    const side: string[] = [];
    this.#side = side;
    const temp = `${this.path}${TEMP_MARK}${randomBytes(6).toString("hex")}`;
    let handle: FileHandle | undefined;
    let absorbed: Append[] = [];
    let size = 0;
    const put = async (text: string) => {
      const data = Buffer.from(text, this.#codec.encoding);
      await writeAll(handle!, data);
      size += data.length;
    };
    try {
      handle = await open(temp, "wx");
      for (let i = 0; i < entries.length; i += CHUNK) {
        await put(entries.slice(i, i + CHUNK).map((entry) => `${encodeLine(this.#codec, entry)}\n`).join(""));
      }
      // Hold appends, then take in every line appended since the snapshot, written or still queued.
      this.#paused = true;
      while (this.#draining !== undefined) await this.#draining;
      if (this.#broken !== undefined) throw this.#broken;
      this.#side = undefined;
      absorbed = this.#ops.splice(0);
      await put(side.join(""));
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
    this.#lines = entries.length + side.length;
    this.#unwritten -= absorbed.length;
    for (const op of absorbed) op.resolve();
    this.#paused = false;
    this.#kick();
  }
}
