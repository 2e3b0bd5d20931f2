// Every program in examples/ runs in its own process on a free port, is driven by
// real HTTP and socket.io clients, and stops cleanly on a signal.
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { io as connect, type Socket as ClientSocket } from "socket.io-client";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt, ROOT } from "./helpers/build.js";
import { CookieJar } from "./helpers/cookieJar.js";
import { setCookiesNamed } from "./helpers/httpCookies.js";
import { type Exit, startProcess } from "./helpers/process.js";
import { deleteKeys, redisAvailable, redisClient, testPrefix } from "./helpers/redis.js";

const run = promisify(execFile);
const LISTENING = /Listening on (http:\/\/localhost:\d+)/;
const CLEAN: Exit = { code: 0, signal: null };

type Started = Awaited<ReturnType<typeof startProcess>>;
const running: Started[] = [];
const sockets: ClientSocket[] = [];

beforeAll(() => ensureBuilt(), 120_000);

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.disconnect();
  await Promise.all(running.splice(0).map((app) => app.stop()));
});

/** Starts `examples/<file>` and resolves once it prints `ready`. */
async function start(file: string, env: NodeJS.ProcessEnv = {}, ready = LISTENING): Promise<Started> {
  const app = await startProcess([join(ROOT, "examples", file)], ready, { PORT: "0", ...env });
  running.push(app);
  return app;
}

/** A GET (or `method`) request that sends and stores the jar's cookies. */
async function request(jar: CookieJar, url: string, init: RequestInit = {}): Promise<Response> {
  const response = await fetch(url, { ...init, headers: { cookie: jar.header(), ...init.headers } });
  jar.store(response.headers.getSetCookie());
  return response;
}

/** A connected socket.io client carrying the jar's cookies. */
async function socketOf(url: string, jar: CookieJar, extraHeaders: Record<string, string> = {}): Promise<ClientSocket> {
  const socket = connect(url, { transports: ["websocket"], extraHeaders: { cookie: jar.header(), ...extraHeaders }, reconnection: false, forceNew: true });
  sockets.push(socket);
  await new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(undefined));
    socket.once("connect_error", reject);
  });
  return socket;
}

function readmeQuickStart(): string {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  return readme.slice(readme.indexOf("## Quick Start")).match(/```js\n([\s\S]*?)```/)![1]!;
}

describe("examples/quick-start.mjs", () => {
  it("is the README's Quick Start byte for byte", () => {
    expect(readFileSync(join(ROOT, "examples", "quick-start.mjs"), "utf8")).toBe(readmeQuickStart());
  });

  it("shares one session over HTTP and a socket, and ends on SIGTERM", async () => {
    const app = await start("quick-start.mjs");
    const url = app.match[1]!;
    const jar = new CookieJar();
    expect(await (await request(jar, `${url}/api/session`)).json()).toMatchObject({ session: { visits: 1 } });
    const socket = await socketOf(url, jar);
    expect(await socket.emitWithAck("session:visit")).toBe(2);
    expect(await socket.emitWithAck("session:get")).toEqual({ sessionId: jar.get("app.sid"), session: { visits: 2 } });
    socket.disconnect();
    // No shutdown handler: the default action of SIGTERM ends it.
    expect(await app.signal("SIGTERM")).toEqual({ code: null, signal: "SIGTERM" });
    expect(app.output()).not.toMatch(/Error|Warning/);
  });
});

describe("examples/file-store.mjs", () => {
  let dataDir: string;
  beforeAll(() => {
    dataDir = mkdtempSync(join(tmpdir(), "koa-io-session-example-"));
    return () => rmSync(dataDir, { recursive: true, force: true });
  });

  it("keeps the session across a graceful restart (SIGINT, then SIGTERM)", async () => {
    const env = { DATA_DIR: dataDir };
    const jar = new CookieJar();
    const first = await start("file-store.mjs", env);
    let url = first.match[1]!;
    expect(await (await request(jar, `${url}/api/session`)).json()).toMatchObject({ session: { visits: 1 } });
    const socket = await socketOf(url, jar);
    expect(await socket.emitWithAck("session:visit")).toBe(2);
    expect(await first.signal("SIGINT")).toEqual(CLEAN);
    expect(first.output()).toContain("SIGINT: shutting down");
    expect(readFileSync(join(dataDir, "sessions.fdb"), "utf8")).toContain('\\"visits\\":2');

    const second = await start("file-store.mjs", env);
    url = second.match[1]!;
    const body = await (await request(jar, `${url}/api/session`)).json();
    expect(body).toMatchObject({ sessionId: jar.get("app.sid"), session: { visits: 3 } });
    expect(second.output()).toContain("isInit: true");
    expect(await second.signal("SIGTERM")).toEqual(CLEAN);
    expect(second.output()).not.toMatch(/Error|Warning|failed/);
  });
});

