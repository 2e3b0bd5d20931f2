import type { Context } from "koa";
import type { BridgeCore } from "../bridge/BridgeCore.js";
import { message } from "../errors.js";
import type { SessionQueue } from "../socket/SessionQueue.js";
import { readCookie } from "./readCookie.js";

/** Runs the rest of a request (koa-session's load, the app, the commit). */
export type RequestRunner = (ctx: Context, run: () => Promise<void>) => Promise<void>;

/**
 * Option `serializeRequests`: a request whose session is known before
 * koa-session loads it — its client's attached session, or else the
 * session its cookie names when no other client holds it — runs in that
 * session's queue (and store lock), from load to commit. Requests without
 * a session run at once.
 */
export function requestQueue({ config, registry }: BridgeCore, queue: SessionQueue): RequestRunner {
  const { key, signed } = config;
  const knownSession = (ctx: Context): string | undefined => {
    const attached = registry.getSessionId(ctx.clientId);
    if (attached !== undefined) return attached;
    const fromCookie = readCookie(ctx.cookies, key, signed);
    return fromCookie !== undefined && registry.getClientId(fromCookie) === undefined ? fromCookie : undefined;
  };
  return async (ctx, run) => {
    const sessionId = knownSession(ctx);
    if (sessionId === undefined) return run();
    let started = false;
    try {
      await queue.run(sessionId, () => {
        started = true;
        return run();
      });
    } catch (error) {
      if (started) throw error;
      // The store's lock could not be had within its bound: the request never ran.
      throw Object.assign(
        new Error(message(`The session of this request is locked elsewhere; try again. (${(error as Error).message})`), { cause: error }),
        { status: 503, expose: false },
      );
    }
  };
}
