import { createHmac } from "node:crypto";
import { createServer, type Server as HttpServer } from "node:http";
import Koa from "koa";
import { Server } from "socket.io";
import request from "supertest";
import { afterEach, describe, expect, it } from "vitest";
import { type BridgeOptions, bridgeSession, LiveStore, ms, type SessionBridge } from "../src/index.js";
import { closeAll, CookieJar, KEYS, startServer } from "./helpers/server.js";

const PREFIX = "[koa-io-session] ";

// Bridges built outside startServer (no HTTP server, or a custom setup) are closed here.
const cleanups: (() => Promise<void> | void)[] = [];
const warningListeners: ((w: Error) => void)[] = [];

afterEach(async () => {
  for (const listener of warningListeners.splice(0)) process.off("warning", listener);
  for (const fn of cleanups.splice(0).reverse()) await fn();
  await closeAll();
});

function track(io: Server, bridge?: SessionBridge): void {
  cleanups.push(async () => {
    await bridge?.close();
    // An io that was never attached has no engine, and its close() would reject without calling back.
    if (io.engine) await new Promise<void>((resolve) => io.close(() => resolve()));
  });
}

/** A fresh app (with keys) and an unattached socket.io server. */
function parts(keys: string[] | null = KEYS): { app: Koa; io: Server } {
  const app = new Koa();
  if (keys) app.keys = keys;
  const io = new Server();
  track(io);
  return { app, io };
}

/** Builds a bridge from `opt` and returns the error it throws. */
function errorOf(opt: unknown): Error {
  const { app, io } = parts();
  try {
    const bridge = bridgeSession(app, io, opt as BridgeOptions);
    track(io, bridge);
  } catch (error) {
    return error as Error;
  }
  throw new Error("bridgeSession() did not throw");
}

/** Records every process warning with one of the package's codes until the test ends. */
function captureWarnings(code: string): Error[] {
  const seen: Error[] = [];
  const listener = (warning: Error) => {
    if ((warning as Error & { code?: string }).code === code) seen.push(warning);
  };
  process.on("warning", listener);
  warningListeners.push(listener);
  return seen;
}

/** process.emitWarning emits on the next tick. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Listens on port 0 with `app.callback()` and attaches `io`. */
async function listen(app: Koa, io: Server): Promise<HttpServer> {
  const http = createServer(app.callback());
  io.attach(http);
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  return http;
}

function incRoute(app: Koa): void {
  app.use((ctx) => {
    const session = ctx.session!;
    session.count = (Number(session.count) || 0) + 1;
    ctx.body = { count: session.count, sessionId: ctx.sessionId, clientId: ctx.clientId };
  });
}

function setCookies(res: request.Response): string[] {
  return [res.headers["set-cookie"] ?? []].flat() as string[];
}

function cookieNames(res: request.Response): string[] {
  return setCookies(res).map((line) => line.slice(0, line.indexOf("=")));
}

function cookieLine(res: request.Response, name: string): string | undefined {
  return setCookies(res).find((line) => line.startsWith(`${name}=`));
}

function expiresOf(line: string): number {
  const match = /expires=([^;]+)/i.exec(line);
  if (!match) throw new Error(`no expires in ${line}`);
  return Date.parse(match[1]!);
}

