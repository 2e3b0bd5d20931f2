import type { SessionDestroyEvent } from "./events.js";

interface Pending {
  /** Pairs the request destroyed: their sockets wait to see whether it was a login. */
  ended: SessionDestroyEvent[];
  /** Resolved when the request has committed its session (for stores that report destroys later). */
  settled?: { promise: Promise<void>; resolve: () => void };
}

/**
 * What an HTTP request still owes once koa-session has committed: a destroy
 * inside a request may be the first half of `regenerate()` (a login), which
 * only the end of the request can tell apart from a logout.
 */
export class RequestSettlement {
  readonly #pending = new WeakMap<object, Pending>();

  #of(request: object): Pending {
    let pending = this.#pending.get(request);
    if (pending === undefined) this.#pending.set(request, (pending = { ended: [] }));
    return pending;
  }

  /** Records a pair the request destroyed. */
  ended(request: object, pair: SessionDestroyEvent): void {
    this.#of(request).ended.push(pair);
  }

  /** Resolves once the request has committed its session. */
  settled(request: object): Promise<void> {
    const pending = this.#of(request);
    if (pending.settled === undefined) {
      let resolve!: () => void;
      const promise = new Promise<void>((done) => (resolve = done));
      pending.settled = { promise, resolve };
    }
    return pending.settled.promise;
  }

  /** The request has committed: resolves `settled` and returns the pairs it destroyed. */
  finish(request: object): SessionDestroyEvent[] {
    const pending = this.#pending.get(request);
    if (pending === undefined) return [];
    this.#pending.delete(request);
    pending.settled?.resolve();
    return pending.ended;
  }
}
