import type { Namespace, Server, Socket } from "socket.io";
import type { BridgeCore } from "../bridge/BridgeCore.js";
import type { Handshakes } from "./Handshakes.js";
import type { SocketDirectory } from "./SocketDirectory.js";

type SocketMiddleware = (socket: Socket, next: (err?: Error) => void) => void;
type WithSessionFn = Socket["withSession"];

/**
 * The socket.io middleware: gives the socket its handshake's Koa context,
 * `clientId`, a live `sessionId` and `withSession`, and re-attaches a stored
 * session named by a verified session cookie.
 */
export function socketHook(core: BridgeCore, handshakes: Handshakes): SocketMiddleware {
  const { config, registry, gateway, adopt, withSession, touch } = core;

  async function resolve(socket: Socket): Promise<void> {
    const { ctx } = handshakes.of(socket.request);
    const clientId = ctx.clientId;
    Object.defineProperties(socket, {
      ctx: { value: ctx, configurable: true },
      clientId: { value: clientId, enumerable: true, configurable: true },
      sessionId: { get: () => registry.getSessionId(clientId), enumerable: true, configurable: true },
      withSession: {
        value: ((handler: unknown, onMissing?: unknown) => withSession(socket, handler, onMissing)) as WithSessionFn,
        configurable: true,
      },
    });
    if (config.socketTouchMs !== undefined) {
      socket.use((_packet, next) => {
        touch(registry.getSessionId(clientId));
        next();
      });
    }
    if (registry.getSessionId(clientId) !== undefined) return;
    const fromCookie = ctx.cookies.get(config.key, { signed: config.signed });
    if (fromCookie === undefined || registry.getClientId(fromCookie) !== undefined) return;
    if (await gateway.read(fromCookie)) adopt(clientId, fromCookie);
  }

  return (socket, next) => {
    resolve(socket).then(() => next(), next);
  };
}

/**
 * Installs the middleware and the directory's connection listener on every
 * namespace, present and future; returns a function that removes them.
 */
export function installSocketHook(io: Server, hook: SocketMiddleware, directory: SocketDirectory): () => void {
  const track = (socket: Socket): void => directory.add(socket);
  const add = (nsp: Namespace): void => {
    nsp.use(hook);
    nsp.on("connection", track);
  };
  for (const nsp of io._nsps.values()) add(nsp);
  io.on("new_namespace", add);
  return () => {
    io.off("new_namespace", add);
    for (const nsp of io._nsps.values()) {
      nsp.off("connection", track);
      const fns = (nsp as unknown as { _fns: SocketMiddleware[] })._fns;
      const at = fns.indexOf(hook);
      if (at !== -1) fns.splice(at, 1);
    }
  };
}
