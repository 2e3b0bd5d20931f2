import { EventEmitter } from "node:events";
import Koa from "koa";
import { Server } from "socket.io";
import { afterEach, describe, expect, it } from "vitest";
import * as entry from "../src/index.js";
import bridgeSessionDefault, { bridgeSession, generateUid, LiveStore, ms, SessionBridge, type StoreState } from "../src/index.js";
import { KEYS } from "./helpers/server.js";

const opened: { bridge: SessionBridge; io: Server }[] = [];

afterEach(async () => {
  for (const { bridge } of opened.splice(0)) await bridge.close();
});

function make(): { app: Koa; io: Server } {
  const app = new Koa();
  app.keys = KEYS;
  return { app, io: new Server() };
}

describe("entry point", () => {
  it("exports exactly the documented runtime values", () => {
    expect(Object.keys(entry).sort()).toEqual(
      ["LiveStore", "SessionBridge", "SessionContext", "bridgeSession", "default", "generateUid", "ms"].sort(),
    );
  });

  it("default export is the named bridgeSession", () => {
    expect(bridgeSessionDefault).toBe(bridgeSession);
    expect(entry.default).toBe(entry.bridgeSession);
    expect(typeof bridgeSession).toBe("function");
  });

  it("bridgeSession returns a SessionBridge, which is an EventEmitter", () => {
    const { app, io } = make();
    const bridge = bridgeSession(app, io, { key: "exports.sid" });
    opened.push({ bridge, io });
    expect(typeof SessionBridge).toBe("function");
    expect(bridge).toBeInstanceOf(SessionBridge);
    expect(bridge).toBeInstanceOf(EventEmitter);
    expect(Object.getPrototypeOf(bridge)).toBe(SessionBridge.prototype);
    let seen = -1;
    bridge.on("cleanup", (count) => {
      seen = count;
    });
    expect(bridge.emit("cleanup", 3)).toBe(true);
    expect(seen).toBe(3);
  });

  it("SessionBridge can be constructed directly", () => {
    const { app, io } = make();
    const bridge = new SessionBridge(app, io, { key: "direct.sid" });
    opened.push({ bridge, io });
    expect(bridge).toBeInstanceOf(SessionBridge);
    expect(app.middleware).toHaveLength(1); // client id and koa-session run as one middleware
  });
});

describe("LiveStore", () => {
  const state = (n: number): StoreState => ({ session: JSON.stringify({ n }), expiresAt: Date.now() + 60_000, ttl: 60_000 });

  it("keeps states by id with get/set/destroy/list/size", () => {
    const store = new LiveStore();
    expect(store.size).toBe(0);
    expect(store.list()).toEqual([]);
    expect(store.get("a")).toBeUndefined();
    const a = state(1);
    expect(store.set("a", a)).toBe(true);
    expect(store.set("b", state(2))).toBe(true);
    // An equal new object each time: LiveStore keeps states packed.
    expect(store.get("a")).toStrictEqual(a);
    expect(store.get("a")).not.toBe(store.get("a"));
    expect(store.size).toBe(2);
    expect(store.list().sort()).toEqual(["a", "b"]);
    const a2 = state(3);
    store.set("a", a2);
    expect(store.get("a")).toStrictEqual(a2);
    expect(store.size).toBe(2);
    expect(store.destroy("a")).toBe(true);
    expect(store.destroy("a")).toBe(false);
    expect(store.get("a")).toBeUndefined();
    expect(store.list()).toEqual(["b"]);
    expect(store.size).toBe(1);
  });

  it("keeps expired states until they are destroyed (expiry is the gateway's job)", () => {
    const store = new LiveStore();
    const old: StoreState = { session: "{}", expiresAt: Date.now() - 1, ttl: 1 };
    store.set("old", old);
    expect(store.get("old")).toStrictEqual(old);
    expect(store.size).toBe(1);
  });

  it("gives each instance its own records", () => {
    const one = new LiveStore();
    const two = new LiveStore();
    one.set("x", state(1));
    expect(two.get("x")).toBeUndefined();
    expect(two.size).toBe(0);
  });
});

describe("generateUid", () => {
  const SHAPE = /^[A-Za-z0-9_-]+$/;

  it("makes 16 URL-safe characters by default", () => {
    const uid = generateUid();
    expect(uid).toHaveLength(16);
    expect(uid).toMatch(SHAPE);
  });

  it("makes exactly the requested length, from 1 to 64", () => {
    for (let len = 1; len <= 64; len++) {
      const uid = generateUid(len);
      expect(uid).toHaveLength(len);
      expect(uid).toMatch(SHAPE);
    }
  });

  it("never repeats over 1000 draws and uses the whole URL-safe alphabet", () => {
    const draws = Array.from({ length: 1000 }, () => generateUid());
    expect(new Set(draws).size).toBe(1000);
    const alphabet = new Set(draws.join(""));
    // 16 000 characters: every one of the 64 appears unless the source is not base64url.
    expect(alphabet.size).toBe(64);
    for (const char of "-_09AZaz") expect(alphabet.has(char)).toBe(true);
  });

  it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, "8", null])("rejects len %s with a TypeError", (len) => {
    let error: Error | undefined;
    try {
      generateUid(len as number);
    } catch (e) {
      error = e as Error;
    }
    expect(error?.constructor).toBe(TypeError);
    expect(error?.message.startsWith("[koa-io-session] Invalid 'len'")).toBe(true);
  });
});

describe("ms", () => {
  it("converts each unit to exact milliseconds", () => {
    expect(ms.s()).toBe(1000);
    expect(ms.m()).toBe(60_000);
    expect(ms.h()).toBe(3_600_000);
    expect(ms.d()).toBe(86_400_000);
    expect(ms.w()).toBe(604_800_000);
    expect(ms.M()).toBe(2_592_000_000);
    expect(ms.y()).toBe(31_536_000_000);
  });

  it("multiplies by n", () => {
    expect(ms.s(5)).toBe(5000);
    expect(ms.m(2)).toBe(120_000);
    expect(ms.h(0.5)).toBe(1_800_000);
    expect(ms.d(30)).toBe(2_592_000_000);
    expect(ms.w(2)).toBe(1_209_600_000);
    expect(ms.M(2)).toBe(5_184_000_000);
    expect(ms.y(2)).toBe(63_072_000_000);
    expect(ms.s(0)).toBe(0);
  });

  it("defines a month as 30 days and a year as 365 days", () => {
    expect(ms.M()).toBe(ms.d(30));
    expect(ms.y()).toBe(ms.d(365));
    expect(ms.w()).toBe(ms.d(7));
  });
});
