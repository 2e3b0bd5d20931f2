import { type ChildProcess, spawn } from "node:child_process";
import { appendFile, mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { FileStore } from "../../src/fdb.js";
import type { StoreState } from "../../src/index.js";
import { ensureBuilt } from "../helpers/build.js";

const ROOT = resolve(import.meta.dirname, "../..");
const WRITER = join(ROOT, "test/helpers/fileStoreWriter.mjs");

// Mirrors test/helpers/fileStoreWriter.mjs.
const WORKERS = 40;
const IDS_PER_WORKER = 10;
const PRELOAD = 3000;
const PAD = "x".repeat(400);

function opOf(prefix: string, w: number, j: number): { id: string; state: StoreState | undefined } {
  const id = `${prefix}w${w}-${j % IDS_PER_WORKER}`;
  if (j % 7 === 6) return { id, state: undefined };
  return { id, state: { session: JSON.stringify({ w, j, pad: PAD }), expiresAt: 4102444810000, ttl: 3600000 } };
}

function preloaded(i: number, prefix: string): StoreState {
  return { session: JSON.stringify({ i, pad: PAD }), expiresAt: 4102444810000, ttl: 3600000 };
}

let dir: string;
const children: ChildProcess[] = [];

beforeAll(() => {
  // The child imports the built package: build it when dist/ is missing or stale (serialized with other test files).
  ensureBuilt();
}, 150_000);

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "koa-io-session-fdb-crash-"));
});

afterEach(async () => {
  vi.restoreAllMocks();
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  await rm(dir, { recursive: true, force: true });
});

/**
 * Runs the writer until `enough(output)` holds, then kills it with SIGKILL
 * and resolves its complete stdout lines once its pipes are closed.
 */