describe("invalid options", () => {
  type Case = [label: string, opt: Record<string, unknown>, kind: typeof TypeError | typeof RangeError, message: string];
  const cases: Case[] = [
    ["key of the wrong type", { key: 42 }, TypeError, "Invalid 'key': expected a non-empty string, received 42."],
    ["an empty key", { key: "" }, TypeError, `Invalid 'key': expected a non-empty string, received "".`],
    ["signed of the wrong type", { signed: "yes" }, TypeError, `Invalid 'signed': expected a boolean, received "yes".`],
    ["maxAge as a string", { maxAge: "1h" }, TypeError, `Invalid 'maxAge': expected a number in [60000, 31536000000], received "1h".`],
    ["maxAge NaN", { maxAge: Number.NaN }, TypeError, "Invalid 'maxAge': expected a number in [60000, 31536000000], received NaN."],
    ["maxAge below 1 minute", { maxAge: 59_999 }, RangeError, "Invalid 'maxAge': expected a number in [60000, 31536000000], received 59999."],
    ["maxAge above 1 year", { maxAge: 31_536_000_001 }, RangeError, "Invalid 'maxAge': expected a number in [60000, 31536000000], received 31536000001."],
    ["maxAge 0 (a value, not the default)", { maxAge: 0 }, RangeError, "Invalid 'maxAge': expected a number in [60000, 31536000000], received 0."],
    ["store that is not an object", { store: 5 }, TypeError, "Invalid 'store': expected a store object, received 5."],
    [
      "store missing destroy",
      { store: { get() {}, set() {} } },
      TypeError,
      "Invalid 'store': expected an object with get(), set() and destroy() (missing destroy), received an object.",
    ],
    [
      "store missing every method",
      { store: {} },
      TypeError,
      "Invalid 'store': expected an object with get(), set() and destroy() (missing get, set, destroy), received an object.",
    ],
    [
      "store.list that is not a function",
      { store: { get() {}, set() {}, destroy() {}, list: [] } },
      TypeError,
      "Invalid 'store.list': expected a function or nothing, received an array.",
    ],
    ["autoCleanup of the wrong type", { autoCleanup: 1 }, TypeError, "Invalid 'autoCleanup': expected a boolean, received 1."],
    ["autoCleanupMs as a string", { autoCleanupMs: "1000" }, TypeError, `Invalid 'autoCleanupMs': expected a number in [1000, 2147483647], received "1000".`],
    ["autoCleanupMs below 1 second", { autoCleanupMs: 999 }, RangeError, "Invalid 'autoCleanupMs': expected a number in [1000, 2147483647], received 999."],
    ["autoCleanupMs above the timer limit", { autoCleanupMs: 2 ** 31 }, RangeError, "Invalid 'autoCleanupMs': expected a number in [1000, 2147483647], received 2147483648."],
    ["autoCleanupMs 0", { autoCleanupMs: 0 }, RangeError, "Invalid 'autoCleanupMs': expected a number in [1000, 2147483647], received 0."],
    ["clientKey of the wrong type", { clientKey: 7 }, TypeError, "Invalid 'clientKey': expected a non-empty string, received 7."],
    [
      "clientKey equal to key",
      { key: "same", clientKey: "same" },
      TypeError,
      `Invalid 'clientKey': expected a name other than the session cookie's, received "same".`,
    ],
    ["clientMaxAge as a string", { clientMaxAge: "1y" }, TypeError, `Invalid 'clientMaxAge': expected a number in [60000, 34560000000], received "1y".`],
    ["clientMaxAge below 1 minute", { clientMaxAge: 1000 }, RangeError, "Invalid 'clientMaxAge': expected a number in [60000, 34560000000], received 1000."],
    [
      "clientMaxAge above 400 days",
      { clientMaxAge: ms.d(400) + 1 },
      RangeError,
      "Invalid 'clientMaxAge': expected a number in [60000, 34560000000], received 34560000001.",
    ],
    ["clientAlwaysRoll as a string", { clientAlwaysRoll: "false" }, TypeError, `Invalid 'clientAlwaysRoll': expected a boolean, received "false".`],
    ["appKeys as a string", { appKeys: "secret" }, TypeError, `Invalid 'appKeys': expected a non-empty array of non-empty strings, received "secret".`],
    ["appKeys empty", { appKeys: [] }, TypeError, "Invalid 'appKeys': expected a non-empty array of non-empty strings, received an array."],
    ["appKeys with an empty key", { appKeys: ["ok", ""] }, TypeError, "Invalid 'appKeys': expected a non-empty array of non-empty strings, received an array."],
    ["appKeys with a number", { appKeys: ["ok", 7] }, TypeError, "Invalid 'appKeys': expected a non-empty array of non-empty strings, received an array."],
    ["allowRndAppKeys as a string", { allowRndAppKeys: "true" }, TypeError, `Invalid 'allowRndAppKeys': expected a boolean, received "true".`],
    [
      "externalKey",
      { externalKey: { get() {}, set() {} } },
      TypeError,
      "Invalid 'externalKey': expected nothing (the bridge manages the session cookie and store itself), received an object.",
    ],
    [
      "ContextStore",
      { ContextStore: class {} },
      TypeError,
      "Invalid 'ContextStore': expected nothing (the bridge manages the session cookie and store itself), received a function.",
    ],
  ];

  it.each(cases)("rejects %s", (_label, opt, kind, text) => {
    const error = errorOf(opt);
    expect(error).toBeInstanceOf(kind);
    // RangeError and TypeError are siblings: the wrong class must not pass.
    expect(error.constructor).toBe(kind);
    expect(error.message).toBe(PREFIX + text);
  });

  it.each([
    ["an array", [], "an array"],
    ["a string", "key=abc", `"key=abc"`],
    ["a class instance", new (class Options { key = "abc"; })(), "an object"],
    ["a Map", new Map([["key", "abc"]]), "an object"],
  ])("rejects opt that is %s", (_label, opt, received) => {
    const error = errorOf(opt);
    expect(error.constructor).toBe(TypeError);
    expect(error.message).toBe(`${PREFIX}Invalid 'opt': expected a plain object, received ${received}.`);
  });

  it("accepts opt without a prototype and an omitted opt", () => {
    const a = parts();
    const bare = Object.assign(Object.create(null) as object, { key: "bare.sid" });
    track(a.io, bridgeSession(a.app, a.io, bare as BridgeOptions));
    const b = parts();
    track(b.io, bridgeSession(b.app, b.io));
    expect(b.app.middleware.length).toBeGreaterThan(0);
  });

  it("leaves the app untouched when the options are rejected, so a valid bridge can follow", async () => {
    const { app, io } = parts();
    expect(() => bridgeSession(app, io, { maxAge: "1h" } as never)).toThrow(TypeError);
    expect(app.middleware).toHaveLength(0);
    const bridge = bridgeSession(app, io, { key: "after.sid" });
    track(io, bridge);
    incRoute(app);
    const http = await listen(app, io);
    const res = await request(http).get("/");
    expect(res.status).toBe(200);
    expect(res.body.count).toBe(1);
    expect(cookieNames(res)).toContain("after.sid");
  });
});

