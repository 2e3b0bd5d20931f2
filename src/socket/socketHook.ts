import type { Namespace, Server, Socket } from "socket.io";
import type { BridgeCore } from "../bridge/BridgeCore.js";
import { message } from "../errors.js";
import { readCookie } from "../http/readCookie.js";
import type { Boundary } from "../bridge/Boundary.js";
import type { Handshakes } from "./Handshakes.js";
import { equipSocket, type SocketOwner } from "./socketAccessors.js";
import type { SocketDirectory } from "./SocketDirectory.js";

type SocketMiddleware = (socket: Socket, next: (err?: Error) => void) => void;

// The client learns only that it was refused: the details are the server's (reported there).
const refusal = (): Error => new Error(message("Handshake refused after an unexpected error; it was reported on the server."));

/**
 * The socket.io middleware: gives the socket a lazy Koa context of its handshake,
 * `clientId`, a live `sessionId` and `withSession`, and re-attaches a stored
 * session named by a verified session cookie. A store failure refuses the
 * handshake with the store's error; an unexpected error is reported and the
 * handshake refused with a `[koa-io-session]` message.
 */
export function socketHook(core: BridgeCore, handshakes: Handshakes): SocketMiddleware {
  const { config, registry, gateway, adopt, withSession, boundary, touch } = core;

  const owner: SocketOwner = {
    sessionIdOf: (clientId) => registry.getSessionId(clientId),
    withSession,
    contextOf: (req, clientId) => handshakes.build(req, clientId),
  };

  function attach(socket: Socket): string {
    const { clientId } = handshakes.of(socket.request);
    equipSocket(socket, clientId, owner);
    if (config.socketTouchMs !== undefined) {
      socket.use(boundary.guard(
        "socketTouch event middleware",
        (_packet: unknown, next: (err?: Error) => void) => {
          touch(registry.getSessionId(clientId));
          next();
        },
        (_error, _packet, next) => next(),
      ));
    }
    return clientId;
  }

  async function readopt(socket: Socket, clientId: string): Promise<void> {
    const req = socket.request;
    try {
      if (registry.getSessionId(clientId) !== undefined) return;
      const fromCookie = readCookie(handshakes.context(req).cookies, config.key, config.signed);
      if (fromCookie === undefined || registry.getClientId(fromCookie) !== undefined) return;
      if (await gateway.read(fromCookie)) adopt(clientId, fromCookie);
    } finally {
      handshakes.release(req);
    }
  }

  return boundary.guard(
    "namespace middleware",
    (socket, next) => {
      readopt(socket, attach(socket)).then(() => next(), next);
    },
    (_error, _socket, next) => next(refusal()),
  );
}

/**
 * Installs the middleware and the directory's connection listener on every
 * namespace, present and future; returns a function that removes them.
 */
export function installSocketHook(io: Server, hook: SocketMiddleware, directory: SocketDirectory, boundary: Boundary): () => void {
  const track = boundary.guard("connection listener", (socket: Socket): void => directory.add(socket));
  const add = (nsp: Namespace): void => {
    nsp.use(hook);
    nsp.on("connection", track);
  };
  const onNewNamespace = boundary.guard("new_namespace listener", add);
  for (const nsp of io._nsps.values()) add(nsp);
  io.on("new_namespace", onNewNamespace);
  return () => {
    io.off("new_namespace", onNewNamespace);
    for (const nsp of io._nsps.values()) {
      nsp.off("connection", track);
      const fns = (nsp as unknown as { _fns: SocketMiddleware[] })._fns;
      const at = fns.indexOf(hook);
      if (at !== -1) fns.splice(at, 1);
    }
  };
}
