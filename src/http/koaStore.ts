import type { Context } from "koa";
import type { BridgeCore } from "../bridge/BridgeCore.js";
import type { SessionRecord } from "../gateway/record.js";

interface KoaStoreCall {
  ctx?: Context;
  /** koa-session: `false` when it saves only to roll, renew or force-save. */
  changed?: boolean;
}

/** The store koa-session talks to: its verbs mapped onto the gateway, with the request's client id. */
export function koaStore({ config, registry, gateway, adopt }: BridgeCore) {
  return {
    async get(sessionId: string, _maxAge: unknown, { ctx }: KoaStoreCall = {}): Promise<SessionRecord | undefined> {
      const record = await gateway.read(sessionId);
      const clientId = ctx?.clientId;
      if (record && clientId !== undefined && registry.getClientId(sessionId) === undefined) {
        adopt(clientId, sessionId);
      }
      return record;
    },
    async set(sessionId: string, record: SessionRecord, maxAge: unknown, { ctx, changed }: KoaStoreCall = {}): Promise<void> {
      // koa-session passes its cookie maxAge + 10 s, or "session" for browser-session cookies.
      const ttl = typeof maxAge === "number" ? maxAge : config.maxAge;
      await gateway.write(sessionId, record, ttl, { clientId: ctx?.clientId, refresh: changed === false });
    },
    async destroy(sessionId: string, { ctx }: KoaStoreCall = {}): Promise<void> {
      await gateway.destroy(sessionId, ctx);
    },
  };
}
