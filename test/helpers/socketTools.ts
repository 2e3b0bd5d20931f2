import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import Koa from "koa";
import { type Namespace, Server, type Socket as ServerSocket } from "socket.io";
import { io as connect, type Socket as ClientSocket } from "socket.io-client";
import request from "supertest";
import { type BridgeOptions, bridgeSession, type SessionBridge } from "../../src/index.js";
import { CookieJar } from "./cookieJar.js";
import { KEYS } from "./server.js";

export type Transport = "polling" | "websocket";
export const TRANSPORTS: Transport[] = ["websocket", "polling"];

/** A promise with its resolve function exposed, for handlers that must wait on the test. */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

/** Emits `event` and resolves the server's acknowledgement. */
export function ask<T = unknown>(socket: ClientSocket, event: string, ...args: unknown[]): Promise<T> {
  return socket.timeout(10_000).emitWithAck(event, ...args) as Promise<T>;
}

/** The server-side socket of a connected client socket (same id) on namespace `nsp`. */
export function serverSocketOf(io: Server, client: ClientSocket, nsp = "/"): ServerSocket {
  const socket = io.of(nsp).sockets.get(client.id!);
  if (!socket) throw new Error(`No server socket ${client.id} on ${nsp}`);
  return socket;
}

const clients = new Set<ClientSocket>();

/** Opens a client socket to `url` + `nsp` carrying the jar's cookies; rejects on connect_error. */
export function connectSocket(
  url: string,
  jar: CookieJar = new CookieJar(),
  options: { nsp?: string; transports?: Transport[] } = {},
): Promise<ClientSocket> {
  const socket = connect(`${url}${options.nsp ?? ""}`, {
    transports: options.transports ?? ["websocket"],
    extraHeaders: { cookie: jar.header() },
    forceNew: true,
    reconnection: false,
  });
  clients.add(socket);
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", reject);
  });
}

/** Answers `whoami` and `session:get` on `nsp` with acks. */
export function answerIdentity(nsp: Namespace): void {
  nsp.on("connection", (socket) => {
    socket.on("whoami", (ack) => ack({ clientId: socket.clientId, sessionId: socket.sessionId }));
    socket.on("session:get", async (ack) => {
      ack(await socket.withSession((s) => ({ sessionId: s.sessionId, session: s.session }), { missing: true }));
    });
  });
}

export interface NamespaceServer {
  io: Server;
  bridge: SessionBridge;
  url: string;
  http: HttpServer;
  get(path: string, jar: CookieJar): Promise<request.Response>;
  close(): Promise<void>;
}

const servers = new Set<NamespaceServer>();

/**
 * A Koa app (route `/inc`: count += 1) and a socket.io server where
 * `beforeBridge(io)` runs before `bridgeSession()` and `afterBridge(io)` after,
 * so namespaces can be created on either side of the bridge.
 */
export async function startNamespaceServer(
  opt: BridgeOptions,
  beforeBridge: (io: Server) => void,
  afterBridge: (io: Server) => void,
): Promise<NamespaceServer> {
  const app = new Koa();
  app.keys = KEYS;
  const io = new Server();
  beforeBridge(io);
  const bridge = bridgeSession(app, io, { key: "test.sid", ...opt });
  afterBridge(io);
  app.use(async (ctx, next) => {
    if (ctx.path !== "/inc") return next();
    ctx.session!.count = (Number(ctx.session!.count) || 0) + 1;
    ctx.body = { clientId: ctx.clientId, sessionId: ctx.sessionId, session: ctx.session };
  });
  const http = createServer(app.callback());
  io.attach(http);
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const server: NamespaceServer = {
    io, bridge, url, http,
    async get(path, jar) {
      const res = await request(http).get(path).set("Cookie", jar.header());
      jar.store(res.headers["set-cookie"]);
      return res;
    },
    async close() {
      servers.delete(server);
      await bridge.close();
      await new Promise<void>((resolve) => io.close(() => resolve()));
    },
  };
  servers.add(server);
  return server;
}

/** Disconnects every socket opened by `connectSocket` and closes every `startNamespaceServer` (use in afterEach). */
export async function closeSocketTools(): Promise<void> {
  for (const socket of clients) socket.disconnect();
  clients.clear();
  await Promise.all([...servers].map((server) => server.close()));
}
