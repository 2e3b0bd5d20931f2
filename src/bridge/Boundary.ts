import { message } from "../errors.js";

/** Set on every function a `Boundary` made (its value is the boundary's name), so tests can check registrations. */
export const GUARDED = Symbol.for("koa-io-session.guarded");

/**
 * Hidden option (tests only): a function called with a boundary's name before
 * each guarded call; whatever it throws is handled as an unexpected error there.
 */
export const FAULT_HOOK = Symbol.for("koa-io-session.fault");

/** A fault-injection hook, see `FAULT_HOOK`. */
export type FaultHook = (boundary: string) => void;

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === "function";
}

/**
 * Where the bridge's code is called by engine.io, socket.io, Koa or a store's
 * change feed, none of which would handle our errors: a throw there, or a
 * rejection nobody awaits, would end the process. `guard()` turns each such
 * error into one report and a documented fallback for that call only.
 */
export class Boundary {
  readonly #report: (error: Error) => void;
  readonly #fault: FaultHook | undefined;
  readonly #reported = new WeakSet<object>();

  constructor(report: (error: Error) => void, fault?: FaultHook) {
    this.#report = report;
    this.#fault = fault;
  }

  /**
   * `fn` made safe to hand to code that does not handle errors. An error it
   * throws, or a rejection of the promise it returns, is reported once and
   * `fallback` decides the call's outcome (its result is returned on a throw).
   */
  guard<A extends unknown[], R>(name: string, fn: (...args: A) => R, fallback?: (error: Error, ...args: A) => R): (...args: A) => R {
    const fail = (error: unknown, args: A): R => {
      const reported = this.report(name, error);
      try {
        return fallback?.(reported, ...args) as R;
      } catch (again) {
        this.report(name, again);
        return undefined as R;
      }
    };
    const guarded = (...args: A): R => {
      try {
        this.#fault?.(name);
        const result = fn(...args);
        if (isThenable(result)) result.then(undefined, (error: unknown) => fail(error, args));
        return result;
      } catch (error) {
        return fail(error, args);
      }
    };
    Object.defineProperty(guarded, GUARDED, { value: name });
    return guarded;
  }

  /** Reports `error` (once per error object) as an unexpected error in `name`; returns what was reported. */
  report(name: string, error: unknown): Error {
    const original = error instanceof Error ? error : new Error(String(error));
    const reported = original.message.startsWith("[koa-io-session]")
      ? original
      : new Error(message(`Unexpected error in ${name}: ${original.message}`), { cause: original });
    if (!this.#reported.has(original)) {
      this.#reported.add(original);
      this.#report(reported);
    }
    return reported;
  }
}
