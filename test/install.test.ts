// A second install on one app fails with an error that names the actual mistake.
import { createRequire } from "node:module";
import { join } from "node:path";
import Koa from "koa";
import { createSession } from "koa-session";
import { Server } from "socket.io";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { bridgeSession, type SessionBridge } from "../src/index.js";
import { ensureBuilt, ROOT } from "./helpers/build.js";
import { KEYS } from "./helpers/server.js";

const TWICE =
  "[koa-io-session] bridgeSession() was already called on this app. Install the bridge once per app and share the SessionBridge it returned (a closed bridge cannot be replaced either).";
const OWN_KOA_SESSION =
  "[koa-io-session] koa-session is already installed on this app (app.use(session(…, app)) before bridgeSession()). Remove it: bridgeSession() installs koa-session itself, once per app, with the bridge's store.";

const open: { bridges: SessionBridge[]; servers: Server[] } = { bridges: [], servers: [] };

afterEach(async () => {
  await Promise.all(open.bridges.splice(0).map((bridge) => bridge.close()));
  // An io that was never attached has no engine, and its close() would reject without calling back.
  await Promise.all(open.servers.splice(0).filter((io) => io.engine).map((io) => new Promise((resolve) => io.close(resolve))));
});

function app(): Koa {
  const koa = new Koa();
  koa.keys = KEYS;
  return koa;
}

function server(): Server {
  const io = new Server();
  open.servers.push(io);
  return io;
}

function errorOf(run: () => unknown): Error {
  try {
    run();
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected a throw");
}

describe("a second install on the same app", () => {
  it("says the bridge was installed twice, and adds no middleware", () => {
    const koa = app();
    open.bridges.push(bridgeSession(koa, server()));
    const installed = koa.middleware.length;
    const error = errorOf(() => bridgeSession(koa, server()));
    expect(error.constructor).toBe(Error);
    expect(error.message).toBe(TWICE);
    expect(koa.middleware).toHaveLength(installed);
  });

  it("says so after the first bridge was closed too", async () => {
    const koa = app();
    await bridgeSession(koa, server()).close();
    expect(errorOf(() => bridgeSession(koa, server())).message).toBe(TWICE);
  });

  it("says the app installed koa-session itself when it did", () => {
    const koa = app();
    koa.use(createSession({ key: "own.sid" }, koa));
    const installed = koa.middleware.length;
    const error = errorOf(() => bridgeSession(koa, server()));
    expect(error.constructor).toBe(Error);
    expect(error.message).toBe(OWN_KOA_SESSION);
    expect(koa.middleware).toHaveLength(installed);
  });

  it("leaves the app free when the first attempt was refused (bad options)", () => {
    const koa = app();
    expect(() => bridgeSession(koa, server(), { maxAge: 1 })).toThrow(RangeError);
    open.bridges.push(bridgeSession(koa, server()));
  });

  describe("across the ESM and CommonJS builds", () => {
    beforeAll(() => ensureBuilt(), 120_000);

    it("recognizes a bridge installed by the other build", async () => {
      // A computed specifier: the built declarations stay out of this program (they would clash with src/).
      const esm = (await import(join(ROOT, "dist", "index.js"))) as typeof import("../src/index.js");
      const cjs = createRequire(`${ROOT}/package.json`)("koa-io-session") as typeof import("../src/index.js");
      const koa = app();
      open.bridges.push(esm.bridgeSession(koa, server()));
      expect(errorOf(() => cjs.bridgeSession(koa, server())).message).toBe(TWICE);
    });
  });
});