describe("invalid app and io", () => {
  it.each([
    ["an empty object", {}, "an object"],
    ["null", null, "null"],
    ["undefined", undefined, "undefined"],
    ["a function", () => {}, "a function"],
  ])("rejects an app that is %s", (_label, app, received) => {
    const io = new Server();
    track(io);
    let error: Error | undefined;
    try {
      bridgeSession(app as never, io);
    } catch (e) {
      error = e as Error;
    }
    expect(error?.constructor).toBe(TypeError);
    expect(error?.message).toBe(`${PREFIX}Invalid 'app': expected a Koa application, received ${received}.`);
  });

  it.each([
    ["an empty object", {}, "an object"],
    ["null", null, "null"],
    ["an HTTP server", createServer(), "an object"],
  ])("rejects an io that is %s", (_label, io, received) => {
    const app = new Koa();
    app.keys = KEYS;
    let error: Error | undefined;
    try {
      bridgeSession(app, io as never);
    } catch (e) {
      error = e as Error;
    }
    expect(error?.constructor).toBe(TypeError);
    expect(error?.message).toBe(`${PREFIX}Invalid 'io': expected a socket.io Server, received ${received}.`);
    expect(app.middleware).toHaveLength(0);
  });

  it("throws a plain Error for a second bridge on the same app", () => {
    const { app, io } = parts();
    track(io, bridgeSession(app, io, { key: "first.sid" }));
    const installed = app.middleware.length;
    const io2 = new Server();
    track(io2);
    let error: Error | undefined;
    try {
      bridgeSession(app, io2, { key: "second.sid" });
    } catch (e) {
      error = e as Error;
    }
    expect(error).toBeInstanceOf(Error);
    expect(error?.constructor).toBe(Error);
    expect(error?.message.startsWith(PREFIX)).toBe(true);
    expect(error?.message).toContain("once per app");
    expect(app.middleware).toHaveLength(installed);
  });
});

