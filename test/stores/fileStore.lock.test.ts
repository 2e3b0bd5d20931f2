import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { FileStore } from "../../src/fdb.js";
import type { StoreState } from "../../src/index.js";
import { ensureBuilt } from "../helpers/build.js";

const ROOT = resolve(import.meta.dirname, "../..");
const HOLDER = join(ROOT, "test/helpers/fileStoreHolder.mjs");
const FAR = 4102444810000;

// Mirrors test/helpers/fileStoreHolder.mjs.
const holderState = (i: number): StoreState => ({ session: JSON.stringify({ i, pad: "h".repeat(200) }), expiresAt: FAR, ttl: 3600000 });

let dir: string;
let path: string;
const opened: FileStore[] = [];
const children: ChildProcess[] = [];

function open(): FileStore {
  const store = new FileStore({ fdbOpt: { dir } });
  opened.push(store);
  return store;
}

const inUse = (pid: number, host = hostname(), self = false) =>
  `[koa-io-session] FileStore "${path}" is in use by ${self ? `this process (process ${pid} on ${host}: another FileStore on the same file)` : `process ${pid} on ${host}`}; open one FileStore per file (use koa-io-session/redis to share sessions between processes).`;

/** Captures process warnings (code and message) instead of printing them. */
function captureWarnings(): { warnings: { code: string | undefined; message: string }[]; restore: () => void } {
  const warnings: { code: string | undefined; message: string }[] = [];
  const spy = vi.spyOn(process, "emitWarning").mockImplementation(((warning: string | Error, options?: { code?: string }) => {
    warnings.push({ code: options?.code, message: String(warning) });
  }) as typeof process.emitWarning);
  return { warnings, restore: () => spy.mockRestore() };
}

/** A holder child; resolves once it printed `ready`. `send` writes a command and waits for the reply matching `reply`. */
async function startHolder(count: number) {
  const child = spawn(process.execPath, [HOLDER, dir, String(count)], { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] });
  children.push(child);
  let stdout = "";
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const waitFor = (pattern: RegExp) =>
    new Promise<void>((done, fail) => {
      const check = () => {
        if (pattern.test(stdout)) {
          child.stdout!.off("data", onData);
          child.off("exit", onExit);
          done();
        }
      };
      const onData = (chunk: Buffer) => ((stdout += chunk.toString()), check());
      const onExit = (code: number | null) => fail(new Error(`holder exited (${code}):\n${stderr}`));
      child.stdout!.on("data", onData);
      child.once("exit", onExit);
      check();
    });
  await waitFor(new RegExp(`^ready ${count}$`, "m"));
  return {
    child,
    send: async (command: string, reply: RegExp) => {
      child.stdin!.write(`${command}\n`);
      await waitFor(reply);
    },
  };
}

/** A PID that no process has: a child that has already exited. */
function deadPid(): number {
  const { pid } = spawnSync(process.execPath, ["-e", ""]);
  return pid!;
}

async function writeLock(holder: Record<string, unknown>): Promise<void> {
  const now = new Date().toISOString();
  await writeFile(`${path}.lock`, JSON.stringify({ hostname: hostname(), startedAt: now, lockedAt: now, token: "t0", ...holder }));
}

async function expectAll(store: FileStore, count: number): Promise<void> {
  const ids = await store.list();
  expect(ids).toHaveLength(count);
  for (let i = 0; i < count; i++) expect(await store.get(`h-${i}`)).toEqual(holderState(i));
}

beforeAll(() => {
  ensureBuilt();
}, 150_000);

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "koa-io-session-fdb-lock-"));
  path = join(dir, "sessions.fdb");
});

afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  for (const store of opened.splice(0)) await store.close();
  await rm(dir, { recursive: true, force: true });
});

