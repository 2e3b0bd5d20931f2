// Several processes sharing one set of sessions through Redis. Run it twice:
//
//   PORT=3001 node examples/redis-nodes.mjs
//   PORT=3002 node examples/redis-nodes.mjs
//
// A session saved over HTTP on one node is the session of a socket connected
// to the other, and `io.to(room)` reaches sockets on every node.
// Needs: npm install koa-io-session koa socket.io ioredis @socket.io/redis-adapter
// Environment: PORT, REDIS_URL (default redis://127.0.0.1:6379), REDIS_PREFIX (default "myapp:").
import { createServer } from "node:http";
import { createAdapter } from "@socket.io/redis-adapter";
import { Redis } from "ioredis";
import Koa from "koa";
import { Server } from "socket.io";
import bridgeSession from "koa-io-session";
import { RedisStore } from "koa-io-session/redis";

const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
// One prefix per application, so several apps can share a Redis.
const prefix = process.env.REDIS_PREFIX ?? "myapp:";

// Three connections: the store's commands, and the adapter's publisher and subscriber.
// maxRetriesPerRequest: 1 makes a call fail soon while Redis is down, instead of hanging.
const client = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
const pub = new Redis(redisUrl);
const sub = pub.duplicate();
// Without an "error" listener ioredis prints "Unhandled error event" for every reconnection attempt.
for (const [name, connection] of Object.entries({ client, pub, sub })) {
  connection.on("error", (error) => console.error(`redis ${name}: ${error.message}`));
}

const app = new Koa();
// Every node must sign cookies with the same keys.
app.keys = [process.env.SESSION_SECRET ?? "change-me-to-a-long-random-secret"];

const io = new Server({ adapter: createAdapter(pub, sub, { key: `${prefix}socket.io` }) });

const store = new RedisStore({ client, prefix: `${prefix}sess:` });
const bridge = bridgeSession(app, io, {
  key: "app.sid",
  maxAge: 24 * 60 * 60 * 1000,
  sameSite: "lax",
  store,
  onSessionDestroy: "notify",
});
bridge.on("error", (error) => console.error("bridge:", error));

// Names this process in the replies, to show which node answered.
const node = `node ${process.pid}`;

app.use(async (ctx, next) => {
  if (ctx.path !== "/api/session") return next();
  ctx.session.visits = (ctx.session.visits ?? 0) + 1;
  ctx.session.lastNode = node;
  // Reaches this session's sockets whichever node they are connected to.
  if (ctx.sessionId) io.to(bridge.roomOf(ctx.sessionId)).emit("visited", { visits: ctx.session.visits, by: node });
  ctx.body = { node, clientId: ctx.clientId, sessionId: ctx.sessionId, session: ctx.session };
});

io.on("connection", (socket) => {
  socket.on("session:get", async (ack) => {
    ack(await socket.withSession(({ sessionId, session }) => ({ node, sessionId, session }), null));
  });
});

const http = createServer(app.callback());
io.attach(http);
http.listen(Number(process.env.PORT ?? 3000), () => {
  console.log(`Listening on http://localhost:${http.address().port}`);
});

async function shutdown() {
  http.closeIdleConnections();
  await new Promise((resolve) => io.close(resolve));
  await bridge.close(); // also ends the store's own subscriber connection
  await Promise.all([client.quit(), pub.quit(), sub.quit()]);
}

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    shutdown().then(
      () => process.exit(0),
      (error) => {
        console.error("shutdown failed:", error);
        process.exit(1);
      },
    );
  });
}
