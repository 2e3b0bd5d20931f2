import type { Context } from "koa";
import type { BridgeCore } from "../bridge/BridgeCore.js";
import { readCookie } from "./readCookie.js";

/**
 * koa-session's `externalKey` hook: decides which session id a request uses.
 * The client's attached session wins over whatever its session cookie says,
 * and a cookie naming another client's session is ignored, so a copied or
 * forged cookie never reaches someone else's session.
 */
export function sessionCookie({ config, registry }: BridgeCore) {
  const { key, signed } = config;
  const write = (ctx: Context, sessionId: string): void => {
    ctx.cookies.set(key, sessionId, ctx.sessionOptions as object);
  };
  return {
    get(ctx: Context): string | undefined {
      const fromCookie = readCookie(ctx.cookies, key, signed);
      const attached = registry.getSessionId(ctx.clientId);
      if (attached !== undefined) {
        if (fromCookie !== attached) write(ctx, attached);
        return attached;
      }
      if (fromCookie !== undefined && registry.getClientId(fromCookie) !== undefined) return undefined;
      return fromCookie;
    },
    set: write,
  };
}