describe("defaults", () => {
  it("names the session cookie with a random 12-character key, different per bridge, and the client cookie `${key}.cid`", async () => {
    // startServer spreads opt over its own key, so `key: undefined` means "use the default".
    const keys: string[] = [];
    for (let i = 0; i < 2; i++) {
      const server = await startServer({ key: undefined });
      const res = await server.get("/inc", new CookieJar());
      const names = cookieNames(res);
      const key = names.find((name) => !name.endsWith(".sig") && !name.endsWith(".cid"))!;
      expect(key).toMatch(/^[A-Za-z0-9_-]{12}$/);
      expect(names.sort()).toEqual([key, `${key}.cid`, `${key}.cid.sig`, `${key}.sig`].sort());
      keys.push(key);
    }
    expect(keys[0]).not.toBe(keys[1]);
  });

  it("gives each bridge its own random key when two share one options object, and leaves that object unchanged", async () => {
    const shared: BridgeOptions = { signed: true };
    const names: string[] = [];
    for (let i = 0; i < 2; i++) {
      const { app, io } = parts();
      track(io, bridgeSession(app, io, shared));
      incRoute(app);
      const res = await request(await listen(app, io)).get("/");
      const key = cookieNames(res).find((name) => !name.endsWith(".sig") && !name.endsWith(".cid"))!;
      expect(key).toMatch(/^[A-Za-z0-9_-]{12}$/);
      names.push(key);
    }
    expect(names[0]).not.toBe(names[1]);
    expect(shared).toEqual({ signed: true });
  });

  it("does not write koa-session's defaults into the caller's options object", () => {
    const opt: BridgeOptions = { key: "mine.sid", sameSite: "lax" };
    const { app, io } = parts();
    track(io, bridgeSession(app, io, opt));
    expect(opt).toEqual({ key: "mine.sid", sameSite: "lax" });
  });

  it("keeps a written session for 30 days: cookie expiry, stored _maxAge and store TTL", async () => {
    const store = new LiveStore();
    const server = await startServer({ store });
    const before = Date.now();
    const jar = new CookieJar();
    const res = await server.get("/inc", jar);
    const after = Date.now();
    const sessionId = jar.get("test.sid")!;
    expect(server.bridge.getSessionId(res.body.clientId)).toBe(sessionId);
    expect(store.list()).toEqual([sessionId]);
    const expires = expiresOf(cookieLine(res, "test.sid")!);
    // Cookie dates have one-second precision.
    expect(expires).toBeGreaterThanOrEqual(Math.floor((before + ms.d(30)) / 1000) * 1000);
    expect(expires).toBeLessThanOrEqual(after + ms.d(30));
    const state = store.get(sessionId)!;
    expect(JSON.parse(state.session)._maxAge).toBe(2_592_000_000);
    expect(state.ttl).toBe(2_592_000_000 + 10_000);
    expect(state.expiresAt).toBeGreaterThanOrEqual(before + state.ttl);
    expect(state.expiresAt).toBeLessThanOrEqual(after + state.ttl);
  });

  it("keeps the client cookie for 1 year and re-sends it on every response", async () => {
    const server = await startServer();
    const jar = new CookieJar();
    const before = Date.now();
    const first = await server.get("/session", jar);
    const expires = expiresOf(cookieLine(first, "test.sid.cid")!);
    expect(expires).toBeGreaterThanOrEqual(Math.floor((before + ms.y()) / 1000) * 1000);
    expect(expires).toBeLessThanOrEqual(Date.now() + ms.y());
    const second = await server.get("/session", jar);
    expect(cookieLine(second, "test.sid.cid")?.split(";")[0]).toBe(`test.sid.cid=${first.body.clientId}`);
    expect(second.body.clientId).toBe(first.body.clientId);
  });

  it("treats null and undefined as the default for every bridge option", async () => {
    const nulls = {
      signed: null, maxAge: null, store: null, autoCleanup: null, autoCleanupMs: null,
      clientKey: null, clientMaxAge: null, clientAlwaysRoll: null, appKeys: null, allowRndAppKeys: null,
    };
    const server = await startServer(nulls as never);
    const jar = new CookieJar();
    await server.get("/inc", jar);
    expect((await server.get("/inc", jar)).body.session.count).toBe(2);
    const res = await server.get("/session", jar);
    // signed default true, clientKey default `${key}.cid`, clientAlwaysRoll default true (client cookie re-sent).
    expect(cookieNames(res).sort()).toEqual(["test.sid.cid", "test.sid.cid.sig"]);
    expect(jar.get("test.sid.sig")).toBeDefined();
    const undefs = await startServer(Object.fromEntries(Object.keys(nulls).map((k) => [k, undefined])) as BridgeOptions);
    const other = await undefs.get("/inc", new CookieJar());
    expect(other.body.session.count).toBe(1);
    expect(cookieNames(other).sort()).toEqual(["test.sid", "test.sid.cid", "test.sid.cid.sig", "test.sid.sig"]);
  });

  it("does not start the automatic cleanup unless asked", async () => {
    const server = await startServer();
    // stopAutoCleanup() tells whether a timer was running.
    expect(server.bridge.stopAutoCleanup()).toBe(false);
    const auto = await startServer({ autoCleanup: true });
    expect(auto.bridge.stopAutoCleanup()).toBe(true);
  });
});

