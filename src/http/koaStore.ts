import type { Context } from "koa";
import type { BridgeCore } from "../bridge/BridgeCore.js";
import type { SessionRecord } from "../gateway/record.js";

// The id each request last loaded or saved, kept on its context. Any other id
// koa-session saves was generated during the request (new client,
// regenerate()), so the gateway need not read it before writing.
const knownId = Symbol("koa-io-session known id");

interface KnownId {
  [knownId]?: string;
}

interface KoaStoreCall {
  ctx?: Context & KnownId;
  /** koa-session: `false` when it saves only to roll, renew or force-save. */
  changed?: boolean;
}

/** The store koa-session talks to: its verbs mapped onto the gateway, with the request's client id. */
export function koaStore({ config, gateway }: BridgeCore) {
  return {
    async get(sessionId: string, _maxAge: unknown, { ctx }: KoaStoreCall = {}): Promise<SessionRecord | undefined> {
      if (ctx) ctx[knownId] = sessionId;
      // An expired record comes back (already destroyed) so that koa-session emits session:expired.
      return gateway.read(sessionId, { expired: true });
    },
    async set(sessionId: string, record: SessionRecord, maxAge: unknown, { ctx, changed }: KoaStoreCall = {}): Promise<void> {
      // koa-session passes its cookie maxAge + 10 s, or "session" for browser-session cookies.
      const ttl = typeof maxAge === "number" ? maxAge : config.maxAge;
      const fresh = ctx !== undefined && ctx[knownId] !== sessionId;
      await gateway.write(sessionId, record, ttl, { clientId: ctx?.clientId, refresh: changed === false, fresh });
      if (ctx) ctx[knownId] = sessionId;
    },
    async destroy(sessionId: string, { ctx }: KoaStoreCall = {}): Promise<void> {
      await gateway.destroy(sessionId, ctx);
    },
  };
}

/**
 * koa-session's `valid` hook, wrapping the user's: koa-session calls it for
 * a loaded session only once that is neither missing nor expired, so a
 * stored session it accepts (e.g. after a restart) is attached here, and
 * one it rejects is never attached.
 */
export function koaValid({ config, adopt }: BridgeCore) {
  const userValid = config.sessionOptions.valid;
  return (ctx: Context & KnownId, session: Record<string, unknown>): boolean => {
    if (typeof userValid === "function" && !userValid(ctx, session)) return false;
    const sessionId = ctx[knownId];
    if (sessionId !== undefined) adopt(ctx.clientId, sessionId);
    return true;
  };
}
