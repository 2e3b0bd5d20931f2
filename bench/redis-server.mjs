// One server of the Redis bench: `node redis-server.mjs <koa-redis|bridge-redis>` prints `READY <port>`.
// Env: REDIS_URL, BENCH_PREFIX (key prefix of this run), AUTO_PIPELINING=1, BENCH_FAMILY=node-redis,
// BENCH_CLUSTER_URLS (comma-separated: the bridge's client is a cluster client of that family).
import { createServer } from "node:http";
import { Cluster, Redis } from "ioredis";
import Koa from "koa";
import session from "koa-session";
import redisStore from "koa-redis";
import { Server } from "socket.io";
import bridgeSession from "koa-io-session";
import { RedisStore } from "koa-io-session/redis";

const variant = process.argv[2];
const url = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const prefix = process.env.BENCH_PREFIX ?? "kis:bench:";
// ioredis' enableAutoPipelining: concurrent commands share one write to the socket.
const autoPipelining = process.env.AUTO_PIPELINING === "1";
const app = new Koa();
app.keys = ["bench-key-0123456789abcdefghijklmnopqrstuvwxyz"];
const io = new Server();
let client;

if (variant === "koa-redis") {
  // What a koa-session user picks for Redis; its keys get this run's prefix through ioredis' keyPrefix.
  const store = redisStore({ url, keyPrefix: `${prefix}koa-redis:`, enableAutoPipelining: autoPipelining });
  app.use(session({ key: "bench.sid", maxAge: 30 * 86_400_000, store }, app)); // the bridge's default lifetime
} else if (variant === "bridge-redis") {
  // BENCH_FAMILY=node-redis: node-redis 5 instead of ioredis 5.
  const clusterUrls = process.env.BENCH_CLUSTER_URLS?.split(",");
  if (process.env.BENCH_FAMILY === "node-redis") {
    const { createClient, createCluster } = await import("redis");
    client = clusterUrls
      ? createCluster({ rootNodes: clusterUrls.map((u) => ({ url: u })), defaults: { disableOfflineQueue: true } })
      : createClient({ url, disableOfflineQueue: true });
    await client.connect();
  } else if (clusterUrls) {
    const nodes = clusterUrls.map((u) => ({ host: new URL(u).hostname, port: Number(new URL(u).port) }));
    client = new Cluster(nodes, { redisOptions: { maxRetriesPerRequest: 1 }, enableAutoPipelining: autoPipelining });
  } else client = new Redis(url, { maxRetriesPerRequest: 1, enableAutoPipelining: autoPipelining });
  bridgeSession(app, io, { key: "bench.sid", store: new RedisStore({ client, prefix: `${prefix}bridge:` }) });
} else {
  throw new Error(`unknown variant ${variant}`);
}

app.use((ctx) => {
  if (ctx.path === "/start") {
    ctx.session.count = 0;
    ctx.body = "ok";
    return;
  }
  ctx.session.views = (ctx.session.views ?? 0) + 1;
  ctx.body = { views: ctx.session.views };
});

io.on("connection", (socket) => {
  socket.on("inc", async (ack) => ack(await socket.withSession(({ session }) => ++session.count)));
  // The baseline: one atomic INCR per event through the same client and server.
  socket.on("incr", async (ack) => ack(await client.incr(`${prefix}incr:${socket.sessionId}`)));
  socket.on("count", async (ack) => ack(await socket.withSession(({ session }) => session.count)));
  // CPU time of this process so far (µs), for the bench's CPU-per-call figures.
  socket.on("cpu", (ack) => {
    const { user, system } = process.cpuUsage();
    ack(user + system);
  });
});

const http = createServer(app.callback());
io.attach(http);
http.listen(0, "127.0.0.1", () => console.log(`READY ${http.address().port}`));
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));
