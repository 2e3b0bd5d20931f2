import { once } from "node:events";
import Koa from "koa";
import { Server } from "socket.io";
import type { Socket as ClientSocket } from "socket.io-client";
import { afterEach, describe, expect, it } from "vitest";
import { type BridgeOptions, bridgeSession, LiveStore, type SessionDestroyEvent } from "../src/index.js";
import { cookieSignature, parseSetCookies } from "./helpers/httpCookies.js";
import {
  captureHandshakeCookies, headerLines, type Inbox, inbox, nextDisconnect, type RawHandshake,
  rawPollingHandshake, rawWebSocketHandshake,
} from "./helpers/lifecycle.js";
import { closeAll, CookieJar, KEYS, startServer, type TestServer } from "./helpers/server.js";
import { ask, serverSocketOf, type Transport, TRANSPORTS } from "./helpers/socketTools.js";
import { storedRecord } from "./helpers/storeFixtures.js";

afterEach(closeAll);

const CLIENT = "test.sid.cid";
const SESSION = "test.sid";
const CLIENT_ID_SHAPE = /^[A-Za-z0-9_-]{24}$/;
const POLICIES = ["keep", "notify", "disconnect"] as const;

interface WhoAmI {
  clientId: string;
  sessionId?: string;
}

function rawHandshake(transport: Transport, url: string, cookie?: string): Promise<RawHandshake> {
  return transport === "polling" ? rawPollingHandshake(url, cookie) : rawWebSocketHandshake(url, cookie);
}

let pings = 0;

/**
 * Emits an ack-free `room:ping` to `room`, flushes every connected socket
 * with a `whoami` round-trip, and returns how many pings each socket got.
 */
async function reached(server: TestServer, room: string, clients: ClientSocket[]): Promise<number[]> {
  const mark = `ping-${++pings}`;
  const counts = clients.map(() => 0);
  const listeners = clients.map((client, at) => {
    const listener = (received: unknown) => {
      if (received === mark) counts[at]! += 1;
    };
    client.on("room:ping", listener);
    return listener;
  });
  server.io.to(room).emit("room:ping", mark);
  await Promise.all(clients.filter((client) => client.connected).map((client) => ask(client, "whoami")));
  clients.forEach((client, at) => client.off("room:ping", listeners[at]));
  return counts;
}

/** Session A (a websocket and a polling socket) and session B (one websocket socket), both written over HTTP. */
async function twoSessions(opt: BridgeOptions = {}) {
  const store = new LiveStore();
  const server = await startServer({ store, ...opt });
  const jarA = new CookieJar();
  const jarB = new CookieJar();
  expect((await server.get("/inc", jarA)).status).toBe(200);
  expect((await server.get("/inc", jarB)).status).toBe(200);
  const a = [
    await server.connect(jarA, { transports: ["websocket"] }),
    await server.connect(jarA, { transports: ["polling"] }),
  ];
  const b = await server.connect(jarB, { transports: ["websocket"] });
  const clientA = jarA.get(CLIENT)!;
  const clientB = jarB.get(CLIENT)!;
  const sidA = jarA.get(SESSION)!;
  const sidB = jarB.get(SESSION)!;
  expect(server.bridge.getSessionId(clientA)).toBe(sidA);
  expect(server.bridge.getSessionId(clientB)).toBe(sidB);
  expect(sidA).not.toBe(sidB);
  for (const socket of a) expect(await ask(socket, "whoami")).toEqual({ clientId: clientA, sessionId: sidA });
  expect(await ask(b, "whoami")).toEqual({ clientId: clientB, sessionId: sidB });
  return { store, server, jarA, jarB, a, b, clientA, clientB, sidA, sidB };
}

type TwoSessions = Awaited<ReturnType<typeof twoSessions>>;

