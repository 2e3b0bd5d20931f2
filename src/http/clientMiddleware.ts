import type { Context, Middleware } from "koa";
import type { Boundary } from "../bridge/Boundary.js";
import type { ResolvedOptions } from "../options.js";
import { identifyClient, newClientId } from "./clientCookie.js";
import type { RequestRunner } from "./requestQueue.js";
import type { SignatureCache } from "./signatureCache.js";

/**
 * Gives every request a fixed `ctx.clientId`, creating (and sending) the
 * client cookie when it is missing, then runs koa-session's middleware;
 * `settle(ctx)` runs once the session has been committed; `serialize`
 * (option `serializeRequests`) orders the session's part. One middleware
 * instead of two saves a dispatch on every request. If identifying the
 * client fails unexpectedly, that request gets a fresh client id.
 */
export function clientMiddleware(
  config: ResolvedOptions,
  signatures: SignatureCache,
  session: Middleware,
  settle: (ctx: Context) => void,
  boundary: Boundary,
  serialize?: RequestRunner,
): Middleware {
  const { clientKey, clientAlwaysRoll, clientCookie } = config;
  const identify = boundary.guard(
    "client identification",
    (ctx: Context) => identifyClient(ctx.cookies, ctx.app.keys, config, signatures),
    () => ({ clientId: newClientId(), isFresh: true }),
  );
  return async function koaIoSession(ctx, next) {
    const { clientId, isFresh } = identify(ctx);
    ctx.clientId = clientId;
    if (isFresh || clientAlwaysRoll) ctx.cookies.set(clientKey, clientId, clientCookie);
    try {
      await (serialize ? serialize(ctx, () => session(ctx, next) as Promise<void>) : session(ctx, next));
    } finally {
      settle(ctx);
    }
  };
}
