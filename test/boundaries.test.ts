import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import Koa from "koa";
import { Server } from "socket.io";
import { io as connect, type Socket as ClientSocket } from "socket.io-client";
import request from "supertest";
import { afterEach, describe, expect, it } from "vitest";
import { type BridgeOptions, bridgeSession, LiveStore, type SessionBridge, type StoreChange } from "../src/index.js";
import { cookieSignature } from "./helpers/httpCookies.js";
import { CookieJar, KEYS } from "./helpers/server.js";

const GUARDED = Symbol.for("koa-io-session.guarded");
const FAULT_HOOK = Symbol.for("koa-io-session.fault");

/** Every boundary a fault can be injected at, and so every name the scenario below must reach. */
const BOUNDARIES = [
  "client identification",
  "initial_headers listener",
  "io.bind wrapper",
  "namespace middleware",
  "connection listener",
  "disconnect listener",
  "new_namespace listener",
  "store change listener",
  "socket.join",
  "socket.leave",
];

/** A store with a change feed whose listener the test can call, like a shared store's announcements. */
class FeedStore extends LiveStore {
  listener: ((change: StoreChange) => void) | undefined;
  override subscribe(listener: (change: StoreChange) => void): () => void {
    this.listener = listener;
    return () => (this.listener = undefined);
  }
}

type Fn = (...args: never[]) => unknown;

interface Setup {
  app: Koa;
  io: Server;
  store: FeedStore;
  bridge: SessionBridge | undefined;
  /** What the bridge reported on its `error` event, from construction on. */
  errors: Error[];
  url: string;
  /** Server-side sockets, as the app's connection listener saw them. */
  serverSockets: import("socket.io").Socket[];
  close(): Promise<void>;
}

const opened: Setup[] = [];
const clients: ClientSocket[] = [];

/** The app of the README: bridge (when `withBridge`), routes, a namespace created later, HTTP server attached last. */
async function setup(withBridge: boolean, opt: BridgeOptions & Record<symbol, unknown> = {}, keys: unknown[] = KEYS): Promise<Setup> {
  const app = new Koa();
  app.keys = keys as string[];
  app.silent = true;
  const io = new Server();
  const store = new FeedStore();
  const bridge = withBridge ? bridgeSession(app, io, { key: "test.sid", store, ...opt }) : undefined;
  const errors: Error[] = [];
  bridge?.on("error", (error) => errors.push(error));
  app.use(async (ctx) => {
    if (ctx.path === "/login") {
      ctx.session!.user = "someone";
      await ctx.session!.regenerate();
    } else if (ctx.path === "/logout") ctx.session = null;
    ctx.body = { clientId: ctx.clientId, sessionId: ctx.sessionId ?? null };
  });
  const serverSockets: Setup["serverSockets"] = [];
  const onConnection = (socket: import("socket.io").Socket) => {
    serverSockets.push(socket);
    socket.on("whoami", (ack: (v: unknown) => void) => ack({ clientId: socket.clientId, sessionId: socket.sessionId ?? null }));
  };
  io.on("connection", onConnection);
  io.of("/late").on("connection", onConnection);
  const http = createServer(app.callback());
  io.attach(http);
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  const result: Setup = {
    app, io, store, bridge, errors, serverSockets,
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
    async close() {
      await bridge?.close();
      await new Promise<void>((resolve) => io.close(() => resolve()));
    },
  };
  opened.push(result);
  return result;
}

function open(url: string, jar: CookieJar, transports: ("polling" | "websocket")[] = ["websocket"]): Promise<ClientSocket> {
  const socket = connect(url, { transports, extraHeaders: { cookie: jar.header() }, forceNew: true, reconnection: false });
  clients.push(socket);
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", reject);
  });
}