describe.each(TRANSPORTS)("a client whose first contact is a %s handshake", (transport) => {
  it("receives the client cookie and its signature as two separate Set-Cookie headers", async () => {
    const server = await startServer();
    const raw = await rawHandshake(transport, server.url);
    expect(raw.status).toBe(transport === "polling" ? 200 : 101);
    const setCookie = raw.headers["set-cookie"];
    expect(setCookie).toHaveLength(2);
    const cookies = parseSetCookies(setCookie);
    expect(cookies.map((cookie) => cookie.name)).toEqual([CLIENT, `${CLIENT}.sig`]);
    const [id, sig] = cookies;
    expect(id!.value).toMatch(CLIENT_ID_SHAPE);
    expect(sig!.value).toBe(cookieSignature(CLIENT, id!.value));
    for (const cookie of cookies) {
      expect(cookie.attributes).toMatchObject({ path: "/", httponly: true });
      // clientMaxAge defaults to one year.
      const lifetime = Date.parse(cookie.attributes.expires as string) - Date.now();
      expect(lifetime).toBeGreaterThan(364 * 24 * 3600_000);
      expect(lifetime).toBeLessThanOrEqual(365 * 24 * 3600_000);
    }
    // One header line per cookie on the wire, each carrying exactly one cookie.
    expect(headerLines(raw.rawHeaders, "set-cookie")).toEqual(setCookie);

    const again = parseSetCookies((await rawHandshake(transport, server.url)).headers["set-cookie"]);
    expect(again.map((cookie) => cookie.name)).toEqual([CLIENT, `${CLIENT}.sig`]);
    expect(again[0]!.value).toMatch(CLIENT_ID_SHAPE);
    expect(again[0]!.value).not.toBe(id!.value);
  });

  it("gets no Set-Cookie when the handshake carries a valid client cookie", async () => {
    const server = await startServer();
    const jar = new CookieJar();
    await server.get("/session", jar);
    expect(jar.get(CLIENT)).toMatch(CLIENT_ID_SHAPE);
    const raw = await rawHandshake(transport, server.url, jar.header());
    expect(raw.status).toBe(transport === "polling" ? 200 : 101);
    expect(raw.headers["set-cookie"]).toBeUndefined();
    expect(headerLines(raw.rawHeaders, "set-cookie")).toEqual([]);

    const handshakes = captureHandshakeCookies(server.io);
    const client = await server.connect(jar, { transports: [transport] });
    expect(await ask<WhoAmI>(client, "whoami")).toEqual({ clientId: jar.get(CLIENT) });
    expect(handshakes).toEqual([[]]);
  });

  it("gets a new client id when the client cookie's signature is forged", async () => {
    const server = await startServer();
    const forged = "A".repeat(24);
    const raw = await rawHandshake(transport, server.url, `${CLIENT}=${forged}; ${CLIENT}.sig=forgedsignature`);
    const cookies = parseSetCookies(raw.headers["set-cookie"]);
    expect(cookies.map((cookie) => cookie.name)).toEqual([CLIENT, `${CLIENT}.sig`]);
    expect(cookies[0]!.value).toMatch(CLIENT_ID_SHAPE);
    expect(cookies[0]!.value).not.toBe(forged);
  });

  it("keeps the socket's client id for HTTP and makes the first HTTP session live on the connected socket", async () => {
    const store = new LiveStore();
    const server = await startServer({ store });
    const handshakes = captureHandshakeCookies(server.io);
    const client = await server.connect(new CookieJar(), { transports: [transport] });
    const socketId = client.id;
    const who = await ask<WhoAmI>(client, "whoami");
    expect(who.clientId).toMatch(CLIENT_ID_SHAPE);
    expect(who.sessionId).toBeUndefined();
    expect(serverSocketOf(server.io, client).clientId).toBe(who.clientId);

    // The handshake response carried that very id, signed.
    expect(handshakes).toHaveLength(1);
    const jar = new CookieJar();
    jar.store(handshakes[0]);
    expect([...jar.cookies.keys()]).toEqual([CLIENT, `${CLIENT}.sig`]);
    expect(jar.get(CLIENT)).toBe(who.clientId);
    expect(jar.get(`${CLIENT}.sig`)).toBe(cookieSignature(CLIENT, who.clientId));

    // Sessions are only created over HTTP.
    expect(await ask(client, "session:inc")).toEqual({ missing: true });
    expect(store.size).toBe(0);

    const read = await server.get("/session", jar);
    expect(read.body.clientId).toBe(who.clientId);
    expect(jar.get(CLIENT)).toBe(who.clientId);
    expect(jar.get(SESSION)).toBeUndefined();

    const write = await server.get("/inc", jar);
    expect(write.body.clientId).toBe(who.clientId);
    const sessionId = jar.get(SESSION)!;
    expect(sessionId).toBeDefined();
    expect(server.bridge.getClientId(sessionId)).toBe(who.clientId);

    // Same connection, no reconnect: the socket now sees the session.
    expect(client.connected).toBe(true);
    expect(client.id).toBe(socketId);
    expect(await ask(client, "whoami")).toEqual({ clientId: who.clientId, sessionId });
    expect(await ask(client, "session:get")).toEqual({ sessionId, session: { count: 1 } });
    expect(await reached(server, sessionId, [client])).toEqual([1]);
    expect(await ask(client, "session:inc")).toBe(2);
    expect(storedRecord(store, sessionId)).toMatchObject({ count: 2 });
    expect(store.size).toBe(1);
    expect(handshakes).toHaveLength(1);
  });
});

