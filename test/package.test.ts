import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt, ROOT } from "./helpers/build.js";

const run = promisify(execFile);
const BIN = join(ROOT, "node_modules", ".bin");

// What the consumers need besides the package; symlinked from the repo's node_modules (no network).
const PEERS = ["koa", "socket.io", "koa-session", "socket.io-client", "ioredis", "@types/koa", "@types/node"];

let work: string;
let tarball: string;
let packedFiles: string[];
let consumer: string;

/** A child process environment without the test runner's Node options. */
function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  return env;
}

// Shared by both consumers: a Koa app, a socket.io server and a bridge on port 0,
// one HTTP request that writes the session, one socket that reads it back.
const SCENARIO = `
  const app = new Koa();
  app.keys = ["consumer-key-one-0123456789abcdef", "consumer-key-two-0123456789abcdef"];
  const io = new Server();
  const store = new LiveStore();
  const events = [];
  const bridge = bridgeSession(app, io, { key: "pkg.sid", store, maxAge: ms.h(1) });
  bridge.on("sessionSet", (e) => events.push(e));
  app.use((ctx) => {
    ctx.session.visits = (ctx.session.visits || 0) + 1;
    ctx.body = { visits: ctx.session.visits, clientId: ctx.clientId };
  });
  io.on("connection", (socket) => {
    socket.on("read", async (ack) => {
      const visits = await socket.withSession((s) => s.session.visits);
      ack({ clientId: socket.clientId, sessionId: socket.sessionId, visits });
    });
  });
  const http = createServer(app.callback());
  io.attach(http);
  await new Promise((resolve) => http.listen(0, "127.0.0.1", resolve));
  const url = "http://127.0.0.1:" + http.address().port;

  const res = await fetch(url + "/");
  const setCookie = res.headers.getSetCookie();
  const cookie = setCookie.map((line) => line.split(";")[0]).join("; ");
  const body = await res.json();

  const socket = ioClient(url, { transports: ["websocket"], extraHeaders: { cookie }, forceNew: true, reconnection: false });
  const viaSocket = await new Promise((resolve, reject) => {
    socket.once("connect_error", reject);
    socket.once("connect", () => socket.emit("read", resolve));
  });
  socket.disconnect();

  const sessionId = bridge.getSessionId(body.clientId);
  const result = {
    resolved,
    defaultIsNamed: bridgeSession === named,
    isBridge: bridge instanceof SessionBridge,
    uid: generateUid(),
    hour: ms.h(),
    status: res.status,
    body,
    cookieNames: setCookie.map((line) => line.slice(0, line.indexOf("="))).sort(),
    sessionCookie: cookie.split("; ").find((pair) => pair.startsWith("pkg.sid=")).slice("pkg.sid=".length),
    sessionId,
    stored: JSON.parse(store.get(sessionId).session),
    storeSize: store.size,
    events,
    viaSocket,
  };
  await bridge.close();
  await new Promise((resolve) => io.close(() => resolve()));
  process.stdout.write(JSON.stringify(result));
`;

const ESM_CONSUMER = `
import bridgeSession, { bridgeSession as named, SessionBridge, LiveStore, generateUid, ms } from "koa-io-session";
import Koa from "koa";
import { Server } from "socket.io";
import { io as ioClient } from "socket.io-client";
import { createServer } from "node:http";
import { fileURLToPath } from "node:url";
const resolved = fileURLToPath(import.meta.resolve("koa-io-session"));
${SCENARIO}
`;

const CJS_CONSUMER = `
"use strict";
const { bridgeSession: named, default: bridgeSession, SessionBridge, LiveStore, generateUid, ms } = require("koa-io-session");
const Koa = require("koa");
const { Server } = require("socket.io");
const { io: ioClient } = require("socket.io-client");
const { createServer } = require("node:http");
const resolved = require.resolve("koa-io-session");
(async () => {
${SCENARIO}
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
`;