/** Every function registered where engine.io, socket.io or Koa call back, by place. */
function registrations(s: Setup, socket?: import("socket.io").Socket): Map<string, Fn[]> {
  const found = new Map<string, Fn[]>();
  const emitterListeners = (place: string, emitter: NodeJS.EventEmitter) => {
    for (const name of emitter.eventNames()) found.set(`${place} "${String(name)}"`, emitter.listeners(name) as Fn[]);
  };
  emitterListeners("engine", s.io.engine as unknown as NodeJS.EventEmitter);
  emitterListeners("io", s.io as unknown as NodeJS.EventEmitter);
  for (const [name, nsp] of s.io._nsps) {
    emitterListeners(`namespace ${name}`, nsp as unknown as NodeJS.EventEmitter);
    found.set(`namespace ${name} middleware`, (nsp as unknown as { _fns: Fn[] })._fns);
  }
  if (socket) emitterListeners("socket", socket as unknown as NodeJS.EventEmitter);
  found.set("koa middleware", s.app.middleware as Fn[]);
  if (Object.prototype.hasOwnProperty.call(s.io, "bind")) found.set("io.bind", [s.io.bind as Fn]);
  if (s.store.listener) found.set("store feed", [s.store.listener as Fn]);
  return found;
}

const unguarded = (fns: Fn[]) => fns.filter((fn) => !(GUARDED in fn));

afterEach(async () => {
  for (const client of clients.splice(0)) client.disconnect();
  await Promise.all(opened.splice(0).map((s) => s.close()));
});

describe("every function the bridge registers is guarded", () => {
  it("adds no unguarded listener, middleware or wrapper anywhere (except its Koa middleware, whose promise Koa awaits)", async () => {
    const plain = await setup(false);
    const bridged = await setup(true);
    const jar = new CookieJar();
    const login = await request(bridged.url).get("/login");
    jar.store(login.headers["set-cookie"]);
    await request(plain.url).get("/login");
    await open(plain.url, new CookieJar());
    await open(bridged.url, jar);

    const without = registrations(plain, plain.serverSockets[0]);
    const withBridge = registrations(bridged, bridged.serverSockets[0]);
    let guardedCount = 0;
    for (const [place, fns] of withBridge) {
      // Called by Koa, which awaits it, and by the user's io.attach(): their errors have a caller.
      // The io.bind wrapper's own step (hooking the new engine) is guarded inside it.
      const extra = place === "koa middleware"
        ? unguarded(fns).filter((fn) => fn.name !== "koaIoSession")
        : place === "io.bind" ? [] : unguarded(fns);
      // Whatever is not guarded must be socket.io's, engine.io's or the test's own: the same count as without the bridge.
      expect({ place, unguarded: extra.length }).toEqual({ place, unguarded: without.get(place)?.length ?? 0 });
      guardedCount += fns.length - unguarded(fns).length;
    }
    const guardedPlaces = [...withBridge].filter(([, fns]) => fns.some((fn) => GUARDED in fn)).map(([place]) => place).sort();
    // socket.io's Server forwards the main namespace's listeners, so "io" and "namespace /" list the same ones.
    expect(guardedPlaces).toEqual([
      "engine \"initial_headers\"", "io \"connection\"", "io \"new_namespace\"",
      "namespace / \"connection\"", "namespace / \"new_namespace\"", "namespace / middleware",
      "namespace /late \"connection\"", "namespace /late middleware",
      "socket \"disconnect\"", "store feed",
    ].sort());
    expect(guardedCount).toBe(10);
  });
});

