import { copyFile, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { COMPACT_MIN_LINES, FileStore, type FileStoreOptions } from "../../src/fdb.js";
import { ms, type StoreState } from "../../src/index.js";
import { decrypt, encrypt, FIXTURE_KEY } from "../helpers/fileStoreCipher.js";
import { FakeFdb } from "../helpers/fileStoreFakeDb.js";
import { recordEvents } from "../helpers/storeFixtures.js";
import { closeAll, CookieJar, startServer } from "../helpers/server.js";
import { storeContract } from "./contract.js";

const FIXTURES = resolve(import.meta.dirname, "../fixtures/fdb");
const FAR = 4102444810000; // the fixtures' expiresAt (year 2100)

let dir: string;
const opened: FileStore[] = [];

/** A FileStore in this test's temp dir, closed after the test. */
function open(opt: FileStoreOptions = {}): FileStore {
  const store = new FileStore({ ...opt, fdbOpt: { dir, ...opt.fdbOpt } });
  opened.push(store);
  return store;
}

function state(session: Record<string, unknown>, expiresIn = ms.h()): StoreState {
  return { session: JSON.stringify(session), expiresAt: Date.now() + expiresIn, ttl: Math.max(expiresIn, 1000) };
}

const line = (id: string, value?: StoreState): string => `${JSON.stringify(value === undefined ? [id] : [id, value])}\n`;

async function lines(path: string): Promise<string[]> {
  return (await readFile(path, "utf8")).split("\n").filter((row) => row !== "");
}

/** Copies a fixture into the temp dir as `<name>.fdb` and returns its path. */
async function fixture(file: string, name = "sessions"): Promise<string> {
  const target = join(dir, `${name}.fdb`);
  await copyFile(join(FIXTURES, file), target);
  return target;
}

/** Collects process warnings until `stop()`; they are emitted on the next tick. */
function captureWarnings(): { warnings: (Error & { code?: string })[]; stop: () => Promise<void> } {
  const warnings: (Error & { code?: string })[] = [];
  const listener = (warning: Error) => warnings.push(warning);
  process.on("warning", listener);
  return {
    warnings,
    stop: async () => {
      await new Promise((done) => setImmediate(done));
      process.off("warning", listener);
    },
  };
}

/** The fixture's live records, as `sessions.fdb` and its encrypted copy hold them. */
const FIXTURE_RECORDS = {
  s1: { session: JSON.stringify({ user: "bob" }), expiresAt: FAR, ttl: 86410000 },
  s3: { session: JSON.stringify({ count: 7 }), expiresAt: FAR, ttl: 86410000 },
};

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "koa-io-session-fdb-"));
});

afterEach(async () => {
  await closeAll();
  for (const store of opened.splice(0)) await store.close();
  await rm(dir, { recursive: true, force: true });
});

