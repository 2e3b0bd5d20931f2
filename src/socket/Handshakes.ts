import { type IncomingMessage, ServerResponse } from "node:http";
import type Koa from "koa";
import { identifyClient } from "../http/clientCookie.js";
import type { SignatureCache } from "../http/signatureCache.js";
import type { ResolvedOptions } from "../options.js";

/** The Koa context of one engine.io handshake and whether its client id was created for it. */
export interface Handshake {
  ctx: Koa.Context;
  isFresh: boolean;
}

/**
 * One Koa context per handshake request, shared by the engine hook (which
 * sends a fresh client cookie) and the socket middleware of every namespace.
 */
export class Handshakes {
  readonly #byRequest = new WeakMap<IncomingMessage, Handshake>();
  // A handshake whose identification threw fails the same way in every namespace, and is reported once.
  readonly #failed = new WeakMap<IncomingMessage, unknown>();
  readonly #app: Koa;
  readonly #config: ResolvedOptions;
  readonly #signatures: SignatureCache;

  constructor(app: Koa, config: ResolvedOptions, signatures: SignatureCache) {
    this.#app = app;
    this.#config = config;
    this.#signatures = signatures;
  }

  /** The handshake of `req`, identified on first use; throws (the same error each time) when that failed. */
  of(req: IncomingMessage): Handshake {
    let handshake = this.#byRequest.get(req);
    if (handshake) return handshake;
    if (this.#failed.has(req)) throw this.#failed.get(req);
    try {
      // A Koa context gives the handshake the same cookie parsing and signing keys as HTTP.
      const ctx = this.#app.createContext(req, new ServerResponse(req));
      const { clientId, isFresh } = identifyClient(ctx.cookies, this.#app.keys, this.#config, this.#signatures);
      ctx.clientId = clientId;
      handshake = { ctx, isFresh };
    } catch (error) {
      this.#failed.set(req, error);
      throw error;
    }
    this.#byRequest.set(req, handshake);
    return handshake;
  }
}
