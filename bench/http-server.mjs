// One HTTP server variant for the HTTP bench: `node http-server.mjs <variant>` prints `READY <port>`.
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Koa from "koa";
import session from "koa-session";
import { Server } from "socket.io";
import bridgeSession, { LiveStore } from "koa-io-session";

const variant = process.argv[2];
const app = new Koa();
app.keys = ["bench-key-0123456789abcdefghijklmnopqrstuvwxyz"];
const io = new Server();

/** The Map store a koa-session user would write (what the original README compares with). */
class MapStore {
  #map = new Map();
  get(key) { return this.#map.get(key); }
  set(key, sess) { this.#map.set(key, sess); }
  destroy(key) { this.#map.delete(key); }
}

async function storeFor(name) {
  if (name === "bridge-file") {
    const { FileStore } = await import("koa-io-session/fdb");
    return new FileStore({ fileName: "sessions", fdbOpt: { dir: mkdtempSync(join(tmpdir(), "kis-bench-")) } });
  }
  return new LiveStore();
}

if (variant === "koa-session-cid") {
  // The client cookie the bridge must also send (SPEC), done plainly with `cookies`: the floor for any bridge.
  app.use(async (ctx, next) => {
    const clientId = ctx.cookies.get("bench.sid.cid", { signed: true }) ?? randomBytes(18).toString("base64url");
    ctx.cookies.set("bench.sid.cid", clientId, { signed: true, httpOnly: true, maxAge: 365 * 86_400_000 });
    await next();
  });
}
if (variant.startsWith("koa-session")) {
  // Same cookie lifetime as the bridge default (30 days), so only the bridge's own work differs.
  app.use(session({ key: "bench.sid", maxAge: 30 * 86_400_000, store: new MapStore() }, app));
} else if (variant.startsWith("bridge")) {
  bridgeSession(app, io, { key: "bench.sid", store: await storeFor(variant), ...JSON.parse(process.env.BRIDGE_OPTS ?? "{}") });
} else if (variant !== "bare") {
  throw new Error(`unknown variant ${variant}`);
}

app.use((ctx) => {
  if (variant === "bare") {
    ctx.body = { views: 1 };
    return;
  }
  // BENCH_USER: sessions carry a user id, so `userKey` indexes every save.
  if (process.env.BENCH_USER) ctx.session.user ??= process.env.BENCH_USER;
  ctx.session.views = (ctx.session.views ?? 0) + 1;
  ctx.body = { views: ctx.session.views };
});

const http = createServer(app.callback());
io.attach(http);
http.listen(0, "127.0.0.1", () => console.log(`READY ${http.address().port}`));
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));