describe("FileStore options", () => {
  it("defaults to sessions.fdb in the working directory and creates nothing before first use", async () => {
    expect(new FileStore().path).toBe(resolve("sessions.fdb"));
    const store = open({ fdbOpt: { dir: join(dir, "nested", "deeper") } });
    expect(store.path).toBe(join(dir, "nested", "deeper", "sessions.fdb"));
    expect(await readdir(dir)).toEqual([]);
    await store.set("a", state({ v: 1 }));
    // The file and its lock, held while the store is open.
    expect(await readdir(join(dir, "nested", "deeper"))).toEqual(["sessions.fdb", "sessions.fdb.lock"]);
  });

  it("takes the file name and extension from the options", () => {
    expect(open({ fileName: "auth", fdbOpt: { extension: "log" } }).path).toBe(join(dir, "auth.log"));
    expect(open({ fileName: "auth", fdbOpt: { extension: ".db" } }).path).toBe(join(dir, "auth.db"));
  });

  it.each([
    [{ fileName: "" }, TypeError, `[koa-io-session] Invalid 'fileName': expected a non-empty string, received "".`],
    [{ fileName: 7 }, TypeError, `[koa-io-session] Invalid 'fileName': expected a non-empty string, received 7.`],
    [{ fdb: {} }, TypeError, `[koa-io-session] Invalid 'fdb': expected a file-db instance (an object with link() or get()), received an object.`],
    [{ fdbOpt: "./data" }, TypeError, `[koa-io-session] Invalid 'fdbOpt': expected an object, received "./data".`],
    [{ fdbOpt: { dir: "" } }, TypeError, `[koa-io-session] Invalid 'fdbOpt.dir': expected a non-empty string, received "".`],
    [{ fdbOpt: { extension: 1 } }, TypeError, `[koa-io-session] Invalid 'fdbOpt.extension': expected a string, received 1.`],
    [{ fdbOpt: { encoding: "klingon" } }, TypeError, `[koa-io-session] Invalid 'fdbOpt.encoding': expected a Buffer encoding such as "utf8", received "klingon".`],
    [{ fdbOpt: { encrypt: "aes" } }, TypeError, `[koa-io-session] Invalid 'fdbOpt.encrypt': expected a function, received "aes".`],
    [{ fdbOpt: { encrypt } }, TypeError, `[koa-io-session] Invalid 'fdbOpt.decrypt': expected a function when 'fdbOpt.encrypt' is set, received undefined.`],
    [{ fdbOpt: { decrypt } }, TypeError, `[koa-io-session] Invalid 'fdbOpt.encrypt': expected a function when 'fdbOpt.decrypt' is set, received undefined.`],
    [{ fsync: "yes" }, TypeError, `[koa-io-session] Invalid 'fsync': expected a boolean, received "yes".`],
  ])("rejects %j", (opt, type, text) => {
    const build = () => new FileStore(opt as FileStoreOptions);
    expect(build).toThrow(type);
    expect(build).toThrow(text);
  });
});

