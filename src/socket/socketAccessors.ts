import type { IncomingMessage } from "node:http";
import type Koa from "koa";
import type { Socket } from "socket.io";
import { stateError } from "../errors.js";

/** What a bridged socket's accessors ask of the bridge that owns it. */
export interface SocketOwner {
  sessionIdOf(clientId: string): string | undefined;
  withSession(socket: Socket, handler: unknown, onMissing?: unknown): Promise<unknown>;
  contextOf(req: IncomingMessage, clientId: string): Koa.Context;
}

interface SocketState {
  readonly clientId: string;
  readonly owner: SocketOwner;
  ctx: Koa.Context | undefined;
}

// A registered symbol, so the ESM and CJS builds (two copies of this module) read the same state.
const STATE = Symbol.for("koa-io-session.socket");
const equipped = new WeakSet<object>();

type Bridged = Socket & { [STATE]?: SocketState };

/**
 * Gives `socket` its `clientId`, live `sessionId`, `withSession` and lazy
 * `ctx`. The accessors live once on socket.io's `Socket` prototype and read a
 * small state object per socket, so a connected socket carries no closures
 * and no Koa context until `socket.ctx` is read.
 */
export function equipSocket(socket: Socket, clientId: string, owner: SocketOwner): void {
  const proto = Object.getPrototypeOf(socket) as object;
  if (!equipped.has(proto)) {
    equipped.add(proto);
    Object.defineProperties(proto, {
      clientId: {
        get(this: Bridged) {
          return this[STATE]?.clientId;
        },
        configurable: true,
      },
      sessionId: {
        get(this: Bridged) {
          const state = this[STATE];
          return state?.owner.sessionIdOf(state.clientId);
        },
        configurable: true,
      },
      ctx: {
        get(this: Bridged) {
          const state = this[STATE];
          // Built on first use: most sockets never read it, and a context with its response weighs kilobytes.
          return state && (state.ctx ??= state.owner.contextOf(this.request, state.clientId));
        },
        configurable: true,
      },
      withSession: {
        value(this: Bridged, handler: unknown, onMissing?: unknown) {
          const state = this[STATE];
          if (!state) return Promise.reject(stateError("withSession() was called on a socket no bridge handled."));
          return state.owner.withSession(this, handler, onMissing);
        },
        configurable: true,
        writable: true,
      },
    });
  }
  (socket as Bridged)[STATE] = { clientId, owner, ctx: undefined };
}
