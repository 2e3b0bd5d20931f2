import { randomBytes } from "node:crypto";
import { readFileSync, readlinkSync, unlinkSync } from "node:fs";
import { link, open, readFile, rm } from "node:fs/promises";
import { hostname, uptime } from "node:os";
import { message, stateError } from "../errors.js";

/** The warning code of a dead holder's lock taken over at start. */
export const STALE_LOCK_WARNING = "KOA_IO_SESSION_FDB_STALE_LOCK";
/** The `code` of the Error a FileStore fails with when another one holds its file. */
export const IN_USE_CODE = "KOA_IO_SESSION_FDB_IN_USE";

const refused = (text: string): Error => Object.assign(stateError(text), { code: IN_USE_CODE });

/** What a lock file holds (JSON). */
export interface LockHolder {
  pid: number;
  hostname: string;
  /** When the holding process started (ISO time). */
  startedAt: string;
  /** When it took the lock (ISO time). */
  lockedAt: string;
  /** Linux only: the process start time in clock ticks since boot (`/proc/<pid>/stat`), to tell a reused PID. */
  procStart?: number;
  /** Linux only: the PID namespace (`/proc/self/ns/pid`): PIDs of another namespace (container) cannot be checked. */
  pidns?: string;
  /** Tells this lock from a later one with the same holder fields. */
  token: string;
}

/** A taken lock: `release()` removes the lock file if it is still this one. */
export interface FileLock {
  readonly path: string;
  release(): Promise<void>;
}

const PROCESS_STARTED = Date.now() - process.uptime() * 1000;
const PID_NAMESPACE = (() => {
  try {
    return readlinkSync("/proc/self/ns/pid");
  } catch {
    return undefined;
  }
})();
/** Clock slack when comparing start times derived from uptimes. */
const SLACK_MS = 5000;

/** Lock files this process holds, removed on a normal exit even without `close()`. */
const held = new Map<string, string>();
let exitHook = false;

function releaseAtExit(): void {
  for (const [path, token] of held) {
    try {
      if ((JSON.parse(readFileSync(path, "utf8")) as LockHolder).token === token) unlinkSync(path);
    } catch {
      /* already gone, or no longer ours */
    }
  }
}

/** Field 22 of `/proc/<pid>/stat`: start time in clock ticks since boot; `undefined` off Linux. */
function procStart(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces and parentheses: count from its closing one.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[19]);
    return Number.isFinite(ticks) ? ticks : undefined;
  } catch {
    return undefined;
  }
}

function ownHolder(): LockHolder {
  return {
    pid: process.pid,
    hostname: hostname(),
    startedAt: new Date(PROCESS_STARTED).toISOString(),
    lockedAt: new Date().toISOString(),
    procStart: procStart(process.pid),
    pidns: PID_NAMESPACE,
    token: randomBytes(9).toString("base64url"),
  };
}

/**
 * Creates `path` holding `holder`, complete or not at all: the content is
 * written and synced to a temp file that is then hard-linked to `path`
 * (`link` fails with EEXIST like `O_EXCL`, and readers never see a half-written lock).
 */
async function create(path: string, holder: LockHolder): Promise<boolean> {
  const temp = `${path}.${holder.token}`;
  const handle = await open(temp, "wx");
  try {
    await handle.writeFile(JSON.stringify(holder));
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await link(temp, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  } finally {
    await rm(temp, { force: true });
  }
}

/** The holder in `path`; `undefined` when the file is gone, `null` when it is not a lock we wrote. */
async function read(path: string): Promise<LockHolder | null | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  try {
    const holder = JSON.parse(text) as LockHolder;
    return Number.isInteger(holder.pid) && holder.pid > 0 && typeof holder.hostname === "string" && typeof holder.token === "string"
      ? holder
      : null;
  } catch {
    return null;
  }
}

