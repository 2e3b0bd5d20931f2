// One node of a cluster test: Koa + socket.io (redis-adapter) + bridge + RedisStore,
// importing the BUILT package by self-reference. Prints `READY <port>` and one
// `EVENT <json>` line per bridge event. Env: REDIS_URL, or REDIS_CLUSTER_URLS
// (comma-separated) for a cluster; CLIENT (ioredis5 | ioredis6 | redis5 | redis6,
// default ioredis5): the family of the store's client; PREFIX; BRIDGE_OPTS (JSON).
// Routes /sessions-of and /destroy-user need BRIDGE_OPTS {"userKey":"user"}; /signin?user= sets that field.
import { createServer } from "node:http";
import { createAdapter } from "@socket.io/redis-adapter";
import { Cluster, Redis } from "ioredis";
import Koa from "koa";
import { Server } from "socket.io";
import bridgeSession from "koa-io-session";
import { RedisStore } from "koa-io-session/redis";

const { REDIS_URL, PREFIX, CLIENT = "ioredis5" } = process.env;
const clusterUrls = process.env.REDIS_CLUSTER_URLS?.split(",").filter(Boolean);
const nodes = clusterUrls?.map((url) => ({ host: new URL(url).hostname, port: Number(new URL(url).port) }));
const print = (line) => process.stdout.write(`${line}\n`);

/** The store's client, of the family under test, as the README shows it. */
async function storeClient() {
  if (CLIENT.startsWith("ioredis")) {
    const { Redis: R, Cluster: C } = await import(CLIENT === "ioredis6" ? "ioredis6" : "ioredis");
    const c = nodes ? new C(nodes, { redisOptions: { maxRetriesPerRequest: 1 } }) : new R(REDIS_URL, { maxRetriesPerRequest: 1 });
    c.on("error", () => {});
    return { client: c, close: () => c.disconnect() };
  }
  const { createClient, createCluster } = await import(CLIENT === "redis6" ? "redis6" : "redis");
  const c = nodes
    ? createCluster({ rootNodes: clusterUrls.map((url) => ({ url })), defaults: { disableOfflineQueue: true } })
    : createClient({ url: REDIS_URL, disableOfflineQueue: true });
  c.on("error", () => {});
  await c.connect();
  return { client: c, close: () => c.destroy() };
}

const user = await storeClient();
const client = user.client;
// The socket.io adapter is not under test: ioredis, standalone or cluster.
const pub = nodes ? new Cluster(nodes) : new Redis(REDIS_URL);
const sub = pub.duplicate();
for (const connection of [pub, sub]) connection.on("error", () => {});
await Promise.all([pub, sub].map((c) => (c.status === "ready" ? null : new Promise((resolve) => c.once("ready", resolve)))));

const app = new Koa();
app.keys = ["cluster-key-one-0123456789abcdefghij", "cluster-key-two-0123456789abcdefghij"];
const io = new Server({ adapter: createAdapter(pub, sub, { key: `${PREFIX}io` }) });
const store = new RedisStore({ client, prefix: PREFIX, onError: (error) => print(`STORE_ERROR ${JSON.stringify(error.message)}`) });
const bridge = bridgeSession(app, io, { key: "test.sid", store, onSessionDestroy: "notify", ...JSON.parse(process.env.BRIDGE_OPTS ?? "{}") });
bridge.on("sessionSet", (e) => print(`EVENT ${JSON.stringify({ name: "sessionSet", ...e })}`));
bridge.on("sessionDestroy", (e) => print(`EVENT ${JSON.stringify({ name: "sessionDestroy", ...e })}`));
bridge.on("error", (e) => print(`EVENT ${JSON.stringify({ name: "error", message: e.message })}`));

app.use(async (ctx, next) => {
  if (ctx.path === "/emit") {
    io.to(bridge.roomOf(String(ctx.query.room))).emit(String(ctx.query.event), ctx.query.data);
    ctx.body = { ok: true };
    return;
  }
  if (ctx.path === "/map") {
    const clientId = String(ctx.query.clientId);
    ctx.body = { sessionId: bridge.getSessionId(clientId) ?? null };
    return;
  }
  // With BRIDGE_OPTS {"userKey":"user"}: the shared user index.
  if (ctx.path === "/sessions-of") {
    ctx.body = { sessionIds: (await bridge.getSessionIdsByUser(String(ctx.query.user))).sort() };
    return;
  }
  if (ctx.path === "/destroy-user") {
    const except = ctx.query.except === undefined ? undefined : String(ctx.query.except);
    ctx.body = { count: await bridge.destroyByUser(String(ctx.query.user), { except }) };
    return;
  }
  const session = ctx.session;
  switch (ctx.path) {
    case "/session":
      break;
    case "/inc":
      session.count = (Number(session.count) || 0) + 1;
      break;
    case "/slowinc": {
      // Read, wait, write: without serializeRequests, writes made meanwhile are lost.
      const count = Number(session.count) || 0;
      await new Promise((resolve) => setTimeout(resolve, 2));
      session.count = count + 1;
      break;
    }
    case "/signin":
      session.user = String(ctx.query.user);
      break;
    case "/login":
      session.user = ctx.query.user ?? "someone";
      await session.regenerate();
      break;
    case "/logout":
      ctx.session = null;
      break;
    default:
      return next();
  }
  ctx.body = { clientId: ctx.clientId, sessionId: ctx.sessionId, session: ctx.session };
});

io.on("connection", (socket) => {
  socket.on("whoami", (ack) => ack({ clientId: socket.clientId, sessionId: socket.sessionId ?? null }));
  socket.on("session:get", async (ack) => {
    ack(await socket.withSession((s) => ({ sessionId: s.sessionId, session: s.session }), { missing: true }));
  });
  socket.on("session:inc", async (ack) => {
    try {
      ack(await socket.withSession((s) => (s.session.count = (Number(s.session.count) || 0) + 1), { missing: true }));
    } catch (error) {
      ack({ error: error.message });
    }
  });
  socket.on("session:logout", async (ack) => {
    ack(await socket.withSession((s) => ((s.session = null), true), { missing: true }));
  });
});

const http = createServer(app.callback());
io.attach(http);
http.listen(0, "127.0.0.1", () => print(`READY ${http.address().port}`));

process.on("SIGTERM", async () => {
  await bridge.close();
  io.close();
  await store.close();
  user.close();
  for (const connection of [pub, sub]) connection.disconnect();
  process.exit(0);
});