describe("socket.ctx", () => {
  it.each(TRANSPORTS)("is the Koa context of the %s handshake, read-only, with the socket's client id", async (transport) => {
    const server = await startServer();
    const jar = new CookieJar();
    await server.get("/inc", jar);
    const client = await server.connect(jar, { transports: [transport] });
    const socket = serverSocketOf(server.io, client);
    const ctx = socket.ctx;

    expect(Object.getPrototypeOf(ctx)).toBe(server.app.context);
    expect(ctx.app).toBe(server.app);
    expect(ctx.req).toBe(socket.request);
    expect(ctx.request.headers.cookie).toBe(jar.header());
    expect(ctx.cookies.get(CLIENT, { signed: true })).toBe(jar.get(CLIENT));
    expect(ctx.cookies.get(SESSION, { signed: true })).toBe(jar.get(SESSION));
    expect(ctx.clientId).toBe(socket.clientId);
    expect(ctx.clientId).toBe(jar.get(CLIENT));
    expect(ctx.sessionId).toBe(jar.get(SESSION));

    // This file is an ES module, so assignment to a read-only property throws.
    expect(() => {
      (socket as unknown as { ctx: unknown }).ctx = {};
    }).toThrow(TypeError);
    expect(socket.ctx).toBe(ctx);
  });

  it.each(TRANSPORTS)("carries the fresh client id of a %s handshake without cookies", async (transport) => {
    const server = await startServer();
    const client = await server.connect(new CookieJar(), { transports: [transport] });
    const socket = serverSocketOf(server.io, client);
    const { clientId } = await ask<WhoAmI>(client, "whoami");
    expect(socket.ctx.clientId).toBe(clientId);
    expect(socket.clientId).toBe(clientId);
    expect(socket.ctx.sessionId).toBeUndefined();
  });
});

describe.each(POLICIES)("a login that regenerates the session (onSessionDestroy %j)", (policy) => {
  it("moves every socket of the client to the new session, without destroy effects", async () => {
    const { store, server, jarA, a, b, clientA, clientB, sidA, sidB } = await twoSessions({ onSessionDestroy: policy });
    const boxes = [...a, b].map(inbox);
    const socketIds = a.map((socket) => socket.id);
    const destroyed: SessionDestroyEvent[] = [];
    server.bridge.on("sessionDestroy", (event) => destroyed.push(event));

    const login = await server.get("/login?user=ann", jarA);
    const newId = jarA.get(SESSION)!;
    expect(newId).not.toBe(sidA);
    expect(login.body).toEqual({ clientId: clientA, sessionId: newId, session: { count: 1, user: "ann" } });
    expect(destroyed).toEqual([{ clientId: clientA, sessionId: sidA }]);

    for (const socket of a) {
      expect(await ask(socket, "whoami")).toEqual({ clientId: clientA, sessionId: newId });
      expect(await ask(socket, "session:get")).toEqual({ sessionId: newId, session: { count: 1, user: "ann" } });
    }
    expect(await ask(a[0]!, "session:inc")).toBe(2);
    expect(await ask(a[1]!, "session:inc")).toBe(3);
    expect(storedRecord(store, newId)).toMatchObject({ count: 3, user: "ann" });
    expect(store.get(sidA)).toBeUndefined();
    expect(store.list().sort()).toEqual([newId, sidB].sort());
    expect((await server.get("/session", jarA)).body.session).toEqual({ count: 3, user: "ann" });

    // A move is not a destroy: same connections, no event, no disconnect, under every policy.
    expect(a.map((socket) => socket.connected)).toEqual([true, true]);
    expect(a.map((socket) => socket.id)).toEqual(socketIds);
    expect(boxes).toEqual([0, 1, 2].map((): Inbox => ({ events: [], disconnects: [] })));
    expect(await ask(b, "whoami")).toEqual({ clientId: clientB, sessionId: sidB });
  });
});