/**
 * Whether the lock's holder is gone: it ran on this host and its process
 * started before this boot, or its PID is free, or (Linux) the PID now
 * belongs to a process that started later. A holder on another host is
 * never judged dead, nor one in another PID namespace (a container
 * sharing the volume and the hostname). A holder with this process's PID
 * is this process unless its start time differs (a previous process that
 * had our PID).
 */
function isDead(holder: LockHolder): boolean {
  if (holder.hostname !== hostname()) return false;
  const started = Date.parse(holder.startedAt);
  if (started < Date.now() - uptime() * 1000 - SLACK_MS) return true;
  if (holder.pidns !== undefined && PID_NAMESPACE !== undefined && holder.pidns !== PID_NAMESPACE) return false;
  const now = procStart(holder.pid);
  if (holder.procStart !== undefined && now !== undefined && now !== holder.procStart) return true;
  if (holder.pid === process.pid) return Math.abs(started - PROCESS_STARTED) > SLACK_MS;
  try {
    process.kill(holder.pid, 0);
    return false;
  } catch (error) {
    // EPERM: alive, owned by another user.
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
}

function inUse(file: string, holder: LockHolder): Error {
  const who = holder.pid === process.pid && holder.hostname === hostname()
    ? `this process (process ${holder.pid} on ${holder.hostname}: another FileStore on the same file)`
    : `process ${holder.pid} on ${holder.hostname}`;
  return refused(
    `FileStore "${file}" is in use by ${who}; open one FileStore per file (use koa-io-session/redis to share sessions between processes).`,
  );
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/**
 * Takes the exclusive lock `<file>.lock`, or throws an Error naming the
 * holder. A dead holder's lock is taken over with a warning; two starters
 * taking over at once are serialized by `<file>.lock.takeover` (itself an
 * exclusive file, taken over the same way when its holder died).
 */
export async function acquireLock(file: string): Promise<FileLock> {
  const path = `${file}.lock`;
  for (let attempt = 0; attempt < 200; attempt++) {
    const own = ownHolder();
    if (await create(path, own)) return taken(path, own.token);
    const holder = await read(path);
    if (holder === undefined) continue; // released meanwhile
    if (holder === null) {
      throw refused(`FileStore "${file}" is locked by "${path}", which is not a valid lock file; remove it if no process uses "${file}".`);
    }
    if (!isDead(holder)) throw inUse(file, holder);
    const guard = `${path}.takeover`;
    const guardOwn = ownHolder();
    if (!(await create(guard, guardOwn))) {
      const other = await read(guard);
      const abandoned = other === null || (other !== undefined && isDead(other));
      // A starter that died mid-take-over left it: remove it if it is still that one. Else wait for the other starter.
      if (!abandoned) await sleep(10);
      else if ((await read(guard))?.token === other?.token) await rm(guard, { force: true });
      continue;
    }
    try {
      // Only the guard's holder removes a stale lock, and only the one it judged: never a fresh lock of another starter.
      if ((await read(path))?.token !== holder.token) continue;
      await rm(path, { force: true });
      const mine = ownHolder();
      if (!(await create(path, mine))) continue;
      process.emitWarning(
        message(`FileStore "${file}": took over the lock of process ${holder.pid} on ${holder.hostname} (locked at ${holder.lockedAt}), which is no longer running.`),
        { code: STALE_LOCK_WARNING },
      );
      return taken(path, mine.token);
    } finally {
      if ((await read(guard))?.token === guardOwn.token) await rm(guard, { force: true });
    }
  }
  throw stateError(`FileStore "${file}": could not take the lock "${path}" (it keeps changing hands).`);
}

function taken(path: string, token: string): FileLock {
  held.set(path, token);
  if (!exitHook) {
    exitHook = true;
    process.once("exit", releaseAtExit);
  }
  return {
    path,
    async release() {
      if (held.get(path) !== token) return;
      held.delete(path);
      if ((await read(path).catch(() => undefined))?.token === token) await rm(path, { force: true });
    },
  };
}