describe("FileStore ownership across processes", () => {
  it("a second process gets an error naming the holder, writes nothing, and the holder's sessions all survive", async () => {
    const holder = await startHolder(2000);
    const lock = JSON.parse(await readFile(`${path}.lock`, "utf8"));
    expect(lock).toMatchObject({ pid: holder.child.pid, hostname: hostname() });
    expect(Date.parse(lock.startedAt)).toBeLessThanOrEqual(Date.parse(lock.lockedAt));
    const before = await readFile(path);

    const second = open();
    const refused = inUse(holder.child.pid!);
    await expect(second.list()).rejects.toThrow(refused);
    await expect(second.optimize(0)).rejects.toThrow(refused);
    await expect(second.set("intruder", holderState(-1))).rejects.toThrow(refused);
    await expect(second.destroy("h-0")).rejects.toThrow(refused);
    await expect(second.get("h-0")).rejects.toMatchObject({ code: "KOA_IO_SESSION_FDB_IN_USE" });
    expect((await readFile(path)).equals(before)).toBe(true);
    expect(JSON.parse(await readFile(`${path}.lock`, "utf8"))).toEqual(lock);

    await holder.send("write 500", /^acked 2500$/m);
    await holder.send("close", /^closed$/m);
    await new Promise((done) => (holder.child.exitCode === null ? holder.child.once("exit", done) : done(undefined)));
    expect(holder.child.exitCode).toBe(0);
    expect(await readdir(dir)).toEqual(["sessions.fdb"]);
    // Refused once, refused for good: this store never loaded the file.
    await expect(second.get("h-0")).rejects.toThrow(refused);

    const reopened = open();
    await expectAll(reopened, 2500);
    expect(await reopened.get("intruder")).toBeUndefined();
  }, 60_000);

  it("the lock of a holder killed with SIGKILL is taken over by the next process, with a warning", async () => {
    const holder = await startHolder(1500);
    const pid = holder.child.pid!;
    holder.child.kill("SIGKILL");
    await new Promise((done) => holder.child.once("exit", done));
    expect(JSON.parse(await readFile(`${path}.lock`, "utf8")).pid).toBe(pid);

    const capture = captureWarnings();
    const next = open();
    try {
      await expectAll(next, 1500);
    } finally {
      capture.restore();
    }
    expect(capture.warnings).toHaveLength(1);
    expect(capture.warnings[0]!.code).toBe("KOA_IO_SESSION_FDB_STALE_LOCK");
    expect(capture.warnings[0]!.message).toContain(`took over the lock of process ${pid} on ${hostname()}`);
    expect(JSON.parse(await readFile(`${path}.lock`, "utf8")).pid).toBe(process.pid);
    await next.close();
    expect(await readdir(dir)).toEqual(["sessions.fdb"]);
  }, 60_000);
});

