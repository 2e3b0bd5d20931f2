import type { Namespace, Server, Socket } from "socket.io";
import type { BridgeCore } from "../bridge/BridgeCore.js";
import type { Handshakes } from "./Handshakes.js";
import { equipSocket, type SocketOwner } from "./socketAccessors.js";
import type { SocketDirectory } from "./SocketDirectory.js";

type SocketMiddleware = (socket: Socket, next: (err?: Error) => void) => void;

/**
 * The socket.io middleware: gives the socket a lazy Koa context of its handshake,
 * `clientId`, a live `sessionId` and `withSession`, and re-attaches a stored
 * session named by a verified session cookie.
 */
export function socketHook(core: BridgeCore, handshakes: Handshakes): SocketMiddleware {
  const { config, registry, gateway, adopt, withSession } = core;

  const owner: SocketOwner = {
    sessionIdOf: (clientId) => registry.getSessionId(clientId),
    withSession,
    contextOf: (req, clientId) => handshakes.build(req, clientId),
  };

  async function resolve(socket: Socket): Promise<void> {
    const req = socket.request;
    const { clientId } = handshakes.of(req);
    equipSocket(socket, clientId, owner);
    try {
      if (registry.getSessionId(clientId) !== undefined) return;
      const fromCookie = handshakes.context(req).cookies.get(config.key, { signed: config.signed });
      if (fromCookie === undefined || registry.getClientId(fromCookie) !== undefined) return;
      if (await gateway.read(fromCookie)) adopt(clientId, fromCookie);
    } finally {
      handshakes.release(req);
    }
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