describe("examples/koa-router.mjs", () => {
  it("logs in with a new session id the socket follows, logs out with a notice to the socket", async () => {
    const app = await start("koa-router.mjs");
    const url = app.match[1]!;
    const jar = new CookieJar();
    const me = await (await request(jar, `${url}/api/me`)).json();
    expect(me).toMatchObject({ sessionId: null, user: null });
    // A page visit saves nothing: the session starts with the login.
    const login = await request(jar, `${url}/api/login/ada`, { method: "POST" });
    expect(await login.json()).toEqual({ user: "ada" });
    const sessionId = jar.get("app.sid");
    expect(sessionId).toMatch(/^[0-9a-f-]{36}$/);

    const socket = await socketOf(url, jar);
    expect(await socket.emitWithAck("whoami")).toBe("ada");
    expect((await request(jar, `${url}/api/login/grace`, { method: "POST" })).status).toBe(200);
    expect(jar.get("app.sid")).not.toBe(sessionId);
    expect(await socket.emitWithAck("whoami")).toBe("grace");

    const loggedIn = jar.get("app.sid");
    const destroyed = new Promise((resolve) => socket.once("session:destroyed", resolve));
    expect((await request(jar, `${url}/api/logout`, { method: "POST" })).status).toBe(204);
    expect(await destroyed).toEqual({ sessionId: loggedIn });
    expect(jar.get("app.sid")).toBeUndefined();
    expect(await socket.emitWithAck("whoami")).toBeNull();
    expect((await fetch(`${url}/api/logout`)).status).toBe(405);
    expect(await app.signal("SIGINT")).toEqual(CLEAN);
  });
});

describe("examples/cross-origin", () => {
  const PAGE = "http://app.localhost:5173";

  it("answers credentialed requests and handshakes from the listed origin only", async () => {
    const api = await start("cross-origin/api.mjs", { ALLOWED_ORIGINS: PAGE }, /API listening on (http:\/\/localhost:\d+)/);
    const url = api.match[1]!;
    const jar = new CookieJar();

    const preflight = await fetch(`${url}/api/session`, { method: "OPTIONS", headers: { origin: PAGE, "access-control-request-method": "GET" } });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe(PAGE);
    expect(preflight.headers.get("access-control-allow-credentials")).toBe("true");

    const response = await request(jar, `${url}/api/session`, { headers: { origin: PAGE } });
    expect(response.headers.get("access-control-allow-origin")).toBe(PAGE);
    expect(response.headers.get("access-control-allow-credentials")).toBe("true");
    expect(response.headers.get("vary")).toMatch(/Origin/);
    expect(setCookiesNamed(response.headers.getSetCookie(), "app.sid")[0]!.attributes.samesite).toBe("lax");

    const socket = await socketOf(url, jar, { origin: PAGE });
    expect(await socket.emitWithAck("session:get")).toEqual({ sessionId: jar.get("app.sid"), session: { visits: 1 } });
    // The polling handshake carries the CORS headers a browser checks.
    const polling = await fetch(`${url}/socket.io/?EIO=4&transport=polling`, { headers: { origin: PAGE, cookie: jar.header() } });
    expect(polling.headers.get("access-control-allow-origin")).toBe(PAGE);
    expect(polling.headers.get("access-control-allow-credentials")).toBe("true");

    const foreign = await fetch(`${url}/api/session`, { headers: { origin: "http://evil.localhost" } });
    expect(foreign.headers.get("access-control-allow-origin")).toBeNull();
    // WebSocket is not covered by CORS: the server itself refuses the foreign page's handshake.
    await expect(socketOf(url, jar, { origin: "http://evil.localhost" })).rejects.toThrow();

    expect(await api.signal("SIGTERM")).toEqual(CLEAN);
  });

  it("sends SameSite=None; Secure cookies across sites behind an HTTPS proxy", async () => {
    const api = await start("cross-origin/api.mjs", { ALLOWED_ORIGINS: PAGE, CROSS_SITE: "1" }, /API listening on (http:\/\/localhost:\d+)/);
    const response = await fetch(`${api.match[1]}/api/session`, { headers: { origin: PAGE, "x-forwarded-proto": "https" } });
    expect(response.status).toBe(200);
    const cookies = response.headers.getSetCookie();
    for (const name of ["app.sid", "app.sid.cid"]) {
      const [cookie] = setCookiesNamed(cookies, name);
      expect(cookie!.attributes).toMatchObject({ samesite: "none", secure: true });
    }
    expect(await api.signal("SIGTERM")).toEqual(CLEAN);
  });

  it("serves the page with the API's address in it", async () => {
    const web = await start("cross-origin/web.mjs", { API_URL: "http://api.localhost:3000" }, /Page on (http:\/\/localhost:\d+)/);
    const page = await (await fetch(web.match[1]!)).text();
    expect(page).toContain('<script src="http://api.localhost:3000/socket.io/socket.io.js"></script>');
    expect(page).toContain('const api = "http://api.localhost:3000";');
    expect(page).toContain('credentials: "include"');
    expect(page).toContain("withCredentials: true");
    expect(await web.signal("SIGINT")).toEqual(CLEAN);
  });
});