describe("FileStore ownership in one process", () => {
  it("a second store on the same file fails every call, writes nothing, and stays refused after the first closes", async () => {
    const first = open();
    await first.set("a", holderState(1));
    const second = open();
    const refused = inUse(process.pid, hostname(), true);
    await expect(second.get("a")).rejects.toThrow(refused);
    await expect(second.set("b", holderState(2))).rejects.toThrow(refused);
    await expect(second.optimize(0)).rejects.toThrow(refused);
    expect(await readFile(path, "utf8")).toBe(`${JSON.stringify(["a", holderState(1)])}\n`);
    await first.set("c", holderState(3));
    await first.close();
    await expect(second.list()).rejects.toThrow(refused);
    const third = open();
    expect(await third.list()).toEqual(["a", "c"]);
  });

  it("two stores starting at once on a dead holder's lock: exactly one takes it over", async () => {
    await writeFile(path, `${JSON.stringify(["a", holderState(1)])}\n`);
    const pid = deadPid();
    await writeLock({ pid });
    const capture = captureWarnings();
    const stores = [open(), open(), open()];
    let results: PromiseSettledResult<string[]>[];
    try {
      results = await Promise.allSettled(stores.map((store) => store.list()));
    } finally {
      capture.restore();
    }
    expect(results.filter((result) => result.status === "fulfilled").map((result) => (result as PromiseFulfilledResult<string[]>).value)).toEqual([["a"]]);
    const rejected = results.filter((result) => result.status === "rejected") as PromiseRejectedResult[];
    expect(rejected.map((result) => (result.reason as Error).message)).toEqual([inUse(process.pid, hostname(), true), inUse(process.pid, hostname(), true)]);
    expect(capture.warnings.map((warning) => warning.code)).toEqual(["KOA_IO_SESSION_FDB_STALE_LOCK"]);
    expect(capture.warnings[0]!.message).toContain(`process ${pid}`);
    expect((await readdir(dir)).sort()).toEqual(["sessions.fdb", "sessions.fdb.lock"]);
  });

  it("takes over a lock whose PID is alive but belongs to a later process (PID reused)", async () => {
    // Our own PID with another start time: a previous process that had this PID (a restarted container).
    await writeLock({ pid: process.pid, startedAt: new Date(Date.now() - 3_600_000).toISOString() });
    const capture = captureWarnings();
    try {
      expect(await open().list()).toEqual([]);
    } finally {
      capture.restore();
    }
    expect(capture.warnings.map((warning) => warning.code)).toEqual(["KOA_IO_SESSION_FDB_STALE_LOCK"]);
  });

  it.runIf(process.platform === "linux")("takes over a lock whose PID now belongs to a process with another start time (Linux /proc)", async () => {
    await writeLock({ pid: process.ppid, procStart: 1 });
    const capture = captureWarnings();
    try {
      expect(await open().list()).toEqual([]);
    } finally {
      capture.restore();
    }
    expect(capture.warnings.map((warning) => warning.code)).toEqual(["KOA_IO_SESSION_FDB_STALE_LOCK"]);
  });

  it("refuses a lock whose PID is alive with the recorded start time", async () => {
    await writeLock({ pid: process.ppid });
    await expect(open().list()).rejects.toThrow(inUse(process.ppid));
  });

  it("takes over a lock written before this machine booted, even when its PID is in use now", async () => {
    await writeLock({ pid: process.ppid, startedAt: "2000-01-01T00:00:00.000Z" });
    const capture = captureWarnings();
    try {
      expect(await open().list()).toEqual([]);
    } finally {
      capture.restore();
    }
    expect(capture.warnings.map((warning) => warning.code)).toEqual(["KOA_IO_SESSION_FDB_STALE_LOCK"]);
  });

  it("never takes over a lock held on another host, even when its PID is free here", async () => {
    await writeLock({ pid: deadPid(), hostname: "web-1" });
    const store = open();
    const { pid } = JSON.parse(await readFile(`${path}.lock`, "utf8"));
    await expect(store.list()).rejects.toThrow(inUse(pid, "web-1"));
    expect(await readdir(dir)).toEqual(["sessions.fdb.lock"]);
  });

  it.runIf(process.platform === "linux")("never takes over a lock from another PID namespace (a container sharing the volume)", async () => {
    await writeLock({ pid: deadPid(), pidns: "pid:[1]" });
    const { pid } = JSON.parse(await readFile(`${path}.lock`, "utf8"));
    await expect(open().list()).rejects.toThrow(inUse(pid));
  });

  it("refuses a lock file it cannot read, naming it", async () => {
    await writeFile(`${path}.lock`, "");
    await expect(open().list()).rejects.toThrow(
      `[koa-io-session] FileStore "${path}" is locked by "${path}.lock", which is not a valid lock file; remove it if no process uses "${path}".`,
    );
  });

  it("close removes the lock only while it is still this store's", async () => {
    const store = open();
    await store.list();
    await writeLock({ pid: deadPid(), token: "someone-else" });
    await store.close();
    expect(JSON.parse(await readFile(`${path}.lock`, "utf8")).token).toBe("someone-else");
  });

  it("a file that fails to load releases the lock for whoever fixes it", async () => {
    await writeFile(path, `not a record\n${JSON.stringify(["a", holderState(1)])}\n`);
    const store = open();
    await expect(store.list()).rejects.toThrow(`[koa-io-session] Cannot load "${path}": line 1 is not a valid record; fix or remove that line.`);
    expect(await readdir(dir)).toEqual(["sessions.fdb"]);
    await writeFile(path, `${JSON.stringify(["a", holderState(1)])}\n`);
    expect(await store.list()).toEqual(["a"]);
  });
});
