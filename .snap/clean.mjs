import Koa from "koa";
import { Server } from "socket.io";
const { default: bridgeSession, LiveStore } = await import(process.env.KIS_LIB ?? "/work/wt/m13heap/dist/index.js");
const N = 100000;
const runs = [], floors = [];
for (let r = 0; r < 7; r++) {
  const store = new LiveStore();
  const app = new Koa(); app.keys = ["k0123456789abcdefghijklmnopqrstuvwxyz"];
  const bridge = bridgeSession(app, new Server(), { store });
  const exp = Date.now() - 1;
  for (let i = 0; i < N; i++) store.set(`s${i}`, { session: "{}", expiresAt: exp, ttl: 1000 });
  globalThis.gc();
  let t = performance.now();
  const n = await bridge.cleanup();
  runs.push(performance.now() - t);
  await bridge.close();
  const m = new Map(); for (let i = 0; i < N; i++) m.set(`s${i}`, { session: "{}", expiresAt: exp, ttl: 1000 });
  globalThis.gc();
  t = performance.now();
  const now = Date.now(); for (const [k, s] of m) if (s.expiresAt <= now) m.delete(k);
  floors.push(performance.now() - t);
}
const med = (a) => a.sort((x, y) => x - y)[a.length >> 1];
console.log("cleanup", med(runs).toFixed(1), "floor", med(floors).toFixed(1), "ratio", (med(runs) / med(floors)).toFixed(2));
