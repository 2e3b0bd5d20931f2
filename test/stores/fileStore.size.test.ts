import { mkdtemp, open as openFile, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { COMPACT_MIN_BYTES, COMPACT_MIN_LINES, FileStore } from "../../src/fdb.js";

const FAR = 4102444810000;
const MiB = 1024 * 1024;

let dir: string;
let path: string;
const opened: FileStore[] = [];

function open(): FileStore {
  const store = new FileStore({ fdbOpt: { dir } });
  opened.push(store);
  return store;
}

/** The session JSON of version `v` padded with `padBytes` x's: what the generated lines hold. */
const session = (v: number, padBytes: number): string => JSON.stringify({ v, pad: "x".repeat(padBytes) });

/**
 * Appends `[id, state]` lines whose session is `session(v, padBytes)`, fast:
 * the pad is one Buffer written with each line, never joined into a string.
 */
async function writeLines(lines: { id: string; v?: number }[], padBytes: number): Promise<void> {
  const pad = Buffer.alloc(padBytes, "x");
  const handle = await openFile(path, "a");
  try {
    for (const { id, v } of lines) {
      if (v === undefined) {
        await handle.write(`${JSON.stringify([id])}\n`);
        continue;
      }
      const head = Buffer.from(`[${JSON.stringify(id)},{"session":"{\\"v\\":${v},\\"pad\\":\\"`);
      const tail = Buffer.from(`\\"}","expiresAt":${FAR},"ttl":3600000}]\n`);
      const { bytesWritten } = await handle.writev([head, pad, tail]);
      expect(bytesWritten).toBe(head.length + pad.length + tail.length);
    }
  } finally {
    await handle.close();
  }
}

/** Whether `store` holds version `v` of `id` with a `padBytes` pad (no multi-MiB diff on failure). */
async function holds(store: FileStore, id: string, v: number, padBytes: number): Promise<boolean> {
  const found = await store.get(id);
  return found !== undefined && found.expiresAt === FAR && found.session === session(v, padBytes);
}

async function lineCount(): Promise<number> {
  const data = await readFile(path);
  let count = 0;
  for (let at = data.indexOf(10); at !== -1; at = data.indexOf(10, at + 1)) count++;
  return count;
}

/** Captures process warnings instead of printing them. */
function captureWarnings(): { codes: (string | undefined)[]; restore: () => void } {
  const codes: (string | undefined)[] = [];
  const spy = vi.spyOn(process, "emitWarning").mockImplementation(((_warning: string | Error, options?: { code?: string }) => {
    codes.push(options?.code);
  }) as typeof process.emitWarning);
  return { codes, restore: () => spy.mockRestore() };
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "koa-io-session-fdb-size-"));
  path = join(dir, "sessions.fdb");
});

afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
  await rm(dir, { recursive: true, force: true });
});

describe("FileStore files of any size", () => {
  it("loads a file over 600 MiB of 20 MiB lines, the last line of each id winning, cuts its torn tail and compacts it", async () => {
    const pad = 20 * MiB;
    // Line i writes version i of k<i % 5>; k4 is deleted at the end.
    await writeLines([...Array.from({ length: 32 }, (_, i) => ({ id: `k${i % 5}`, v: i })), { id: "k4" }], pad);
    // A crash in the middle of another 20 MiB line.
    await writeLines([{ id: "k0", v: 99 }], pad);
    const handle = await openFile(path, "r+");
    await handle.truncate((await handle.stat()).size - 10 * MiB);
    await handle.close();
    const size = (await stat(path)).size;
    expect(size).toBeGreaterThan(600 * MiB);

    const capture = captureWarnings();
    const store = open();
    try {
      expect(await store.list()).toEqual(["k0", "k1", "k2", "k3"]);
    } finally {
      capture.restore();
    }
    expect(capture.codes).toEqual(["KOA_IO_SESSION_FDB_TRUNCATED"]);
    expect(await holds(store, "k0", 30, pad)).toBe(true);
    expect(await holds(store, "k1", 31, pad)).toBe(true);
    expect(await holds(store, "k2", 27, pad)).toBe(true);
    expect(await holds(store, "k3", 28, pad)).toBe(true);
    expect(await store.get("k4")).toBeUndefined();
    // The file is far bigger than its live data: it compacted by itself (close waits for it).
    await store.close();
    expect(await lineCount()).toBe(4);
    expect((await stat(path)).size).toBeLessThan(4 * pad + 1024);
    const reopened = open();
    expect(await holds(reopened, "k1", 31, pad)).toBe(true);
  }, 120_000);

  it("refuses a bad line between lines larger than a read chunk, naming the file and line, and leaves it untouched", async () => {
    const pad = 3 * MiB;
    await writeLines([{ id: "a", v: 1 }, { id: "b", v: 2 }], pad);
    const handle = await openFile(path, "a");
    await handle.write(`["c",{"session":"${"y".repeat(3 * MiB)}\n`);
    await handle.close();
    await writeLines([{ id: "d", v: 4 }], pad);
    const before = await stat(path);
    await expect(open().list()).rejects.toThrow(`[koa-io-session] Cannot load "${path}": line 3 is not a valid record; fix or remove that line.`);
    expect((await stat(path)).size).toBe(before.size);
  });

  it("a loaded file whose dead data is 10 times its live data compacts by itself", async () => {
    const pad = 2 * MiB;
    // 4 live records of 2 MiB, each written 11 times: 80 MiB dead, 8 MiB live, 44 lines (far under the line rule).
    await writeLines(Array.from({ length: 44 }, (_, i) => ({ id: `r${i % 4}`, v: i })), pad);
    expect((await stat(path)).size).toBeGreaterThan(COMPACT_MIN_BYTES);
    expect(44).toBeLessThan(COMPACT_MIN_LINES);
    const store = open();
    expect(await store.list()).toEqual(["r0", "r1", "r2", "r3"]);
    await store.close();
    expect(await lineCount()).toBe(4);
    const reopened = open();
    for (let k = 0; k < 4; k++) expect(await holds(reopened, `r${k}`, 40 + k, pad)).toBe(true);
  }, 60_000);

  it("big records edited again and again: the file compacts by itself by size, and nothing is lost", async () => {
    const pad = 2 * MiB;
    const store = open();
    const big = (v: number) => ({ session: session(v, pad), expiresAt: FAR, ttl: 3600000 });
    for (let v = 0; v < 44; v++) await store.set(`r${v % 4}`, big(v));
    // 44 writes of 2 MiB (88 MiB) over 8 MiB live: one compaction past 64 MiB, then 4 more writes per id at most.
    await store.close();
    expect(await lineCount()).toBeLessThan(44);
    expect((await stat(path)).size).toBeLessThan(COMPACT_MIN_BYTES);
    const reopened = open();
    expect(await reopened.list()).toHaveLength(4);
    for (let k = 0; k < 4; k++) expect(await holds(reopened, `r${k}`, 40 + k, pad)).toBe(true);
  }, 60_000);
});