// Every way the README shows to load the package from CommonJS.
const CJS_ENTRIES = `
"use strict";
const { bridgeSession, LiveStore } = require("koa-io-session");
const viaDefault = require("koa-io-session").default;
const { FileStore } = require("koa-io-session/fdb");
const { RedisStore } = require("koa-io-session/redis");
const Koa = require("koa");
const { Server } = require("socket.io");
const { mkdtempSync } = require("node:fs");
const { tmpdir } = require("node:os");
const { join } = require("node:path");

(async () => {
  const bridge = viaDefault(new Koa(), new Server(), { key: "cjs.sid", store: new LiveStore() });
  await bridge.close();
  const store = new FileStore({ fdbOpt: { dir: mkdtempSync(join(tmpdir(), "cjs-fdb-")) } });
  const state = { session: JSON.stringify({ visits: 1 }), expiresAt: Date.now() + 60000, ttl: 60000 };
  await store.set("s1", state);
  const read = await store.get("s1");
  await store.close();
  let redisError;
  try {
    new RedisStore({});
  } catch (error) {
    redisError = { name: error.name, message: error.message };
  }
  process.stdout.write(JSON.stringify({
    defaultIsNamed: viaDefault === bridgeSession,
    bridgeName: bridge.constructor.name,
    resolved: ["koa-io-session", "koa-io-session/fdb", "koa-io-session/redis"].map((id) => require.resolve(id)),
    fileStoreRead: read,
    state,
    redisError,
  }));
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
`;

// A strict TypeScript consumer: compiled (not run) against the installed declarations.
const TS_CONSUMER = `
import { createServer } from "node:http";
import Koa from "koa";
import { Server } from "socket.io";
import bridgeSession, { LiveStore, type SessionSetEvent, type SessionStore } from "koa-io-session";
import { FileStore } from "koa-io-session/fdb";
import { RedisStore } from "koa-io-session/redis";

declare module "koa-io-session" {
  interface SessionData {
    visits?: number;
  }
}

interface ClientToServerEvents {
  visit: (ack: (visits: number) => void) => void;
}

const app = new Koa();
app.keys = ["a-long-secret-key-for-this-consumer"];
const io = new Server<ClientToServerEvents>();
const store: SessionStore = new FileStore({ fileName: "sessions" });
const bridge = bridgeSession(app, io, { store, maxAge: 60_000 });
bridge.on("sessionSet", (event: SessionSetEvent) => console.log(event.sessionId, event.isNew));
app.use((ctx) => {
  ctx.body = { clientId: ctx.clientId, sessionId: ctx.sessionId ?? null };
});
io.on("connection", (socket) => {
  socket.on("visit", async (ack) => {
    const visits: number = await socket.withSession((sessionCtx) => {
      sessionCtx.session.visits = (sessionCtx.session.visits ?? 0) + 1;
      return sessionCtx.session.visits;
    }, 0);
    ack(visits);
  });
});
const stores: (typeof LiveStore | typeof RedisStore)[] = [LiveStore, RedisStore];
// @ts-expect-error an unknown event name
bridge.on("sessionCreated", () => {});
io.attach(createServer(app.callback()));
export { stores };
`;

const TS_CONFIG = {
  compilerOptions: {
    target: "ES2022",
    module: "NodeNext",
    moduleResolution: "NodeNext",
    lib: ["ES2022"],
    types: ["node"],
    strict: true,
    verbatimModuleSyntax: true,
    skipLibCheck: false,
    noEmit: true,
  },
};

interface ConsumerResult {
  resolved: string;
  defaultIsNamed: boolean;
  isBridge: boolean;
  uid: string;
  hour: number;
  status: number;
  body: { visits: number; clientId: string };
  cookieNames: string[];
  sessionCookie: string;
  sessionId: string;
  stored: Record<string, unknown>;
  storeSize: number;
  events: { clientId: string; sessionId: string; isNew: boolean; isInit: boolean }[];
  viaSocket: { clientId: string; sessionId: string; visits: number };
}

async function runConsumer(file: string): Promise<ConsumerResult> {
  const { stdout } = await run(process.execPath, [file], { cwd: consumer, env: childEnv(), timeout: 30_000 });
  return JSON.parse(stdout) as ConsumerResult;
}