describe("rooms", () => {
  it("io.to(sessionId) reaches exactly the sockets of that session", async () => {
    const { server, a, b, sidA, sidB } = await twoSessions();
    expect(server.bridge.roomOf(sidA)).toBe(sidA);
    expect(await reached(server, sidA, [...a, b])).toEqual([1, 1, 0]);
    expect(await reached(server, sidB, [...a, b])).toEqual([0, 0, 1]);
    for (const client of a) expect(serverSocketOf(server.io, client).rooms.has(sidA)).toBe(true);
  });

  it("after a login, the new id's room reaches the client's sockets and the old id's room none", async () => {
    const { server, jarA, a, b, sidA, sidB } = await twoSessions();
    await server.get("/login", jarA);
    const newId = jarA.get(SESSION)!;
    expect(newId).not.toBe(sidA);
    expect(await reached(server, newId, [...a, b])).toEqual([1, 1, 0]);
    expect(await reached(server, sidA, [...a, b])).toEqual([0, 0, 0]);
    expect(await reached(server, sidB, [...a, b])).toEqual([0, 0, 1]);
    for (const client of a) {
      const socket = serverSocketOf(server.io, client);
      expect([...socket.rooms].sort()).toEqual([socket.id, newId].sort());
    }
  });

  it("names the room roomPrefix + sessionId, also after a login", async () => {
    const { server, jarA, a, b, sidA, sidB } = await twoSessions({ roomPrefix: "s:" });
    expect(server.bridge.roomOf(sidA)).toBe(`s:${sidA}`);
    expect(await reached(server, `s:${sidA}`, [...a, b])).toEqual([1, 1, 0]);
    expect(await reached(server, `s:${sidB}`, [...a, b])).toEqual([0, 0, 1]);
    expect(await reached(server, sidA, [...a, b])).toEqual([0, 0, 0]);

    await server.get("/login", jarA);
    const newId = jarA.get(SESSION)!;
    expect(server.bridge.roomOf(newId)).toBe(`s:${newId}`);
    expect(await reached(server, `s:${newId}`, [...a, b])).toEqual([1, 1, 0]);
    expect(await reached(server, `s:${sidA}`, [...a, b])).toEqual([0, 0, 0]);
    const socket = serverSocketOf(server.io, a[0]!);
    expect([...socket.rooms].sort()).toEqual([socket.id, `s:${newId}`].sort());
  });

  it("after a logout, the old id's room reaches none and the sockets stay in no session room", async () => {
    const { server, jarA, a, b, sidA, sidB } = await twoSessions();
    expect((await server.get("/logout", jarA)).status).toBe(200);
    expect(await reached(server, sidA, [...a, b])).toEqual([0, 0, 0]);
    expect(await reached(server, sidB, [...a, b])).toEqual([0, 0, 1]);
    expect(a.map((client) => client.connected)).toEqual([true, true]);
    for (const client of a) {
      const socket = serverSocketOf(server.io, client);
      expect([...socket.rooms]).toEqual([socket.id]);
    }
  });
});

/** The ways a session can die; each resolves once the bridge has seen the destroy. */
const WAYS: [string, (t: TwoSessions) => Promise<void>][] = [
  ["HTTP logout (ctx.session = null)", async ({ server, jarA }) => {
    expect((await server.get("/logout", jarA)).status).toBe(200);
  }],
  ["WS logout (sessionCtx.session = null)", async ({ server, a, sidA }) => {
    const destroyed = once(server.bridge, "sessionDestroy");
    // Under "disconnect" the ack never arrives: wait for the bridge's event instead.
    a[0]!.emit("session:logout", () => {});
    const [event] = (await destroyed) as [SessionDestroyEvent];
    expect(event.sessionId).toBe(sidA);
  }],
  ["bridge.destroyById", async ({ server, sidA }) => {
    expect(await server.bridge.destroyById(sidA)).toBe(true);
  }],
  ["expiry via bridge.cleanup()", async ({ server, store, sidA }) => {
    store.set(sidA, { ...store.get(sidA)!, expiresAt: Date.now() - 1000 });
    expect(await server.bridge.cleanup()).toBe(1);
  }],
];

interface PolicyCase {
  name: string;
  opt: BridgeOptions;
  outcome: "keep" | "notify" | "disconnect";
  event?: string;
}

const POLICY_CASES: PolicyCase[] = [
  { name: "default (keep)", opt: {}, outcome: "keep" },
  { name: "keep", opt: { onSessionDestroy: "keep" }, outcome: "keep" },
  { name: "notify", opt: { onSessionDestroy: "notify" }, outcome: "notify", event: "session:destroyed" },
  {
    name: "notify with destroyEvent \"auth:gone\"",
    opt: { onSessionDestroy: "notify", destroyEvent: "auth:gone" },
    outcome: "notify",
    event: "auth:gone",
  },
  { name: "disconnect", opt: { onSessionDestroy: "disconnect" }, outcome: "disconnect" },
];

