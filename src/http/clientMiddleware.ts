import type { Middleware } from "koa";
import type { ResolvedOptions } from "../options.js";
import { newClientId, readClientId } from "./clientCookie.js";

/** Gives every request a fixed `ctx.clientId`, creating (and sending) the client cookie when it is missing. */
export function clientMiddleware(config: ResolvedOptions): Middleware {
  const { clientKey, clientAlwaysRoll, clientCookie } = config;
  return function koaIoSessionClient(ctx, next) {
    let clientId = readClientId(ctx.cookies, config);
    const isFresh = clientId === undefined;
    clientId ??= newClientId();
    ctx.clientId = clientId;
    if (isFresh || clientAlwaysRoll) ctx.cookies.set(clientKey, clientId, clientCookie);
    return next();
  };
}
