import { ServerResponse } from "node:http";
import type Koa from "koa";
import type { Server, Socket } from "socket.io";
import type { BridgeCore } from "../bridge/BridgeCore.js";
import { newClientId, readClientId } from "../http/clientCookie.js";

type SocketMiddleware = (socket: Socket, next: (err?: Error) => void) => void;
type WithSessionFn = Socket["withSession"];

/**
 * The socket.io middleware: resolves the socket's client from the handshake
 * cookies, gives it `clientId`, a live `sessionId` and `withSession`, and
 * re-attaches a stored session named by a verified session cookie.
 */
export function socketHook(app: Koa, core: BridgeCore): SocketMiddleware {
  const { config, registry, gateway, adopt, withSession } = core;

  async function resolve(socket: Socket): Promise<void> {
    // A Koa context gives the handshake the same cookie parsing and signing keys as HTTP.
    const ctx = app.createContext(socket.request, new ServerResponse(socket.request));
    const clientId = readClientId(ctx.cookies, config) ?? newClientId();
    ctx.clientId = clientId;
    Object.defineProperties(socket, {
      clientId: { value: clientId, enumerable: true, configurable: true },
      sessionId: { get: () => registry.getSessionId(clientId), enumerable: true, configurable: true },
      withSession: {
        value: ((handler: unknown, onMissing?: unknown) => withSession(socket, handler, onMissing)) as WithSessionFn,
        configurable: true,
      },
    });
    if (registry.getSessionId(clientId) !== undefined) return;
    const fromCookie = ctx.cookies.get(config.key, { signed: config.signed });
    if (fromCookie === undefined || registry.getClientId(fromCookie) !== undefined) return;
    if (await gateway.read(fromCookie)) adopt(clientId, fromCookie);
  }

  return (socket, next) => {
    resolve(socket).then(() => next(), next);
  };
}

/** Installs `hook` on every namespace, present and future; returns a function that removes it. */
export function installSocketHook(io: Server, hook: SocketMiddleware): () => void {
  const add = (nsp: { use(fn: SocketMiddleware): unknown }) => nsp.use(hook);
  for (const nsp of io._nsps.values()) add(nsp);
  io.on("new_namespace", add);
  return () => {
    io.off("new_namespace", add);
    for (const nsp of io._nsps.values()) {
      const fns = (nsp as unknown as { _fns: SocketMiddleware[] })._fns;
      const at = fns.indexOf(hook);
      if (at !== -1) fns.splice(at, 1);
    }
  };
}
