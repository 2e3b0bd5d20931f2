import { IncomingMessage, ServerResponse } from "node:http";
import { Socket } from "node:net";
import v8 from "node:v8";
import Koa from "koa";
import { createSession } from "koa-session";
import { Server } from "socket.io";
const { default: bridgeSession, LiveStore } = await import(process.env.KIS_LIB ?? "/work/wt/m13heap/dist/index.js");
const N = Number(process.argv[2] ?? 50000);
const mode = process.argv[3] ?? "bridge";
function request(handle) {
  const req = new IncomingMessage(new Socket());
  req.method = "GET"; req.url = "/"; req.headers = { host: "bench.local" };
  return handle(req, new ServerResponse(req));
}
const app = new Koa(); app.keys = ["bench-key-0123456789abcdefghijklmnopqrstuvwxyz"];
let keep;
if (mode === "bridge") { const store = new LiveStore(); keep = bridgeSession(app, new Server(), { store }); keep.s = store; }
else { const map = new Map(); keep = map; app.use(createSession({ store: { get: (k) => map.get(k), set: (k, v) => void map.set(k, v), destroy: (k) => void map.delete(k) } }, app)); }
app.use((ctx) => { ctx.session.user = "someone@example.com"; ctx.session.views = 1; ctx.body = "ok"; });
const handle = app.callback();
for (let at = 0; at < N; at += 100) { const b = []; for (let i = at; i < Math.min(N, at + 100); i++) b.push(request(handle)); await Promise.all(b); }
globalThis.gc(); globalThis.gc();
const file = v8.writeHeapSnapshot(`/tmp/m13/${mode}.heapsnapshot`);
console.log(file, process.memoryUsage().heapUsed);