describe("FileStore records", () => {
  it("round-trips a state and appends it as one [id, state] line", async () => {
    const store = open();
    const written = state({ user: "ann", nested: { list: [1, 2] } });
    expect(await store.set("a", written)).toBe(true);
    expect(await store.get("a")).toEqual(written);
    expect(await store.get("missing")).toBeUndefined();
    expect(await readFile(store.path!, "utf8")).toBe(line("a", written));
  });

  it("with fsync, writes are acknowledged and reload the same", async () => {
    const store = open({ fsync: true });
    const value = state({ v: 1 });
    await store.set("a", value);
    await store.set("b", value);
    await store.destroy("b");
    await store.close();
    expect(await readFile(store.path!, "utf8")).toBe(line("a", value) + line("b", value) + line("b"));
    expect(await open().list()).toEqual(["a"]);
  });

  it("destroy appends an [id] line, resolves whether the record existed and writes nothing for unknown ids", async () => {
    const store = open();
    const first = state({ v: 1 });
    await store.set("a", first);
    expect(await store.destroy("a")).toBe(true);
    expect(await store.get("a")).toBeUndefined();
    expect(await store.destroy("a")).toBe(false);
    expect(await store.destroy("never")).toBe(false);
    expect(await readFile(store.path!, "utf8")).toBe(line("a", first) + line("a"));
  });

  it("the last line of an id wins, also after a restart", async () => {
    const store = open();
    const [one, two, three] = [state({ v: 1 }), state({ v: 2 }), state({ v: 3 })];
    await store.set("a", one);
    await store.set("b", two);
    await store.set("a", three);
    expect(await store.get("a")).toEqual(three);
    await store.close();
    const reopened = open();
    expect(await reopened.get("a")).toEqual(three);
    expect(await reopened.get("b")).toEqual(two);
  });

  it("list returns the live ids", async () => {
    const store = open();
    expect(await store.list()).toEqual([]);
    await store.set("a", state({}));
    await store.set("b", state({}));
    await store.set("c", state({}));
    await store.destroy("b");
    expect(await store.list()).toEqual(["a", "c"]);
  });

  it("a new FileStore on the same file sees every write and delete of the previous one", async () => {
    const store = open();
    const kept = new Map<string, StoreState>();
    for (let i = 0; i < 50; i++) {
      const value = state({ i });
      await store.set(`id-${i}`, value);
      kept.set(`id-${i}`, value);
    }
    for (let i = 0; i < 50; i += 3) {
      await store.destroy(`id-${i}`);
      kept.delete(`id-${i}`);
    }
    await store.close();
    const reopened = open();
    expect(await reopened.list()).toEqual([...kept.keys()]);
    for (const [id, value] of kept) expect(await reopened.get(id)).toEqual(value);
  });

  it("concurrent first calls share one load", async () => {
    await writeFile(join(dir, "sessions.fdb"), line("a", state({ v: 1 })));
    const store = open();
    const [first, second, ids] = await Promise.all([store.get("a"), store.get("a"), store.list()]);
    expect(first).toEqual(expect.objectContaining({ session: JSON.stringify({ v: 1 }) }));
    // One load means one parsed object; two loads would have parsed the line twice.
    expect(second).toBe(first);
    expect(ids).toEqual(["a"]);
  });

  it("concurrent writes land in the file in call order", async () => {
    const store = open();
    const values = Array.from({ length: 300 }, (_, i) => state({ i }));
    await Promise.all(values.map((value, i) => (i % 7 === 6 ? store.destroy(`id-${i - 1}`) : store.set(`id-${i}`, value))));
    const expected = values.map((value, i) => (i % 7 === 6 ? line(`id-${i - 1}`) : line(`id-${i}`, value))).join("");
    expect(await readFile(store.path!, "utf8")).toBe(expected);
  });

  it("reads see a write as soon as it is called, before it resolves", async () => {
    const store = open();
    await store.list();
    const value = state({ v: 1 });
    const writing = store.set("a", value);
    expect(await store.get("a")).toEqual(value);
    await writing;
  });

  it("close waits for pending writes, then later calls reject; close is idempotent", async () => {
    const store = open();
    const value = state({ v: 1 });
    const writing = store.set("a", value);
    await store.close();
    await expect(writing).resolves.toBe(true);
    expect(await readFile(store.path!, "utf8")).toBe(line("a", value));
    await store.close();
    const closed = `[koa-io-session] FileStore "${store.path}" is closed.`;
    await expect(store.get("a")).rejects.toThrow(closed);
    await expect(store.set("b", value)).rejects.toThrow(closed);
  });

  it("a set whose encrypt hook returns a line break rejects and changes nothing", async () => {
    const store = open({ fdbOpt: { encrypt: (json) => `${json}\n`, decrypt: (text) => text } });
    await expect(store.set("a", state({}))).rejects.toThrow(
      new TypeError("[koa-io-session] 'fdbOpt.encrypt' must return a string without line breaks."),
    );
    expect(await store.get("a")).toBeUndefined();
    expect(await readFile(store.path!, "utf8")).toBe("");
  });
});

