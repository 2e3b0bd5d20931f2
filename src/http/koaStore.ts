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
export function koaStore({ config, gateway, adopt }: BridgeCore) {
  return {
    async get(sessionId: string, _maxAge: unknown, { ctx }: KoaStoreCall = {}): Promise<SessionRecord | undefined> {
      if (ctx) ctx[knownId] = sessionId;
      const record = await gateway.read(sessionId);
      const clientId = ctx?.clientId;
      if (record && clientId !== undefined) adopt(clientId, sessionId);
      return record;
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
