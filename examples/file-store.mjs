// The Quick Start with sessions kept in a file (FileStore), so they survive a
// restart, and a graceful shutdown on Ctrl+C (SIGINT) or SIGTERM.
//
//   node examples/file-store.mjs          PORT (default 3000), DATA_DIR (default ./data)
import { createServer } from "node:http";
import Koa from "koa";
import { Server } from "socket.io";
import bridgeSession from "koa-io-session";
import { FileStore } from "koa-io-session/fdb";

const app = new Koa();
// Stable keys matter here: sessions outlive the process only if their cookies still verify.
app.keys = [process.env.SESSION_SECRET ?? "change-me-to-a-long-random-secret"];

const io = new Server({ cors: { origin: true, credentials: true } });

const store = new FileStore({ fileName: "sessions", fdbOpt: { dir: process.env.DATA_DIR ?? "./data" } });
const bridge = bridgeSession(app, io, {
  key: "app.sid",
  maxAge: 24 * 60 * 60 * 1000,
  sameSite: "lax",
  store,
  autoCleanup: true, // removes expired sessions and compacts the file now and then
});

bridge.on("sessionSet", (event) => console.log("sessionSet", event));
bridge.on("sessionDestroy", (event) => console.log("sessionDestroy", event));
bridge.on("error", (error) => console.error("automatic cleanup failed:", error));

app.use(async (ctx, next) => {
  if (ctx.path !== "/api/session") return next();
  if (ctx.query.reset === "1") {
    ctx.session = null;
    ctx.body = { ok: true };
    return;
  }
  ctx.session.visits = (ctx.session.visits ?? 0) + 1;
  ctx.body = { clientId: ctx.clientId, sessionId: ctx.sessionId, session: ctx.session };
});

io.on("connection", (socket) => {
  socket.on("session:visit", async (ack) => {
    const visits = await socket.withSession(({ session }) => {
      session.visits = (session.visits ?? 0) + 1;
      return session.visits;
    }, 0);
    ack(visits);
  });
});

const http = createServer(app.callback());
io.attach(http);
http.listen(Number(process.env.PORT ?? 3000), () => {
  console.log(`Listening on http://localhost:${http.address().port}`);
});

// Shutdown, in this order: stop taking connections and close the sockets
// (io.close also closes the HTTP server), stop the bridge, then close the
// store, which waits until the last writes are in the file.
async function shutdown() {
  // Idle keep-alive connections would hold http.close() open.
  http.closeIdleConnections();
  await new Promise((resolve) => io.close(resolve));
  await bridge.close();
  await store.close();
}

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    console.log(`${signal}: shutting down`);
    shutdown().then(
      () => process.exit(0),
      (error) => {
        console.error("shutdown failed:", error);
        process.exit(1);
      },
    );
  });
}