describe("false is a value", () => {
  it("signed:false writes both cookies without signatures and still keeps the session", async () => {
    const server = await startServer({ signed: false });
    const jar = new CookieJar();
    const first = await server.get("/inc", jar);
    expect(cookieNames(first).sort()).toEqual(["test.sid", "test.sid.cid"]);
    const second = await server.get("/inc", jar);
    expect(second.body.session.count).toBe(2);
    expect(second.body.sessionId).toBe(jar.get("test.sid"));
    expect(second.body.clientId).toBe(first.body.clientId);
    expect(second.body.clientId).toBe(jar.get("test.sid.cid"));
    expect(cookieNames(second)).not.toContain("test.sid.cid.sig");
  });

  it("clientAlwaysRoll:false sends the client cookie only when it is created", async () => {
    const server = await startServer({ clientAlwaysRoll: false });
    const jar = new CookieJar();
    const first = await server.get("/session", jar);
    expect(cookieNames(first).sort()).toEqual(["test.sid.cid", "test.sid.cid.sig"]);
    const second = await server.get("/session", jar);
    expect(cookieNames(second)).toEqual([]);
    expect(second.body.clientId).toBe(first.body.clientId);
  });
});

describe("missing app.keys", () => {
  // Must run first in this file: the warning is emitted once per process.
  it("allowRndAppKeys: true generates the keys without the warning (as 3.1.x), so does signed: false (keys set as the original); otherwise the warning follows", async () => {
    const warnings = captureWarnings("KOA_IO_SESSION_NO_KEYS");
    const quiet = parts(null);
    track(quiet.io, bridgeSession(quiet.app, quiet.io, { key: "quiet.sid", allowRndAppKeys: true }));
    const unsigned = parts(null);
    track(unsigned.io, bridgeSession(unsigned.app, unsigned.io, { key: "unsigned.sid", signed: false }));
    await settle();
    expect(warnings).toHaveLength(0);
    for (const app of [quiet.app, unsigned.app]) {
      expect((app.keys as string[]).length).toBe(2);
      for (const key of app.keys as string[]) expect(key.length).toBe(48);
    }
    // The same app without the option: still warned, so the quiet one did not use up the warning.
    const loud = parts(null);
    track(loud.io, bridgeSession(loud.app, loud.io, { key: "loud.sid", allowRndAppKeys: false }));
    await settle();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.message.startsWith(PREFIX)).toBe(true);
    expect(warnings[0]!.message).toContain("app.keys");
  });

  it("sets two strong random keys per app and warns only once per process, with KOA_IO_SESSION_NO_KEYS", async () => {
    const warnings = captureWarnings("KOA_IO_SESSION_NO_KEYS");
    const a = parts(null);
    track(a.io, bridgeSession(a.app, a.io, { key: "a.sid" }));
    const b = parts(null);
    track(b.io, bridgeSession(b.app, b.io, { key: "b.sid" }));
    await settle();
    // The previous test had the process's one warning.
    expect(warnings).toHaveLength(0);
    for (const app of [a.app, b.app]) {
      const keys = app.keys as string[];
      expect(Array.isArray(keys)).toBe(true);
      expect(keys.length).toBeGreaterThanOrEqual(2);
      for (const key of keys) expect(key.length).toBeGreaterThanOrEqual(32);
      expect(new Set(keys).size).toBe(keys.length);
    }
    expect(a.app.keys).not.toEqual(b.app.keys);
  });

  it("signs cookies with the generated keys and keeps the session across requests", async () => {
    const { app, io } = parts(null);
    const bridge = bridgeSession(app, io, { key: "nokeys.sid" });
    track(io, bridge);
    incRoute(app);
    const http = await listen(app, io);
    const jar = new CookieJar();
    const first = await request(http).get("/");
    jar.store(first.headers["set-cookie"]);
    expect(cookieNames(first).sort()).toEqual(["nokeys.sid", "nokeys.sid.cid", "nokeys.sid.cid.sig", "nokeys.sid.sig"]);
    // The signatures are made with the generated keys (Keygrip: HMAC-SHA1, URL-safe base64).
    const sign = (name: string) => createHmac("sha1", (app.keys as string[])[0]!).update(`${name}=${jar.get(name)}`).digest("base64url");
    expect(jar.get("nokeys.sid.sig")).toBe(sign("nokeys.sid"));
    expect(jar.get("nokeys.sid.cid.sig")).toBe(sign("nokeys.sid.cid"));
    const second = await request(http).get("/").set("Cookie", jar.header());
    expect(second.body.count).toBe(2);
    expect(second.body.sessionId).toBe(jar.get("nokeys.sid"));
    expect(second.body.clientId).toBe(first.body.clientId);
  });

  it("keeps keys the app already has and does not warn", async () => {
    const warnings = captureWarnings("KOA_IO_SESSION_NO_KEYS");
    const { app, io } = parts();
    const keys = app.keys;
    track(io, bridgeSession(app, io, { key: "keyed.sid" }));
    await settle();
    expect(app.keys).toBe(keys);
    expect(warnings).toHaveLength(0);
  });
});