describe("examples/typescript", () => {
  it("compiles under strict settings and runs: typed events, typed session data", async () => {
    // Inside the project, so the compiled example finds the project's node_modules; a fresh clone has no test/.tmp yet.
    mkdirSync(join(ROOT, "test", ".tmp"), { recursive: true });
    const outDir = mkdtempSync(join(ROOT, "test", ".tmp", "ts-example-"));
    try {
      await run(join(ROOT, "node_modules", ".bin", "tsc"), ["-p", "examples/typescript", "--outDir", outDir], { cwd: ROOT });
      const app = await startProcess([join(outDir, "server.js")], LISTENING, { PORT: "0" });
      running.push(app);
      const url = app.match[1]!;
      const jar = new CookieJar();
      await request(jar, `${url}/api/session`);
      const socket = await socketOf(url, jar);
      expect(await socket.emitWithAck("session:visit")).toBe(2);
      expect(await socket.emitWithAck("user:set", "ada")).toBe(true);
      expect(await socket.emitWithAck("session:get")).toEqual({ sessionId: jar.get("app.sid"), visits: 2 });
      // Listening before the connection: "welcome" can arrive together with the connect packet.
      const next = connect(url, { transports: ["websocket"], extraHeaders: { cookie: jar.header() }, reconnection: false, forceNew: true });
      sockets.push(next);
      expect(await new Promise((resolve) => next.once("welcome", resolve))).toBe("ada");
      expect(await app.signal("SIGTERM")).toEqual(CLEAN);
    } finally {
      rmSync(outDir, { recursive: true, force: true });
    }
  }, 60_000);
});

const redis = await redisAvailable();

describe.skipIf(!redis)("examples/redis-nodes.mjs", () => {
  it("two nodes share a session and a room through Redis", async () => {
    const prefix = testPrefix();
    const env = { REDIS_PREFIX: prefix };
    const [a, b] = await Promise.all([start("redis-nodes.mjs", env), start("redis-nodes.mjs", env)]);
    const jar = new CookieJar();
    const first = (await (await request(jar, `${a.match[1]}/api/session`)).json()) as { node: string; session: unknown };
    expect(first.session).toMatchObject({ visits: 1 });

    // A socket on node B sees the session node A created.
    const socket = await socketOf(b.match[1]!, jar);
    const onB = await socket.emitWithAck("session:get");
    expect(onB).toMatchObject({ sessionId: jar.get("app.sid"), session: { visits: 1 } });
    expect(onB.node).not.toBe(first.node);

    // A visit on node A reaches the socket on node B through the adapter.
    const visited = new Promise((resolve) => socket.once("visited", resolve));
    await request(jar, `${a.match[1]}/api/session`);
    expect(await visited).toEqual({ visits: 2, by: first.node });

    expect(await a.signal("SIGTERM")).toEqual(CLEAN);
    expect(await b.signal("SIGINT")).toEqual(CLEAN);
    expect(a.output() + b.output()).not.toMatch(/Error|Unhandled/);
    const client = redisClient();
    await deleteKeys(client, prefix);
    await client.quit();
  });
});