describe("FileStore file format", () => {
  it("loads a hand-written file-db file with overwrites and deletes", async () => {
    await fixture("sessions.fdb");
    const store = open();
    expect(await store.list()).toEqual(["s1", "s3"]);
    expect(await store.get("s1")).toEqual(FIXTURE_RECORDS.s1);
    expect(await store.get("s3")).toEqual(FIXTURE_RECORDS.s3);
    expect(await store.get("s2")).toBeUndefined();
    expect(await store.get("s4")).toBeUndefined();
  });

  it("loads the encrypted fixture with the decrypt hook and writes encrypted lines", async () => {
    const path = await fixture("sessions-encrypted.fdb");
    const seen: unknown[] = [];
    const store = open({ fdbOpt: { encrypt, decrypt: (text, key) => (seen.push(key), decrypt(text, key)), key: FIXTURE_KEY } });
    expect(await store.list()).toEqual(["s1", "s3"]);
    expect(await store.get("s1")).toEqual(FIXTURE_RECORDS.s1);
    expect(await store.get("s3")).toEqual(FIXTURE_RECORDS.s3);
    expect(seen).toEqual(Array(7).fill(FIXTURE_KEY));
    const value = state({ secret: "plain-text-marker" });
    await store.set("s5", value);
    const rows = await lines(path);
    expect(rows).toHaveLength(8);
    expect(rows[7]).not.toContain("plain-text-marker");
    expect(decrypt(rows[7]!, FIXTURE_KEY)).toBe(JSON.stringify(["s5", value]));
  });

  it("refuses an encrypted file read with the wrong key, naming the file and first line", async () => {
    const path = await fixture("sessions-encrypted.fdb");
    const before = await readFile(path, "utf8");
    const store = open({ fdbOpt: { encrypt, decrypt, key: "wrong" } });
    await expect(store.list()).rejects.toThrow(`[koa-io-session] Cannot load "${path}": line 1 is not a valid record`);
    expect(await readFile(path, "utf8")).toBe(before);
  });

  it("refuses to load a file with a corrupt middle line, naming the file and line, and leaves it untouched", async () => {
    const path = await fixture("corrupt-middle.fdb");
    const before = await readFile(path, "utf8");
    const store = open();
    const failure = store.get("s1");
    await expect(failure).rejects.toThrow(Error);
    await expect(failure).rejects.toThrow(`[koa-io-session] Cannot load "${path}": line 3 is not a valid record; fix or remove that line.`);
    // Still refused on the next call: nothing was dropped or truncated.
    await expect(store.set("s9", state({}))).rejects.toThrow(`line 3 is not a valid record`);
    expect(await readFile(path, "utf8")).toBe(before);
  });

  it("refuses a complete (newline-terminated) last line that is not a record", async () => {
    const path = await fixture("bad-last-line.fdb");
    const store = open();
    await expect(store.list()).rejects.toThrow(`[koa-io-session] Cannot load "${path}": line 2 is not a valid record`);
  });

  it("keeps a complete last record that lacks its newline and appends after it on a new line", async () => {
    const path = await fixture("no-final-newline.fdb");
    const store = open();
    expect(await store.list()).toEqual(["s1", "s2"]);
    expect(JSON.parse((await store.get("s1"))!.session)).toEqual({ count: 3 });
    await store.set("s4", state({ count: 4 }));
    expect((await lines(path)).map((row) => JSON.parse(row)[0])).toEqual(["s1", "s2", "s1", "s4"]);
  });

  it("cuts a torn last line off with a warning, and later appends and loads never meet it", async () => {
    const path = await fixture("torn-tail.fdb");
    const original = await readFile(path, "utf8");
    const intact = original.slice(0, original.lastIndexOf("\n") + 1);
    const capture = captureWarnings();
    const store = open();
    expect(await store.list()).toEqual(["s1", "s2"]);
    await capture.stop();
    const torn = capture.warnings.filter((w) => w.code === "KOA_IO_SESSION_FDB_TRUNCATED");
    expect(torn).toHaveLength(1);
    expect(torn[0]!.message).toBe(
      `[koa-io-session] "${path}" ended with a torn line (line 3); the file was truncated to its last complete line.`,
    );
    expect(await readFile(path, "utf8")).toBe(intact);
    const value = state({ count: 3 });
    await store.set("s3", value);
    expect(await readFile(path, "utf8")).toBe(intact + line("s3", value));
    await store.close();
    const again = captureWarnings();
    const reopened = open();
    expect(await reopened.list()).toEqual(["s1", "s2", "s3"]);
    expect(await reopened.get("s3")).toEqual(value);
    await again.stop();
    expect(again.warnings.filter((w) => w.code === "KOA_IO_SESSION_FDB_TRUNCATED")).toHaveLength(0);
  });

  it("reads and writes the configured encoding", async () => {
    const store = open({ fdbOpt: { encoding: "utf16le" } });
    const value = state({ name: "Žluťoučký kůň" });
    await store.set("a", value);
    expect((await readFile(store.path!)).toString("utf16le")).toBe(line("a", value));
    await store.close();
    expect(await open({ fdbOpt: { encoding: "utf16le" } }).get("a")).toEqual(value);
  });
});