describe("appKeys (as 3.1.x)", () => {
  const APP_KEYS = ["app-keys-one-0123456789abcdefghijklmn", "app-keys-two-0123456789abcdefghijklmn"];

  it("initialises app.keys of an app without keys, signs both cookies with them and does not warn", async () => {
    const warnings = captureWarnings("KOA_IO_SESSION_NO_KEYS");
    const { app, io } = parts(null);
    const bridge = bridgeSession(app, io, { key: "given.sid", appKeys: APP_KEYS });
    track(io, bridge);
    expect(app.keys).toEqual(APP_KEYS);
    incRoute(app);
    const http = await listen(app, io);
    const jar = new CookieJar();
    const first = await request(http).get("/");
    jar.store(first.headers["set-cookie"]);
    const sign = (name: string) => createHmac("sha1", APP_KEYS[0]!).update(`${name}=${jar.get(name)}`).digest("base64url");
    expect(jar.get("given.sid.sig")).toBe(sign("given.sid"));
    expect(jar.get("given.sid.cid.sig")).toBe(sign("given.sid.cid"));
    expect((await request(http).get("/").set("Cookie", jar.header())).body.count).toBe(2);
    await settle();
    expect(warnings).toHaveLength(0);
  });

  it("initialises app.keys with signed: false too", () => {
    const { app, io } = parts(null);
    track(io, bridgeSession(app, io, { signed: false, appKeys: APP_KEYS }));
    expect(app.keys).toEqual(APP_KEYS);
  });

  it("throws a plain Error when the app already has keys (as 3.1.1) and leaves the app untouched", async () => {
    const { app, io } = parts();
    const keys = app.keys;
    let error: Error | undefined;
    try {
      bridgeSession(app, io, { appKeys: APP_KEYS });
    } catch (caught) {
      error = caught as Error;
    }
    expect(error?.constructor).toBe(Error);
    expect(error?.message).toBe(`${PREFIX}app.keys is already set; pass 'appKeys' only for an app without keys.`);
    expect(app.keys).toBe(keys);
    expect(app.middleware).toHaveLength(0);
    // Nothing was installed: a bridge without appKeys can follow.
    track(io, bridgeSession(app, io, { key: "after.sid" }));
    expect(app.keys).toBe(keys);
  });

  it("allowRndAppKeys leaves keys the app already has alone", () => {
    const { app, io } = parts();
    const keys = app.keys;
    track(io, bridgeSession(app, io, { allowRndAppKeys: true }));
    expect(app.keys).toBe(keys);
  });
});