async function runAndKill(mode: "burst" | "compact", prefix: string, enough: (lines: string[]) => boolean): Promise<string[]> {
  const child = spawn(process.execPath, [WRITER, dir, mode, prefix], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const closed = new Promise<void>((done) => child.once("close", () => done()));
  const complete = () => stdout.slice(0, stdout.lastIndexOf("\n") + 1).split("\n").filter(Boolean);
  // Generous: the whole suite runs beside this on two cores (browser, Redis cluster children).
  const deadline = Date.now() + 60_000;
  while (!enough(complete())) {
    if (child.exitCode !== null) throw new Error(`writer exited (${child.exitCode}):\n${stderr}`);
    if (Date.now() > deadline) throw new Error(`writer too slow:\n${stdout.slice(-500)}\n${stderr}`);
    await new Promise((done) => setTimeout(done, 5));
  }
  child.kill("SIGKILL");
  await closed;
  expect(child.signalCode).toBe("SIGKILL");
  return complete();
}

/** The last acknowledged op of each worker (-1: none). */
function lastAcks(lines: string[]): number[] {
  const last = Array<number>(WORKERS).fill(-1);
  for (const line of lines) {
    const match = /^ack (\d+) (\d+)$/.exec(line);
    if (!match) continue;
    const [w, j] = [Number(match[1]), Number(match[2])];
    expect(j).toBe(last[w]! + 1); // each worker's acks arrive in order
    last[w] = j;
  }
  return last;
}

/** The records of worker `w` after replaying its ops 0..`upTo`. */
function replay(prefix: string, w: number, upTo: number): Map<string, StoreState> {
  const records = new Map<string, StoreState>();
  for (let j = 0; j <= upTo; j++) {
    const { id, state } = opOf(prefix, w, j);
    if (state === undefined) records.delete(id);
    else records.set(id, state);
  }
  return records;
}

/**
 * Every acknowledged op is in `store`: each worker's ids hold the replay of
 * its acknowledged ops, or of one op more (the write in flight at the kill).
 */
async function expectAcknowledged(store: FileStore, prefix: string, last: number[]): Promise<void> {
  for (let w = 0; w < WORKERS; w++) {
    const actual = new Map<string, StoreState>();
    for (let k = 0; k < IDS_PER_WORKER; k++) {
      const id = `${prefix}w${w}-${k}`;
      const found = await store.get(id);
      if (found !== undefined) actual.set(id, found);
    }
    const acknowledged = replay(prefix, w, last[w]!);
    const withInFlight = replay(prefix, w, last[w]! + 1);
    // Plain objects: vitest's toContainEqual does not compare Map entries.
    const plain = (records: Map<string, StoreState>) => Object.fromEntries([...records].sort(([a], [b]) => a.localeCompare(b)));
    expect([plain(acknowledged), plain(withInFlight)], `worker ${w}, last acknowledged op ${last[w]}`).toContainEqual(plain(actual));
  }
}

/** Records the codes of process warnings instead of printing them. */
function captureWarnings(): { codes: string[]; stop: () => Promise<void> } {
  const codes: string[] = [];
  const spy = vi.spyOn(process, "emitWarning").mockImplementation(((_warning: string | Error, options?: { code?: string }) => {
    codes.push(options?.code ?? "");
  }) as typeof process.emitWarning);
  return { codes, stop: async () => spy.mockRestore() };
}

describe("FileStore crash safety", () => {
  it("keeps every acknowledged write of a process killed mid-burst, and cuts a torn tail", async () => {
    const output = await runAndKill("burst", "a", (lines) => lines.filter((line) => line.startsWith("ack")).length >= 1500);
    const last = lastAcks(output);
    expect(last.every((j) => j >= 0)).toBe(true);
    const path = join(dir, "sessions.fdb");

    // The killed writer left its lock: the next store takes it over, with a warning.
    const takeover = captureWarnings();
    const first = new FileStore({ fdbOpt: { dir } });
    await expectAcknowledged(first, "a", last);
    await takeover.stop();
    // (and a torn-tail warning, should the kill have cut a write short)
    expect(takeover.codes.filter((code) => code !== "KOA_IO_SESSION_FDB_TRUNCATED")).toEqual(["KOA_IO_SESSION_FDB_STALE_LOCK"]);
    const ids = await first.list();
    await first.close();
    expect(takeover.codes.filter((code) => code === "KOA_IO_SESSION_FDB_TRUNCATED").length).toBeLessThanOrEqual(1);
    // Whatever the kill interrupted, the loaded file now ends on a complete line.
    expect((await readFile(path, "utf8")).endsWith("\n")).toBe(true);

    // A crash mid-append, by hand: half a line at the end.
    const intact = (await stat(path)).size;
    await appendFile(path, '["torn",{"session":"{\\"count');
    const capture = captureWarnings();
    const second = new FileStore({ fdbOpt: { dir } });
    expect(await second.list()).toEqual(ids);
    await capture.stop();
    expect(capture.codes).toEqual(["KOA_IO_SESSION_FDB_TRUNCATED"]);
    expect((await stat(path)).size).toBe(intact);
    await expectAcknowledged(second, "a", last);

    const after: StoreState = { session: JSON.stringify({ after: true }), expiresAt: 4102444810000, ttl: 3600000 };
    await second.set("after-crash", after);
    await second.close();

    const again = captureWarnings();
    const third = new FileStore({ fdbOpt: { dir } });
    expect(await third.list()).toEqual([...ids, "after-crash"]);
    expect(await third.get("after-crash")).toEqual(after);
    expect(await third.get("torn")).toBeUndefined();
    await expectAcknowledged(third, "a", last);
    await third.close();
    await again.stop();
    expect(again.codes).toEqual([]);
  }, 90_000);

  it("a process killed while compacting in a loop leaves a loadable file with every acknowledged record", async () => {
    const prefixes = ["r0", "r1", "r2"];
    const acknowledged: number[][] = [];
    for (const [round, prefix] of prefixes.entries()) {
      // Kill after a different number of compactions each round, to land at different points.
      const output = await runAndKill("compact", prefix, (lines) => lines.filter((line) => line === "opt").length >= 2 + round * 3);
      expect(output[0]).toBe("ready");
      acknowledged.push(lastAcks(output));

      const takeover = captureWarnings();
      const store = new FileStore({ fdbOpt: { dir } });
      for (const [earlier, done] of acknowledged.entries()) {
        await expectAcknowledged(store, prefixes[earlier]!, done);
      }
      await takeover.stop();
      expect(takeover.codes.filter((code) => code !== "KOA_IO_SESSION_FDB_TRUNCATED")).toEqual(["KOA_IO_SESSION_FDB_STALE_LOCK"]);
      for (const earlier of prefixes.slice(0, round + 1)) {
        for (let i = 0; i < PRELOAD; i++) expect(await store.get(`${earlier}p-${i}`)).toEqual(preloaded(i, earlier));
      }
      const live = (await store.list()).length;
      expect(live).toBeGreaterThanOrEqual((round + 1) * PRELOAD);
      // A temp file of an interrupted compaction is gone once the file is loaded; the lock is ours until close.
      expect(await readdir(dir)).toEqual(["sessions.fdb", "sessions.fdb.lock"]);
      await store.close();
      expect(await readdir(dir)).toEqual(["sessions.fdb"]);
    }
  }, 120_000);
});