describe("FileStore compaction", () => {
  async function churn(store: FileStore): Promise<Map<string, StoreState>> {
    const live = new Map<string, StoreState>();
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 40; i++) {
        const value = state({ round, i });
        await store.set(`id-${i}`, value);
        live.set(`id-${i}`, value);
      }
    }
    for (let i = 0; i < 40; i += 4) {
      await store.destroy(`id-${i}`);
      live.delete(`id-${i}`);
    }
    return live;
  }

  it("optimize rewrites the file to one line per live record with the same content", async () => {
    const store = open();
    const live = await churn(store);
    expect(await lines(store.path!)).toHaveLength(210);
    await store.optimize(0);
    expect(await readdir(dir)).toEqual(["sessions.fdb", "sessions.fdb.lock"]);
    const rows = await lines(store.path!);
    expect(rows).toEqual([...live].map(([id, value]) => JSON.stringify([id, value])));
    expect(await store.list()).toEqual([...live.keys()]);
    // Appends go to the new file.
    const extra = state({ extra: true });
    await store.set("extra", extra);
    await store.close();
    const reopened = open();
    expect(await reopened.list()).toEqual([...live.keys(), "extra"]);
    for (const [id, value] of live) expect(await reopened.get(id)).toEqual(value);
    expect(await reopened.get("extra")).toEqual(extra);
  });

  it("keeps the writes and deletes made while a compaction runs", async () => {
    const store = open();
    const expected = new Map<string, StoreState>();
    const set = (id: string, value: StoreState) => (expected.set(id, value), store.set(id, value));
    const destroy = (id: string) => (expected.delete(id), store.destroy(id));
    await Promise.all(Array.from({ length: 3000 }, (_, i) => set(`id-${i}`, state({ i, pad: "p".repeat(200) }))));
    for (let round = 0; round < 4; round++) {
      const pending: Promise<unknown>[] = [];
      for (let i = 0; i < 300; i++) pending.push(set(`id-${(i * 7 + round) % 3000}`, state({ round, i })));
      let compacted = false;
      pending.push(store.optimize(0).then(() => (compacted = true)));
      for (let i = 0; i < 300; i++) {
        pending.push(i % 5 === 0 ? destroy(`id-${(i * 11 + round) % 3000}`) : set(`id-${(i * 13 + round) % 3000}`, state({ round, i, late: true })));
      }
      // Some more once the compaction is under way (its temp file exists).
      pending.push((async () => {
        while (!compacted && !(await readdir(dir)).some((name) => name.includes(".tmp-"))) await new Promise((done) => setImmediate(done));
        for (let i = 0; i < 100; i++) await set(`late-${round}-${i}`, state({ round, i }));
      })());
      await Promise.all(pending);
    }
    expect(new Map(await Promise.all((await store.list()).map(async (id) => [id, await store.get(id)] as const)))).toEqual(expected);
    await store.close();
    expect(await readdir(dir)).toEqual(["sessions.fdb"]);
    const reopened = open();
    const ids = await reopened.list();
    expect(ids.sort()).toEqual([...expected.keys()].sort());
    for (const [id, value] of expected) expect(await reopened.get(id)).toEqual(value);
  });

  it("optimize leaves an already compact file alone", async () => {
    const store = open();
    await store.set("a", state({ v: 1 }));
    await store.set("b", state({ v: 2 }));
    const before = await readFile(store.path!, "utf8");
    await store.optimize(0);
    expect(await readFile(store.path!, "utf8")).toBe(before);
  });

  it("compacts by itself once the file has more than 1000 lines and 4 lines per live record", async () => {
    const store = open();
    let last: StoreState | undefined;
    for (let i = 0; i < COMPACT_MIN_LINES + 100; i++) {
      last = state({ i });
      await store.set("hot", last);
    }
    await store.close();
    const rows = await lines(store.path!);
    expect(rows.length).toBeLessThan(200);
    expect(rows.at(-1)).toBe(JSON.stringify(["hot", last]));
    expect(await open().get("hot")).toEqual(last);
  });

  it("does not compact a large file that is mostly live", async () => {
    const store = open();
    const count = COMPACT_MIN_LINES + 100;
    await Promise.all(Array.from({ length: count }, (_, i) => store.set(`id-${i}`, state({ i }))));
    await store.set("id-0", state({ again: true }));
    await store.close();
    expect(await lines(store.path!)).toHaveLength(count + 1);
  });

  it("compacts a loaded file that is already past the rule", async () => {
    const value = state({ v: 1 });
    const rows = Array.from({ length: COMPACT_MIN_LINES + 1 }, (_, i) => line("hot", state({ i })));
    await writeFile(join(dir, "sessions.fdb"), rows.join("") + line("hot", value));
    const store = open();
    expect(await store.get("hot")).toEqual(value);
    await store.close();
    expect(await readFile(store.path!, "utf8")).toBe(line("hot", value));
  });

  it("a failed compaction rejects optimize and leaves the old file in use", async () => {
    let failing = false;
    const store = open({
      fdbOpt: {
        encrypt: (json, key) => {
          if (failing) throw new Error("cipher unavailable");
          return encrypt(json, key);
        },
        decrypt,
        key: "k",
      },
    });
    const values = [state({ v: 1 }), state({ v: 2 }), state({ v: 3 })];
    for (const value of values) await store.set("a", value);
    const before = await readFile(store.path!, "utf8");
    failing = true;
    await expect(store.optimize(0)).rejects.toThrow("cipher unavailable");
    expect(await readFile(store.path!, "utf8")).toBe(before);
    expect(await readdir(dir)).toEqual(["sessions.fdb", "sessions.fdb.lock"]);
    failing = false;
    const last = state({ v: 4 });
    await store.set("b", last);
    await store.close();
    const reopened = open({ fdbOpt: { encrypt, decrypt, key: "k" } });
    expect(await reopened.get("a")).toEqual(values[2]);
    expect(await reopened.get("b")).toEqual(last);
    expect(await lines(store.path!)).toHaveLength(4);
  });

  it("removes temp files left by an interrupted compaction when it loads", async () => {
    const value = state({ v: 1 });
    await writeFile(join(dir, "sessions.fdb"), line("a", value));
    await writeFile(join(dir, "sessions.fdb.tmp-0123456789ab"), line("half", value).slice(0, 20));
    await writeFile(join(dir, "other.fdb.tmp-0123456789ab"), "not ours");
    const store = open();
    expect(await store.list()).toEqual(["a"]);
    expect((await readdir(dir)).sort()).toEqual(["other.fdb.tmp-0123456789ab", "sessions.fdb", "sessions.fdb.lock"]);
  });

  it("the bridge's cleanup destroys expired records and then compacts the file", async () => {
    const store = open();
    const server = await startServer({ store });
    const jar = new CookieJar();
    await server.get("/inc", jar);
    const sessionId = jar.get("test.sid")!;
    for (let i = 0; i < 5; i++) await store.set(`old-${i}`, state({ i }, -5000));
    const events = recordEvents(server.bridge);
    expect(await server.bridge.cleanup()).toBe(5);
    expect(events.cleanup).toEqual([5]);
    expect(await store.list()).toEqual([sessionId]);
    const rows = await lines(store.path!);
    expect(rows).toHaveLength(1);
    expect(JSON.parse(rows[0]!)[0]).toBe(sessionId);
  });
});