describe("late middleware", () => {
  it("warns when io is attached to a server created from app.callback() before the bridge (the original README order)", async () => {
    const warnings = captureWarnings("KOA_IO_SESSION_LATE_MIDDLEWARE");
    const app = new Koa();
    app.keys = KEYS;
    const http = createServer(app.callback());
    const io = new Server(http);
    const bridge = bridgeSession(app, io, { key: "app.sid", sameSite: "lax" });
    track(io, bridge);
    incRoute(app);
    await settle();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.message.startsWith(PREFIX)).toBe(true);
    // What the warning is about: that server composed the middleware before the bridge existed.
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    const res = await request(http).get("/");
    expect(res.status).toBe(404);
    expect(cookieNames(res)).toEqual([]);
  });

  it("warns once when middleware is added after app.callback()", async () => {
    const warnings = captureWarnings("KOA_IO_SESSION_LATE_MIDDLEWARE");
    const { app, io } = parts();
    track(io, bridgeSession(app, io, { key: "late.sid" }));
    app.use((_ctx, next) => next());
    app.callback();
    await settle();
    expect(warnings).toHaveLength(0);
    app.use((_ctx, next) => next());
    app.use((_ctx, next) => next());
    await settle();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.message).toBe(
      `${PREFIX}Middleware was added after app.callback(); it will not run for servers created before it.`,
    );
  });

  it("does not warn for the working order (bridge, routes, then the HTTP server)", async () => {
    const warnings = captureWarnings("KOA_IO_SESSION_LATE_MIDDLEWARE");
    const server = await startServer();
    const res = await server.get("/inc", new CookieJar());
    await settle();
    expect(res.body.session.count).toBe(1);
    expect(warnings).toHaveLength(0);
  });
});

describe("forwarded koa-session options", () => {
  it("passes sameSite to the session cookie and to the client cookie", async () => {
    const server = await startServer({ sameSite: "lax" });
    const res = await server.get("/inc", new CookieJar());
    for (const name of ["test.sid", "test.sid.sig", "test.sid.cid", "test.sid.cid.sig"]) {
      expect(cookieLine(res, name)).toMatch(/; samesite=lax(;|$)/);
    }
    const plain = await startServer();
    const other = await plain.get("/inc", new CookieJar());
    for (const line of setCookies(other)) expect(line).not.toMatch(/samesite/i);
  });

  it("passes httpOnly and path to both cookies", async () => {
    const server = await startServer({ httpOnly: false, path: "/" });
    const res = await server.get("/inc", new CookieJar());
    for (const name of ["test.sid", "test.sid.cid"]) {
      expect(cookieLine(res, name)).not.toMatch(/httponly/i);
      expect(cookieLine(res, name)).toMatch(/; path=\/(;|$)/);
    }
    const plain = await startServer();
    const other = await plain.get("/inc", new CookieJar());
    for (const name of ["test.sid", "test.sid.cid"]) expect(cookieLine(other, name)).toMatch(/; httponly/);
  });

  it("passes rolling: the session cookie is re-sent on a response that did not change the session", async () => {
    const rolling = await startServer({ rolling: true });
    const jar = new CookieJar();
    await rolling.get("/inc", jar);
    const res = await rolling.get("/session", jar);
    expect(cookieNames(res)).toContain("test.sid");

    const still = await startServer();
    const jar2 = new CookieJar();
    await still.get("/inc", jar2);
    const res2 = await still.get("/session", jar2);
    expect(cookieNames(res2)).not.toContain("test.sid");
  });

  it("passes genid: new sessions take the ids it makes", async () => {
    const store = new LiveStore();
    let n = 0;
    const calls: unknown[] = [];
    const server = await startServer({
      store,
      genid: (ctx) => {
        calls.push(ctx);
        return `custom-${++n}`;
      },
    });
    const jarA = new CookieJar();
    const jarB = new CookieJar();
    const a = await server.get("/inc", jarA);
    await server.get("/inc", jarB);
    expect(jarA.get("test.sid")).toBe("custom-1");
    expect(jarB.get("test.sid")).toBe("custom-2");
    expect(server.bridge.getSessionId(a.body.clientId)).toBe("custom-1");
    expect(store.list().sort()).toEqual(["custom-1", "custom-2"]);
    expect(JSON.parse(store.get("custom-1")!.session).count).toBe(1);
    // koa-session calls genid with the request context.
    expect((calls[0] as Koa.Context).clientId).toBe(a.body.clientId);
  });

  it("passes prefix to the generated session ids", async () => {
    const server = await startServer({ prefix: "pre:" });
    const jar = new CookieJar();
    const res = await server.get("/inc", jar);
    expect(jar.get("test.sid")).toMatch(/^pre:[0-9a-f-]{36}$/);
    expect(server.bridge.getSessionId(res.body.clientId)).toBe(jar.get("test.sid"));
  });
});
