import type { Namespace, Server, Socket } from "socket.io";
import type { BridgeCore } from "../bridge/BridgeCore.js";
import { message } from "../errors.js";
import { readCookie } from "../http/readCookie.js";
import type { Boundary } from "../bridge/Boundary.js";
import type { Handshakes } from "./Handshakes.js";
import type { SocketDirectory } from "./SocketDirectory.js";

type SocketMiddleware = (socket: Socket, next: (err?: Error) => void) => void;
type WithSessionFn = Socket["withSession"];

// The client learns only that it was refused: the details are the server's (reported there).
const refusal = (): Error => new Error(message("Handshake refused after an unexpected error; it was reported on the server."));

/**
 * The socket.io middleware: gives the socket its handshake's Koa context,
 * `clientId`, a live `sessionId` and `withSession`, and re-attaches a stored
 * session named by a verified session cookie. A store failure refuses the
 * handshake with the store's error; an unexpected error is reported and the
 * handshake refused with a `[koa-io-session]` message.
 */
export function socketHook(core: BridgeCore, handshakes: Handshakes): SocketMiddleware {
  const { config, registry, gateway, adopt, withSession, boundary } = core;

  function attach(socket: Socket): void {
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
  }

  async function readopt(socket: Socket): Promise<void> {
    const { ctx, clientId } = socket;
    if (registry.getSessionId(clientId) !== undefined) return;
    const fromCookie = readCookie(ctx.cookies, config.key, config.signed);
    if (fromCookie === undefined || registry.getClientId(fromCookie) !== undefined) return;
    if (await gateway.read(fromCookie)) adopt(clientId, fromCookie);
  }

  return boundary.guard(
    "namespace middleware",
    (socket, next) => {
      attach(socket);
      readopt(socket).then(() => next(), next);
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