describe("FileStore over a file-db instance (fdb)", () => {
  it("links the file with fdbOpt, verifies and indexes it once, and writes records and deletes through it", async () => {
    const fdb = new FakeFdb();
    const fdbOpt = { dir: "/somewhere", key: "k" };
    const store = new FileStore({ fileName: "auth", fdb, fdbOpt });
    opened.push(store);
    expect(store.path).toBeUndefined();
    expect(fdb.linkCalls).toEqual([]);
    const value = state({ v: 1 });
    await Promise.all([store.set("a", value), store.set("b", value), store.get("a")]);
    expect(fdb.linkCalls).toEqual([["auth", fdbOpt]]);
    const file = fdb.files.get("auth")!;
    expect(await store.destroy("b")).toBe(true);
    expect(file.calls).toEqual(["verify", "index", "write a", "write b", "write b (delete)"]);
    expect(file.lines).toEqual([JSON.stringify(["a", value]), JSON.stringify(["b", value]), JSON.stringify(["b"])]);
    await store.optimize(1);
    expect(file.calls.at(-1)).toBe("optimize");
    expect(file.lines).toEqual([JSON.stringify(["a", value])]);
    // The directory is the instance's business: nothing was written to disk here.
    expect(await readdir(dir)).toEqual([]);
  });

  it("uses an already linked file and loads its records", async () => {
    const fdb = new FakeFdb();
    const file = fdb.link("sessions");
    const value = state({ v: 2 });
    file.lines = [JSON.stringify(["x", state({ v: 1 })]), JSON.stringify(["y", value]), JSON.stringify(["x"])];
    const store = new FileStore({ fdb });
    opened.push(store);
    expect(await store.list()).toEqual(["y"]);
    expect(await store.get("y")).toEqual(value);
    expect(fdb.linkCalls).toHaveLength(1);
  });

  it("a failed write rejects and the next call reloads the index", async () => {
    const fdb = new FakeFdb();
    const store = new FileStore({ fdb });
    opened.push(store);
    const kept = state({ v: 1 });
    await store.set("a", kept);
    const file = fdb.files.get("sessions")!;
    file.failWrites = new Error("disk full");
    await expect(store.set("b", state({ v: 2 }))).rejects.toThrow("disk full");
    file.failWrites = undefined;
    expect(await store.list()).toEqual(["a"]);
    expect(file.calls.filter((call) => call === "index")).toHaveLength(2);
  });

  it("rejects an instance whose file lacks index() or write()", async () => {
    const store = new FileStore({ fdb: { link: () => ({ index: () => new Map() }) } as never });
    opened.push(store);
    await expect(store.list()).rejects.toThrow(
      new TypeError(`[koa-io-session] Invalid 'fdb': expected a file-db instance whose file "sessions" has index() and write(), received an object.`),
    );
  });
});