beforeAll(async () => {
  ensureBuilt();
  work = mkdtempSync(join(tmpdir(), "koa-io-session-pack-"));
  // dist/ is already built: skip prepack so no second build deletes dist/ under other test files.
  const { stdout } = await run("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", work], {
    cwd: ROOT,
    env: childEnv(),
  });
  const [packed] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
  tarball = join(work, packed!.filename);
  packedFiles = packed!.files.map((file) => file.path);

  consumer = join(work, "consumer");
  const modules = join(consumer, "node_modules");
  mkdirSync(modules, { recursive: true });
  writeFileSync(join(consumer, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "commonjs" }));
  await run("tar", ["-xzf", tarball, "-C", work]);
  renameSync(join(work, "package"), join(modules, "koa-io-session"));
  mkdirSync(join(modules, "@types"));
  for (const name of PEERS) symlinkSync(join(ROOT, "node_modules", name), join(modules, name), "dir");
  writeFileSync(join(consumer, "consumer.mjs"), ESM_CONSUMER);
  writeFileSync(join(consumer, "consumer.cjs"), CJS_CONSUMER);
  writeFileSync(join(consumer, "entries.cjs"), CJS_ENTRIES);
  writeFileSync(join(consumer, "consumer.mts"), TS_CONSUMER);
  writeFileSync(join(consumer, "consumer.cts"), TS_CONSUMER);
  writeFileSync(join(consumer, "tsconfig.esm.json"), JSON.stringify({ ...TS_CONFIG, files: ["consumer.mts"] }));
  // verbatimModuleSyntax would demand `import x = require()` in a CommonJS file; most CommonJS projects write imports.
  const cjsOptions = { ...TS_CONFIG.compilerOptions, verbatimModuleSyntax: false };
  writeFileSync(join(consumer, "tsconfig.cjs.json"), JSON.stringify({ compilerOptions: cjsOptions, files: ["consumer.cts"] }));
}, 120_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("the packed tarball", () => {
  it("holds the dual build, its declarations, LICENSE and README, and no sources or tests", () => {
    const expected = ["package.json", "LICENSE", "dist/index.js", "dist/index.cjs", "dist/index.d.ts", "dist/index.d.cts"];
    // The README is written separately; require it once it exists in the repo.
    if (existsSync(join(ROOT, "README.md"))) expected.push("README.md");
    for (const file of expected) expect(packedFiles).toContain(file);
    expect(packedFiles.filter((file) => /^(src|test|bench|examples|node_modules)\//.test(file))).toEqual([]);
    expect(packedFiles.filter((file) => file.endsWith(".tgz") || file.includes(".tmp/"))).toEqual([]);
  });

  it("holds every file that package.json exports points to", () => {
    const targets: string[] = [];
    const walk = (value: unknown): void => {
      if (typeof value === "string") targets.push(value.replace(/^\.\//, ""));
      else if (value && typeof value === "object") Object.values(value).forEach(walk);
    };
    walk(JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).exports);
    expect(targets.length).toBeGreaterThanOrEqual(5);
    expect(targets.filter((file) => !packedFiles.includes(file))).toEqual([]);
  });

  it("carries the package.json of the repo unchanged", () => {
    const inside = JSON.parse(readFileSync(join(consumer, "node_modules", "koa-io-session", "package.json"), "utf8"));
    const repo = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
    expect(inside.name).toBe("koa-io-session");
    expect(inside.exports).toEqual(repo.exports);
  });

  it("names its repository, homepage and issue tracker, and ships the CHANGELOG", () => {
    const pkg = JSON.parse(readFileSync(join(consumer, "node_modules", "koa-io-session", "package.json"), "utf8"));
    expect(pkg.repository).toEqual({ type: "git", url: "git+https://github.com/koa-io-session/koa-io-session.git" });
    expect(pkg.homepage).toBe("https://github.com/koa-io-session/koa-io-session#readme");
    expect(pkg.bugs).toEqual({ url: "https://github.com/koa-io-session/koa-io-session/issues" });
    expect(packedFiles).toContain("CHANGELOG.md");
  });

  it("has a README whose links and images work on the registry page: absolute URLs or anchors", () => {
    const readme = readFileSync(join(consumer, "node_modules", "koa-io-session", "README.md"), "utf8");
    const targets = [...readme.matchAll(/\]\(([^)\s]+)\)/g), ...readme.matchAll(/\ssrc="([^"]+)"/g)].map((match) => match[1]!);
    expect(targets.length).toBeGreaterThan(10);
    // Page scripts in code blocks load from the app's own server, not from the registry.
    const relative = targets.filter((target) => !/^(https:\/\/|#)/.test(target) && !target.includes("socket.io.js"));
    expect(relative).toEqual([]);
    // Anchors as GitHub and the registry slug headings: lower case, punctuation dropped, spaces to dashes.
    const slugs = [...readme.matchAll(/^#{1,6} (.+)$/gm)].map((match) => match[1]!.toLowerCase().replace(/[^\w\- ]/g, "").replace(/ /g, "-"));
    const missing = targets.filter((target) => target.startsWith("#") && !slugs.includes(target.slice(1)));
    expect(missing).toEqual([]);
  });

  it("passes publint", async () => {
    const { stdout } = await run(join(BIN, "publint"), ["run", tarball, "--level", "suggestion"], { cwd: ROOT, env: childEnv() });
    expect(stdout).toContain("All good!");
  }, 60_000);

  it("passes attw: types resolve for node10, node16 (CJS and ESM) and bundlers", async () => {
    let stdout: string;
    try {
      ({ stdout } = await run(join(BIN, "attw"), ["--format", "json", tarball], { cwd: ROOT, env: childEnv() }));
    } catch (error) {
      // attw exits non-zero when it finds problems; show them.
      stdout = (error as { stdout?: string }).stdout ?? "";
    }
    const report = JSON.parse(stdout) as { analysis: { problems: unknown[]; entrypoints: Record<string, unknown> } };
    expect(report.analysis.problems).toEqual([]);
    expect(Object.keys(report.analysis.entrypoints)).toContain(".");
  }, 60_000);
});

describe("an installed copy of the package", () => {
  function expectWorkingBridge(result: ConsumerResult, entry: string): void {
    expect(result.resolved).toBe(join(consumer, "node_modules", "koa-io-session", "dist", entry));
    expect(result.defaultIsNamed).toBe(true);
    expect(result.isBridge).toBe(true);
    expect(result.uid).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(result.hour).toBe(3_600_000);
    expect(result.status).toBe(200);
    expect(result.body.visits).toBe(1);
    expect(result.body.clientId).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(result.cookieNames).toEqual(["pkg.sid", "pkg.sid.cid", "pkg.sid.cid.sig", "pkg.sid.sig"]);
    expect(result.sessionId).toBe(result.sessionCookie);
    expect(result.stored).toMatchObject({ visits: 1, _maxAge: 3_600_000 });
    expect(result.storeSize).toBe(1);
    expect(result.events).toEqual([
      { clientId: result.body.clientId, sessionId: result.sessionId, isNew: true, isInit: true },
    ]);
    expect(result.viaSocket).toEqual({ clientId: result.body.clientId, sessionId: result.sessionId, visits: 1 });
  }

  it("works from ESM (import) through dist/index.js", async () => {
    expectWorkingBridge(await runConsumer("consumer.mjs"), "index.js");
  }, 60_000);

  it("works from CommonJS (require) through dist/index.cjs", async () => {
    expectWorkingBridge(await runConsumer("consumer.cjs"), "index.cjs");
  }, 60_000);

  it("loads every entry point from CommonJS: named exports, .default, /fdb and /redis", async () => {
    const { stdout } = await run(process.execPath, ["entries.cjs"], { cwd: consumer, env: childEnv(), timeout: 30_000 });
    const result = JSON.parse(stdout);
    const dist = join(consumer, "node_modules", "koa-io-session", "dist");
    expect(result.resolved).toEqual([join(dist, "index.cjs"), join(dist, "fdb.cjs"), join(dist, "redis.cjs")]);
    expect(result.defaultIsNamed).toBe(true);
    expect(result.bridgeName).toBe("SessionBridge");
    expect(result.fileStoreRead).toEqual(result.state);
    expect(result.redisError.name).toBe("TypeError");
    expect(result.redisError.message).toMatch(/^\[koa-io-session\] /);
  }, 60_000);

  it.each(["esm", "cjs"])("type-checks a strict TypeScript consumer (%s) against the installed declarations", async (kind) => {
    let output = "";
    try {
      await run(join(BIN, "tsc"), ["-p", `tsconfig.${kind}.json`], { cwd: consumer, env: childEnv(), timeout: 60_000 });
    } catch (error) {
      const failed = error as { stdout?: string; stderr?: string };
      output = `${failed.stdout ?? ""}${failed.stderr ?? ""}` || String(error);
    }
    expect(output).toBe("");
  }, 90_000);
});
