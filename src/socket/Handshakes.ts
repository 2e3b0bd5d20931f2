import { type IncomingMessage, ServerResponse } from "node:http";
import type Koa from "koa";
import { identifyClient } from "../http/clientCookie.js";
import type { SignatureCache } from "../http/signatureCache.js";
import type { ResolvedOptions } from "../options.js";

/** The client of one engine.io handshake, and whether its client id was created for it. */
export interface Handshake {
  readonly clientId: string;
  readonly isFresh: boolean;
}

interface HandshakeState extends Handshake {
  /** The Koa context that read the handshake's cookies, until the socket middleware is done with it. */
  ctx: Koa.Context | undefined;
}

/**
 * The client of each handshake request, shared by the engine hook (which
 * sends a fresh client cookie) and the socket middleware of every namespace.
 * The Koa context that parses the cookies is dropped once the middleware is
 * done, so a connected socket keeps only its client id; `context()` builds
 * one again for `socket.ctx`.
 */
export class Handshakes {
  readonly #byRequest = new WeakMap<IncomingMessage, HandshakeState>();
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
    return this.#stateOf(req);
  }

  /** A Koa context for the handshake request: the same cookie parsing and signing keys as HTTP. */
  context(req: IncomingMessage): Koa.Context {
    const state = this.#stateOf(req);
    return (state.ctx ??= this.build(req, state.clientId));
  }

  /** The socket middleware is done with the handshake's context: let it go. */
  release(req: IncomingMessage): void {
    const state = this.#byRequest.get(req);
    if (state) state.ctx = undefined;
  }

  /** A new Koa context for `req` with `clientId`, for `socket.ctx`. */
  build(req: IncomingMessage, clientId: string): Koa.Context {
    const ctx = this.#app.createContext(req, new ServerResponse(req));
    this.#signatures.install(ctx.cookies, this.#app.keys);
    ctx.clientId = clientId;
    return ctx;
  }

  #stateOf(req: IncomingMessage): HandshakeState {
    let state = this.#byRequest.get(req);
    if (state) return state;
    if (this.#failed.has(req)) throw this.#failed.get(req);
    try {
      const ctx = this.#app.createContext(req, new ServerResponse(req));
      const { clientId, isFresh } = identifyClient(ctx.cookies, this.#app.keys, this.#config, this.#signatures);
      ctx.clientId = clientId;
      state = { clientId, isFresh, ctx };
    } catch (error) {
      this.#failed.set(req, error);
      throw error;
    }
    this.#byRequest.set(req, state);
    return state;
  }
}
