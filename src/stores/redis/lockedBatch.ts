import type { AsyncLocalStorage } from "node:async_hooks";
import type { LockedSession } from "../types.js";
import type { HeldLock, LockedWrite, WriteOutcome } from "./lock.js";

/** A write to make under the lock, and what to do with its outcome (which must settle the staged write). */
export interface PendingWrite {
  write: LockedWrite;
  settled: (outcome: WriteOutcome) => void;
}

/** Writes of a batch not yet sent: the record as the last of them left it, and who waits for it. */
export interface StagedWrite<C> {
  value: string;
  expiresAt: number;
  /** The changes to announce once it is written. */
  changes: C[];
  done: Promise<void>;
  settle: (error?: Error) => void;
}

function staged<C>(value: string, expiresAt: number): StagedWrite<C> {
  let settle!: (error?: Error) => void;
  const done = new Promise<void>((resolve, reject) => {
    settle = (error) => (error ? reject(error) : resolve());
  });
  // A caller that stopped waiting (its call failed otherwise) must not leave an unhandled rejection.
  done.catch(() => {});
  return { value, expiresAt, changes: [], done, settle };
}

/**
 * The calls RedisStore runs under one held lock of a session. Their reads
 * come from memory (the record read with the lock, then what they wrote),
 * and their writes are kept until the lock's release, which makes the last
 * one in the same script, or until a call awaits something else (the next
 * turn of the event loop): a batch of calls costs the lock's two round trips
 * and no more.
 */
export class LockedBatch<C> implements LockedSession {
  readonly sessionId: string;
  /** The record as these calls see it; `undefined` when it must be read from Redis again. */
  value: string | null | undefined;
  readonly #held: HeldLock;
  readonly #calls: AsyncLocalStorage<LockedBatch<C>>;
  readonly #toWrite: (write: StagedWrite<C>) => PendingWrite;
  #staged: StagedWrite<C> | undefined;
  /** The last write sent, which callers whose writes it carries wait for. */
  #sent: Promise<void> = Promise.resolve();
  #flushQueued = false;
  #closed = false;

  constructor(sessionId: string, held: HeldLock, calls: AsyncLocalStorage<LockedBatch<C>>, toWrite: (write: StagedWrite<C>) => PendingWrite) {
    this.sessionId = sessionId;
    this.value = held.value;
    this.#held = held;
    this.#calls = calls;
    this.#toWrite = toWrite;
  }

  run<R>(call: () => Promise<R>): Promise<R> {
    return this.#calls.run(this, call);
  }

  written(): Promise<void> {
    return this.#staged?.done ?? this.#sent;
  }

  /** Keeps a write of one of the calls; `false` once the lock is released (the caller writes it itself). */
  stage(value: string, expiresAt: number, change: C | undefined): boolean {
    if (this.#closed) return false;
    this.value = value;
    const write = (this.#staged ??= staged(value, expiresAt));
    write.value = value;
    write.expiresAt = expiresAt;
    if (change !== undefined) write.changes.push(change);
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      setImmediate(() => {
        this.#flushQueued = false;
        this.#flush();
      });
    }
    return true;
  }

  /**
   * The record changed outside these calls (another process, Redis): the next call reads it again,
   * unless a kept write will replace it anyway. With `outcome` (a destroy here), the kept write is
   * dropped and its callers wait for that instead.
   */
  forget(outcome?: Promise<unknown>): void {
    const write = this.#staged;
    if (write === undefined || outcome !== undefined) this.value = undefined;
    if (write === undefined || outcome === undefined) return;
    this.#staged = undefined;
    outcome.then(() => write.settle(), (error: Error) => write.settle(error));
    this.#sent = write.done;
  }

  /** At the release: the kept write, to make with it. No call stages anything after this. */
  takeLast(): PendingWrite | undefined {
    this.#closed = true;
    const write = this.#take();
    return write && this.#toWrite(write);
  }

  /** A call is awaiting something else: what the calls before it wrote goes now, the lock kept. */
  #flush(): void {
    const write = this.#take();
    if (write === undefined) return;
    const pending = this.#toWrite(write);
    this.#held.write(pending.write).then(pending.settled, pending.settled);
  }

  #take(): StagedWrite<C> | undefined {
    const write = this.#staged;
    this.#staged = undefined;
    if (write) this.#sent = write.done;
    return write;
  }
}
