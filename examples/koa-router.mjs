// The bridge with @koa/router: log in, log out and read the session over HTTP,
// and a socket that follows the session through both.
//
//   node examples/koa-router.mjs          PORT (default 3000)
// Needs: npm install koa-io-session koa socket.io @koa/router
import { createServer } from "node:http";
import Router from "@koa/router";
import Koa from "koa";
import { Server } from "socket.io";
import bridgeSession from "koa-io-session";

const app = new Koa();
app.keys = [process.env.SESSION_SECRET ?? "change-me-to-a-long-random-secret"];

const io = new Server();
// The bridge first: its middleware must run before the router's.
const bridge = bridgeSession(app, io, { key: "app.sid", sameSite: "lax", onSessionDestroy: "notify" });

const router = new Router({ prefix: "/api" });

router.get("/me", (ctx) => {
  ctx.body = { clientId: ctx.clientId, sessionId: ctx.sessionId ?? null, user: ctx.session.user ?? null };
});

router.post("/login/:user", async (ctx) => {
  ctx.session.user = ctx.params.user;
  // A new session id against session fixation; the browser's sockets follow it.
  await ctx.session.regenerate();
  ctx.body = { user: ctx.session.user };
});

router.post("/logout", (ctx) => {
  ctx.session = null; // the sockets of this session receive "session:destroyed"
  ctx.status = 204;
});

app.use(router.routes());
app.use(router.allowedMethods());

io.on("connection", (socket) => {
  socket.on("whoami", async (ack) => {
    ack(await socket.withSession(({ session }) => session.user ?? null, null));
  });
});

const http = createServer(app.callback());
io.attach(http);
http.listen(Number(process.env.PORT ?? 3000), () => {
  console.log(`Listening on http://localhost:${http.address().port}`);
});

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, async () => {
    http.closeIdleConnections();
    await new Promise((resolve) => io.close(resolve));
    await bridge.close();
    process.exit(0);
  });
}
