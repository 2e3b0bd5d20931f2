import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import Koa from "koa";
import { Server } from "socket.io";
import { io as connect, type Socket as ClientSocket } from "socket.io-client";
import request from "supertest";
import { type BridgeOptions, bridgeSession, type SessionBridge } from "../../src/index.js";
import { CookieJar } from "./cookieJar.js";

export const KEYS = ["test-key-one-0123456789abcdefghijkl", "test-key-two-0123456789abcdefghijkl"];

export interface TestServer {
  app: Koa;
  io: Server;
  bridge: SessionBridge;
  http: HttpServer;
  url: string;
  /** Sends a GET with the jar's cookies and stores the cookies of the response. */
  get(path: string, jar: CookieJar): Promise<request.Response>;
  /** Opens a socket.io-client connection carrying the jar's cookies. */
  connect(jar?: CookieJar, options?: { transports?: ("polling" | "websocket")[] }): Promise<ClientSocket>;
  close(): Promise<void>;
}

type Setup = (parts: { app: Koa; io: Server; bridge: SessionBridge }) => void;

const open = new Set<TestServer>();

/**
 * A Koa app and socket.io server on port 0 with a bridge and the test routes:
 * `/session` (read), `/inc` (count += 1), `/set?name=` , `/login` (regenerate),
 * `/logout` (destroy), `/touch` (read only). `setup` runs before the routes.
 * Sockets answer `session:get`, `session:inc` and `session:logout` with acks.
 */
export async function startServer(opt: BridgeOptions = {}, setup?: Setup, keys: Koa["keys"] = KEYS): Promise<TestServer> {
  const app = new Koa();
  app.keys = keys;
  const io = new Server();
  const bridge = bridgeSession(app, io, { key: "test.sid", ...opt });
  setup?.({ app, io, bridge });
  app.use(async (ctx, next) => {
    const session = ctx.session!;
    switch (ctx.path) {
      case "/session":
        break;
      case "/inc":
        session.count = (Number(session.count) || 0) + 1;
        break;
      case "/set":
        session.name = ctx.query.name;
        break;
      case "/login":
        session.user = ctx.query.user ?? "someone";
        await session.regenerate();
        break;
      case "/logout":
        ctx.session = null;
        break;
      default:
        return next();
    }
    ctx.body = { clientId: ctx.clientId, sessionId: ctx.sessionId, session: ctx.session };
  });
  io.on("connection", (socket) => {
    socket.on("whoami", (ack) => ack({ clientId: socket.clientId, sessionId: socket.sessionId }));
    socket.on("session:get", async (ack) => {
      ack(await socket.withSession((s) => ({ sessionId: s.sessionId, session: s.session }), { missing: true }));
    });
    socket.on("session:inc", async (ack) => {
      ack(await socket.withSession((s) => {
        s.session!.count = (Number(s.session!.count) || 0) + 1;
        return s.session!.count;
      }, { missing: true }));
    });
    socket.on("session:logout", async (ack) => {
      ack(await socket.withSession((s) => { s.session = null; return true; }, { missing: true }));
    });
  });

  const http = createServer(app.callback());
  io.attach(http);
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const sockets = new Set<ClientSocket>();

  const server: TestServer = {
    app, io, bridge, http, url,
    async get(path, jar) {
      const res = await request(http).get(path).set("Cookie", jar.header());
      jar.store(res.headers["set-cookie"]);
      return res;
    },
    connect(jar = new CookieJar(), options = {}) {
      const socket = connect(url, {
        transports: options.transports ?? ["websocket"],
        extraHeaders: { cookie: jar.header() },
        forceNew: true,
        reconnection: false,
      });
      sockets.add(socket);
      return new Promise((resolve, reject) => {
        socket.once("connect", () => resolve(socket));
        socket.once("connect_error", reject);
      });
    },
    async close() {
      open.delete(server);
      for (const socket of sockets) socket.disconnect();
      await bridge.close();
      await new Promise<void>((resolve) => io.close(() => resolve()));
    },
  };
  open.add(server);
  return server;
}

/** Closes every server started by `startServer` that is still open (use in afterEach). */
export async function closeAll(): Promise<void> {
  await Promise.all([...open].map((server) => server.close()));
}

/** Resolves the next emission of `event` on an emitter (a Node EventEmitter or a socket.io-client socket). */
export function waitFor<T>(emitter: NodeJS.EventEmitter | ClientSocket, event: string): Promise<T> {
  return new Promise((resolve) => (emitter as NodeJS.EventEmitter).once(event, resolve));
}

export { CookieJar };