describe("an unexpected error at a boundary", () => {
  /** Runs everything that reaches every boundary once; returns what a client saw at each step. */
  async function scenario(s: Setup) {
    const jar = new CookieJar();
    const first = await request(s.url).get("/login").set("Cookie", jar.header());
    jar.store(first.headers["set-cookie"]);
    const outcome: Record<string, unknown> = { http: first.status };
    const socket = await open(s.url, jar).catch((error: Error) => error);
    outcome.socket = socket instanceof Error ? socket.message : await socket.emitWithAck("whoami");
    const fresh = await open(s.url, new CookieJar(), ["polling"]).catch((error: Error) => error);
    outcome.fresh = fresh instanceof Error ? fresh.message : "connected";
    const late = await open(`${s.url}/late`, jar).catch((error: Error) => error);
    outcome.late = late instanceof Error ? late.message : await late.emitWithAck("whoami");
    s.store.listener?.({ type: "set", sessionId: "somebody-else", clientId: "x".repeat(24), isNew: true });
    const logout = await request(s.url).get("/logout").set("Cookie", jar.header());
    outcome.logout = logout.status;
    if (!(fresh instanceof Error)) {
      const gone = new Promise((resolve) => fresh.once("disconnect", resolve));
      fresh.disconnect();
      await gone;
    }
    await new Promise((resolve) => setTimeout(resolve, 50)); // the server-side disconnect listener runs after the client's
    return { outcome, jar };
  }

  it("the scenario reaches every boundary", async () => {
    const reached = new Set<string>();
    const s = await setup(true, { [FAULT_HOOK]: (name: string) => void reached.add(name) });
    const { outcome } = await scenario(s);
    expect([...reached].sort()).toEqual([...BOUNDARIES].sort());
    expect(s.errors).toEqual([]);
    expect(outcome).toMatchObject({ http: 200, fresh: "connected", logout: 200 });
  });

  for (const boundary of BOUNDARIES) {
    it(`(${boundary}) is reported once on the bridge, and the process and other clients carry on`, async () => {
      let thrown = false;
      const fault = (name: string) => {
        if (name !== boundary || thrown) return;
        thrown = true;
        throw new Error(`injected fault in ${name}`);
      };
      const s = await setup(true, { [FAULT_HOOK]: fault });
      // A client connected before the fault is untouched by it.
      const bystanderJar = new CookieJar();
      bystanderJar.store((await request(s.url).get("/login")).headers["set-cookie"]);
      const { outcome } = await scenario(s);
      const bystander = await open(s.url, bystanderJar);
      expect(await bystander.emitWithAck("whoami")).toEqual({ clientId: bystanderJar.get("test.sid.cid"), sessionId: expect.any(String) });

      expect(thrown).toBe(true);
      expect(s.errors.map((error) => error.message)).toEqual([`[koa-io-session] Unexpected error in ${boundary}: injected fault in ${boundary}`]);
      expect(outcome.http).toBe(200);
      expect(outcome.logout).toBe(200);
      if (boundary === "namespace middleware") {
        // The first handshake to reach it is refused, with our message and no details.
        expect(outcome.socket).toBe("[koa-io-session] Handshake refused after an unexpected error; it was reported on the server.");
      } else {
        expect(outcome.socket).toEqual({ clientId: expect.any(String), sessionId: expect.any(String) });
        expect(outcome.fresh).toBe("connected");
      }
    });
  }

  it("reports an identification that throws once per handshake, though every namespace meets it", async () => {
    // A key Node's HMAC rejects makes verifying a signed cookie throw: a real unexpected error.
    const s = await setup(true, {}, [{ not: "a key" }]);
    const errors = s.errors;
    const jar = new CookieJar();
    jar.set("test.sid.cid", "A".repeat(24));
    jar.set("test.sid.cid.sig", cookieSignature("test.sid.cid", "A".repeat(24)));
    const refused = await open(s.url, jar, ["polling"]).then(() => undefined, (error: Error) => error);
    expect(refused?.message).toBe("[koa-io-session] Handshake refused after an unexpected error; it was reported on the server.");
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toMatch(/^\[koa-io-session\] Unexpected error in initial_headers listener: /);
  });

  it("goes to a process warning when nobody listens to error", async () => {
    const s = await setup(true, { [FAULT_HOOK]: (name: string) => { if (name === "connection listener") throw new Error("boom"); } });
    s.bridge!.removeAllListeners("error");
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on("warning", onWarning);
    try {
      const client = await open(s.url, new CookieJar());
      expect(client.connected).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 20)); // warnings are emitted on the next tick
      expect(warnings.map((w) => w.message)).toEqual(["[koa-io-session] Unexpected error in connection listener: boom"]);
    } finally {
      process.off("warning", onWarning);
    }
  });
});
