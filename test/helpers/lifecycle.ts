import { randomBytes } from "node:crypto";
import { get, type IncomingHttpHeaders, type OutgoingHttpHeaders, request } from "node:http";
import type { Server } from "socket.io";
import type { Socket as ClientSocket } from "socket.io-client";

/** The head of a raw engine.io handshake response. */
export interface RawHandshake {
  status: number;
  headers: IncomingHttpHeaders;
  /** Alternating names and values, exactly as received (one entry per header line). */
  rawHeaders: string[];
}

const HANDSHAKE_PATH = "/socket.io/?EIO=4&transport=";

/** The first engine.io polling request (`GET /socket.io/?EIO=4&transport=polling`), made by hand. */
export function rawPollingHandshake(url: string, cookie?: string): Promise<RawHandshake> {
  return new Promise((resolve, reject) => {
    const req = get(`${url}${HANDSHAKE_PATH}polling`, { headers: cookie ? { cookie } : {} }, (res) => {
      res.resume();
      res.once("end", () => resolve({ status: res.statusCode!, headers: res.headers, rawHeaders: res.rawHeaders }));
    });
    req.once("error", reject);
  });
}

/** A websocket-only engine.io handshake (an HTTP upgrade) made by hand; the connection is closed right after. */
export function rawWebSocketHandshake(url: string, cookie?: string): Promise<RawHandshake> {
  const headers: OutgoingHttpHeaders = {
    Connection: "Upgrade",
    Upgrade: "websocket",
    "Sec-WebSocket-Key": randomBytes(16).toString("base64"),
    "Sec-WebSocket-Version": "13",
  };
  if (cookie) headers.cookie = cookie;
  return new Promise((resolve, reject) => {
    const req = request(`${url}${HANDSHAKE_PATH}websocket`, { headers });
    req.once("upgrade", (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode!, headers: res.headers, rawHeaders: res.rawHeaders });
    });
    req.once("response", (res) => {
      res.resume();
      reject(new Error(`Expected an upgrade, received HTTP ${res.statusCode}`));
    });
    req.once("error", reject);
    req.end();
  });
}

/** The header lines of a raw response named `name` (case-insensitive), in order. */
export function headerLines(rawHeaders: string[], name: string): string[] {
  const lines: string[] = [];
  for (let at = 0; at < rawHeaders.length; at += 2) {
    if (rawHeaders[at]!.toLowerCase() === name.toLowerCase()) lines.push(rawHeaders[at + 1]!);
  }
  return lines;
}

/**
 * Records the `Set-Cookie` values the engine sends in each handshake
 * response (one entry per handshake, `[]` when none), from the engine's
 * `initial_headers` event; register it after the bridge so its headers are in.
 */
export function captureHandshakeCookies(io: Server): string[][] {
  const handshakes: string[][] = [];
  io.engine.on("initial_headers", (headers: OutgoingHttpHeaders) => {
    const cookies = Object.keys(headers)
      .filter((name) => name.toLowerCase() === "set-cookie")
      .flatMap((name) => [headers[name]!].flat().map(String));
    handshakes.push(cookies);
  });
  return handshakes;
}

/** What a client socket received: every event (any name) and its disconnect reasons. */
export interface Inbox {
  events: unknown[][];
  disconnects: string[];
}

/** Starts recording every event and disconnect of `socket`. */
export function inbox(socket: ClientSocket): Inbox {
  const box: Inbox = { events: [], disconnects: [] };
  socket.onAny((event: string, ...args: unknown[]) => box.events.push([event, ...args]));
  socket.on("disconnect", (reason) => box.disconnects.push(reason));
  return box;
}

/** Resolves the reason of the next disconnect of `socket`. */
export function nextDisconnect(socket: ClientSocket): Promise<string> {
  return new Promise((resolve) => socket.once("disconnect", (reason) => resolve(reason)));
}