describe("FileStore end to end", () => {
  for (const transport of ["websocket", "polling"] as const) {
    it(`a restarted server on the same file re-attaches the session over HTTP and a socket (${transport})`, async () => {
      const first = open();
      const before = await startServer({ store: first });
      const jar = new CookieJar();
      const created = await before.get("/inc", jar);
      expect(created.body.session).toEqual({ count: 1 });
      const clientId = jar.get("test.sid.cid")!;
      const sessionId = jar.get("test.sid")!;
      expect(await first.get(sessionId)).toBeDefined();
      await before.close();
      await first.close();

      // The socket arrives first after the restart: its handshake re-attaches the pair.
      const second = open();
      const afterSocket = await startServer({ store: second });
      const socketEvents = recordEvents(afterSocket.bridge);
      const socket = await afterSocket.connect(jar, { transports: [transport] });
      expect(await socket.emitWithAck("whoami")).toEqual({ clientId, sessionId });
      expect(socketEvents.set).toEqual([{ clientId, sessionId, isNew: false, isInit: true }]);
      expect(await socket.emitWithAck("session:inc")).toBe(2);
      await afterSocket.close();
      await second.close();

      // HTTP arrives first after the next restart.
      const third = open();
      const afterHttp = await startServer({ store: third });
      const httpEvents = recordEvents(afterHttp.bridge);
      const res = await afterHttp.get("/session", jar);
      expect(res.body).toEqual({ clientId, sessionId, session: { count: 2 } });
      expect(httpEvents.set).toEqual([{ clientId, sessionId, isNew: false, isInit: true }]);
      const again = await afterHttp.connect(jar, { transports: [transport] });
      expect(await again.emitWithAck("session:get")).toEqual({ sessionId, session: { count: 2 } });
      expect(JSON.parse((await third.get(sessionId))!.session)).toMatchObject({ count: 2 });
    });
  }
});

storeContract(
  "FileStore",
  async () => {
    const home = await mkdtemp(join(tmpdir(), "koa-io-session-fdb-contract-"));
    const stores = [new FileStore({ fdbOpt: { dir: home } })];
    return {
      store: stores[0]!,
      reopen: async () => {
        await stores.at(-1)!.close();
        stores.push(new FileStore({ fdbOpt: { dir: home } }));
        return stores.at(-1)!;
      },
      cleanup: async () => {
        for (const store of stores) await store.close();
        await rm(home, { recursive: true, force: true });
      },
    };
  },
  { list: true, optimize: true },
);

storeContract(
  "FileStore over a file-db instance",
  () => {
    const fdb = new FakeFdb();
    return { store: new FileStore({ fdb }), reopen: () => new FileStore({ fdb }) };
  },
  { list: true, optimize: true },
);
