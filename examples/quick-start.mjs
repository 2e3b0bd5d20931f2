import { createServer } from "node:http";
import Koa from "koa";
import { Server } from "socket.io";
import bridgeSession from "koa-io-session";

const app = new Koa();
// Signed cookies need stable secrets, or sessions die with the process.
app.keys = [process.env.SESSION_SECRET ?? "change-me-to-a-long-random-secret"];

const io = new Server({ cors: { origin: true, credentials: true } });

const bridge = bridgeSession(app, io, {
  key: "app.sid",
  maxAge: 24 * 60 * 60 * 1000,
  sameSite: "lax",
});

bridge.on("sessionSet", (event) => console.log("sessionSet", event));
bridge.on("sessionDestroy", (event) => console.log("sessionDestroy", event));

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
  socket.on("session:get", async (ack) => {
    const reply = await socket.withSession(
      ({ sessionId, session }) => ({ sessionId, session }),
      { error: "no session yet: call /api/session first" },
    );
    ack(reply);
  });

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
