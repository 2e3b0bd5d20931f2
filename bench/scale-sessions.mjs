// Sessions at scale, in process: `node --expose-gc scale-sessions.mjs <N>` prints one JSON line.
// - create rate and heap per session: N new clients through the whole Koa middleware chain (no network),
//   the bridge on a LiveStore (everything it keeps) vs koa-session alone on a Map store;
// - cleanup() of N expired records: total and longest event-loop stall vs a plain Map sweep;
// - expiry lag: N mapped sessions all due at one moment → their sessionDestroy events.
import { IncomingMessage, ServerResponse } from "node:http";
import { Socket } from "node:net";
import Koa from "koa";
import { createSession } from "koa-session";
import { Server } from "socket.io";

const { default: bridgeSession, LiveStore } = await import(process.env.KIS_LIB ?? "koa-io-session");
const N = Number(process.argv[2] ?? 10_000);
const KEYS = ["bench-key-0123456789abcdefghijklmnopqrstuvwxyz"];
const gc = () => { globalThis.gc(); globalThis.gc(); };
const heap = () => process.memoryUsage().heapUsed;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `app` for one cookie-less GET, as a new client would. */
function request(handle) {
  const req = new IncomingMessage(new Socket());
  req.method = "GET";
  req.url = "/";
  req.headers = { host: "bench.local" };
  return handle(req, new ServerResponse(req));
}

function appWithRoute() {
  const app = new Koa();
  app.keys = KEYS;
  return app;
}
const route = (app) => app.use((ctx) => {
  ctx.session.user = "someone@example.com";
  ctx.session.views = 1;
  ctx.body = "ok";
});

/** Creates N sessions through `app`; resolves { perSecond, bytes } (heap per session after GC). */
async function fill(app) {
  const handle = app.callback();
  gc();
  const before = heap();
  const start = performance.now();
  for (let at = 0; at < N; at += 100) {
    const batch = [];
    for (let i = at; i < Math.min(N, at + 100); i++) batch.push(request(handle));
    await Promise.all(batch);
  }
  const seconds = (performance.now() - start) / 1000;
  gc();
  return { perSecond: N / seconds, bytes: (heap() - before) / N };
}

/** The longest gap between ticks of a 1 ms interval while `run` runs. */
async function withStallProbe(run) {
  let last = performance.now();
  let longest = 0;
  const probe = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 1);
  await sleep(5);
  last = performance.now();
  longest = 0;
  const start = performance.now();
  const value = await run();
  const total = performance.now() - start;
  await sleep(5);
  clearInterval(probe);
  return { value, total, stall: Math.max(longest, 0) };
}

// koa-session alone, on the Map store its README shows.
const map = new Map();
const koaApp = appWithRoute();
koaApp.use(createSession({ store: { get: (k) => map.get(k), set: (k, v) => void map.set(k, v), destroy: (k) => void map.delete(k) } }, koaApp));
route(koaApp);
const koa = await fill(koaApp);
map.clear();

// The bridge on a LiveStore.
const store = new LiveStore();
const bridgeApp = appWithRoute();
const bridge = bridgeSession(bridgeApp, new Server(), { store });
route(bridgeApp);
const bridged = await fill(bridgeApp);
if (store.size !== N) throw new Error(`${store.size} of ${N} sessions stored`);

// Expiry lag: every mapped session made due at one moment (rewritten behind the bridge, then read once so it learns the end).
const ids = store.list();
// Far enough ahead that the rewrite and the reads below finish first, even at 1M.
const due = Date.now() + 3_000 + N / 20;
for (const id of ids) {
  const state = store.get(id);
  const record = JSON.parse(state.session);
  record._expire = due;
  store.set(id, { ...state, session: JSON.stringify(record) });
}
let destroyed = 0;
let early = 0;
let lastDestroy = 0;
const allGone = new Promise((resolve) => bridge.on("sessionDestroy", () => {
  lastDestroy = Date.now();
  if (lastDestroy < due) early++;
  if (++destroyed === N) resolve();
}));
for (let at = 0; at < ids.length; at += 1000) await Promise.all(ids.slice(at, at + 1000).map((id) => bridge.getById(id)));
if (Date.now() >= due) throw new Error("the sessions were due before the bench finished scheduling them");
const expiry = await withStallProbe(() => allGone);
await bridge.close();

// cleanup() of N expired records vs a plain Map sweep.
const expiredStore = new LiveStore();
let selfDropped = 0;
expiredStore.subscribe(() => selfDropped++);
const cleanupBridge = bridgeSession(appWithRoute(), new Server(), { store: expiredStore });
const expiredAt = Date.now() - 1;
for (let i = 0; i < N; i++) expiredStore.set(`s${i}`, { session: "{}", expiresAt: expiredAt, ttl: 1000 });
gc();
const cleanup = await withStallProbe(() => cleanupBridge.cleanup());
await cleanupBridge.close();
const plain = new Map();
for (let i = 0; i < N; i++) plain.set(`s${i}`, { session: "{}", expiresAt: expiredAt, ttl: 1000 });
gc();
const sweep = await withStallProbe(async () => {
  const now = Date.now();
  for (const [key, state] of plain) if (state.expiresAt <= now) plain.delete(key);
});

console.log(JSON.stringify({
  n: N,
  create: { bridgePerSecond: bridged.perSecond, koaSessionPerSecond: koa.perSecond },
  heap: { bridgeBytes: bridged.bytes, koaSessionBytes: koa.bytes, ratio: bridged.bytes / koa.bytes },
  cleanup: { totalMs: cleanup.total, stallMs: cleanup.stall, removed: cleanup.value, selfDropped, mapSweepMs: sweep.total },
  expiry: { lastLagMs: lastDestroy - due, stallMs: expiry.stall, destroyed, early },
}));
process.exit(0);
