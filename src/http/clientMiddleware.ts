import type { Context, Middleware } from "koa";
import type { ResolvedOptions } from "../options.js";
import { newClientId, readClientId } from "./clientCookie.js";
import type { SignatureCache } from "./signatureCache.js";

/**
 * Gives every request a fixed `ctx.clientId`, creating (and sending) the
 * client cookie when it is missing; `settle(ctx)` runs once the session has
 * been committed.
 */
export function clientMiddleware(config: ResolvedOptions, signatures: SignatureCache, settle: (ctx: Context) => void): Middleware {
  const { clientKey, clientAlwaysRoll, clientCookie } = config;
  return async function koaIoSessionClient(ctx, next) {
    signatures.install(ctx.cookies, ctx.app.keys);
    let clientId = readClientId(ctx.cookies, config);
    const isFresh = clientId === undefined;
    clientId ??= newClientId();
    ctx.clientId = clientId;
    if (isFresh || clientAlwaysRoll) ctx.cookies.set(clientKey, clientId, clientCookie);
    try {
      await next();
    } finally {
      settle(ctx);
    }
  };
}