describe.each(WAYS)("a session destroyed by %s", (_way, destroy) => {
  it.each(POLICY_CASES)("onSessionDestroy $name: applies the policy to that session's sockets only", async ({ opt, outcome, event }) => {
    const t = await twoSessions(opt);
    const { store, server, a, b, clientA, clientB, sidA, sidB } = t;
    const boxesA = a.map(inbox);
    const boxB = inbox(b);
    const disconnects = outcome === "disconnect" ? a.map(nextDisconnect) : [];

    await destroy(t);

    expect(store.get(sidA)).toBeUndefined();
    expect(server.bridge.getSessionId(clientA)).toBeUndefined();
    expect(server.bridge.getClientId(sidA)).toBeUndefined();

    if (outcome === "disconnect") {
      expect(await Promise.all(disconnects)).toEqual(["io server disconnect", "io server disconnect"]);
      expect(a.map((client) => client.connected)).toEqual([false, false]);
      expect(boxesA.map((box) => box.events)).toEqual([[], []]);
      expect(boxesA.map((box) => box.disconnects)).toEqual([["io server disconnect"], ["io server disconnect"]]);
      expect([...server.io.of("/").sockets.keys()]).toEqual([b.id]);
    } else {
      for (const client of a) expect(await ask(client, "whoami")).toEqual({ clientId: clientA });
      const expected = outcome === "notify" ? [[event, { sessionId: sidA }]] : [];
      expect(boxesA.map((box) => box.events)).toEqual([expected, expected]);
      expect(boxesA.map((box) => box.disconnects)).toEqual([[], []]);
      expect(a.map((client) => client.connected)).toEqual([true, true]);
      expect(await ask(a[1]!, "session:get")).toEqual({ missing: true });
    }

    // The other session's socket is unaffected.
    expect(await ask(b, "whoami")).toEqual({ clientId: clientB, sessionId: sidB });
    expect(await ask(b, "session:get")).toEqual({ sessionId: sidB, session: { count: 1 } });
    expect(boxB).toEqual({ events: [], disconnects: [] });
    expect(b.connected).toBe(true);
    expect(storedRecord(store, sidB)).toMatchObject({ count: 1 });
  });
});

describe("lifecycle options", () => {
  function bridgeWith(opt: unknown) {
    const app = new Koa();
    app.keys = KEYS;
    return bridgeSession(app, new Server(), opt as BridgeOptions);
  }

  function thrown(opt: unknown): Error {
    try {
      bridgeWith(opt);
    } catch (error) {
      return error as Error;
    }
    throw new Error("expected bridgeSession() to throw");
  }

  it.each([
    [{ roomPrefix: 5 }, `[koa-io-session] Invalid 'roomPrefix': expected a string, received 5.`],
    [{ roomPrefix: {} }, `[koa-io-session] Invalid 'roomPrefix': expected a string, received an object.`],
    [
      { onSessionDestroy: "explode" },
      `[koa-io-session] Invalid 'onSessionDestroy': expected one of "keep", "notify", "disconnect", received "explode".`,
    ],
    [
      { onSessionDestroy: true },
      `[koa-io-session] Invalid 'onSessionDestroy': expected one of "keep", "notify", "disconnect", received true.`,
    ],
    [{ destroyEvent: "" }, `[koa-io-session] Invalid 'destroyEvent': expected a non-empty string, received "".`],
    [{ destroyEvent: 7 }, `[koa-io-session] Invalid 'destroyEvent': expected a non-empty string, received 7.`],
  ])("rejects %j with a TypeError", (opt, text) => {
    const error = thrown(opt);
    expect(error).toBeInstanceOf(TypeError);
    expect(error.message).toBe(text);
  });

  it("accepts every policy, an empty room prefix and a custom destroy event", async () => {
    for (const onSessionDestroy of POLICIES) {
      const bridge = bridgeWith({ onSessionDestroy, roomPrefix: "", destroyEvent: "bye" });
      expect(bridge.roomOf("abc")).toBe("abc");
      await bridge.close();
    }
    const prefixed = bridgeWith({ roomPrefix: "session/" });
    expect(prefixed.roomOf("abc")).toBe("session/abc");
    await prefixed.close();
  });
});
