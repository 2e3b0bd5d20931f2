import type { MaybePromise } from "./stores/types.js";

/** Whether `value` is a promise (anything `await` would wait for), so a sync value can skip the microtask turn. */
export function isThenable<T>(value: MaybePromise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === "function";
}
