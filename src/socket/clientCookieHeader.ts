import type { IncomingMessage, OutgoingHttpHeaders } from "node:http";
import type { Server } from "socket.io";
import type { Boundary } from "../bridge/Boundary.js";
import { message } from "../errors.js";
import type { ResolvedOptions } from "../options.js";
import type { Handshakes } from "./Handshakes.js";

// engine.io writes each header of a websocket upgrade as one "name: value"
// line, so an array of cookies would become one broken line; header names are
// case-insensitive, so each cookie gets its own spelling of the name.
const SET_COOKIE_SPELLINGS = ["Set-Cookie", "set-cookie", "SET-COOKIE", "Set-cookie"];

function addCookies(headers: OutgoingHttpHeaders, req: IncomingMessage, cookies: string[]): void {
  if (req.headers.upgrade === undefined) {
    headers["Set-Cookie"] = cookies;
    return;
  }
  cookies.forEach((cookie, at) => {
    headers[SET_COOKIE_SPELLINGS[at]!] = cookie;
  });
}

/**
 * Sends a fresh client id's cookie in the handshake response (polling and
 * websocket), so a client whose first contact is a socket keeps that id for
 * its later HTTP requests.
 */
export function installClientCookieHeader(io: Server, handshakes: Handshakes, config: ResolvedOptions, boundary: Boundary): () => void {
  // On an unexpected error the handshake goes on without the cookie; the namespace middleware refuses it.
  const onInitialHeaders = boundary.guard("initial_headers listener", (headers: OutgoingHttpHeaders, req: IncomingMessage): void => {
    const { clientId, isFresh } = handshakes.of(req);
    if (!isFresh) return;
    const ctx = handshakes.context(req);
    try {
      ctx.cookies.set(config.clientKey, clientId, config.clientCookie);
    } catch (error) {
      // e.g. `secure: true` on a plain-HTTP handshake: the socket keeps a one-off id.
      process.emitWarning(message(`Cannot send the client cookie in a handshake: ${(error as Error).message}`));
      return;
    }
    addCookies(headers, req, ctx.response.get("Set-Cookie") as unknown as string[]);
  });

  let engine: Server["engine"] | undefined;
  const attach = boundary.guard("io.bind wrapper", (): void => {
    engine = io.engine;
    engine.on("initial_headers", onInitialHeaders);
  });
  if (io.engine) {
    attach();
    return () => engine?.off("initial_headers", onInitialHeaders);
  }
  // `new Server()` without an HTTP server has no engine until `attach()`/`listen()` binds one.
  const bind = io.bind;
  io.bind = function (this: Server, ...args: Parameters<Server["bind"]>) {
    const bound = bind.apply(this, args);
    attach();
    return bound;
  };
  return () => {
    if (io.bind !== bind) io.bind = bind;
    engine?.off("initial_headers", onInitialHeaders);
  };
}
