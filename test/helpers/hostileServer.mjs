// A server for hostile-input tests: Koa + socket.io + bridge from the BUILT package,
// run as a child process. It installs NO unhandledRejection/uncaughtException handler
// unless COUNT_FAULTS=1 (then it counts them), so a crash shows as an exit.
// It creates a victim client with a session, prints `READY <json>`, and answers
// IPC `{ id, type: "state" }` with the victim's pair and session and the fault counts.
import { createServer } from "node:http";
import Koa from "koa";
import { Server } from "socket.io";
import bridgeSession from "koa-io-session";

const counts = { unhandledRejection: 0, uncaughtException: 0, warnings: 0 };
if (process.env.COUNT_FAULTS === "1") {
  process.on("unhandledRejection", () => counts.unhandledRejection++);
  process.on("uncaughtException", () => counts.uncaughtException++);
}
// Listening to warnings changes nothing about crashes; a bridge warning means a guard fired.
process.on("warning", (warning) => {
  if (String(warning.message).startsWith("[koa-io-session]")) counts.warnings++;
});

const app = new Koa();
app.keys = JSON.parse(process.env.APP_KEYS);
app.silent = true;
const io = new Server();
const bridge = bridgeSession(app, io, { key: "app.sid", ...JSON.parse(process.env.BRIDGE_OPTS ?? "{}") });

app.use(async (ctx, next) => {
  if (ctx.path === "/victim") {
    ctx.session.secret = "victim's";
    await ctx.session.regenerate();
  } else if (ctx.path === "/inc") {
    ctx.session.count = (Number(ctx.session.count) || 0) + 1;
  } else if (ctx.path === "/login") {
    ctx.session.user = "someone";
    await ctx.session.regenerate();
  } else if (ctx.path === "/logout") {
    ctx.session = null;
  } else if (ctx.path !== "/session") {
    return next();
  }
  ctx.body = { clientId: ctx.clientId, sessionId: ctx.sessionId ?? null };
});
io.on("connection", (socket) => {
  socket.on("whoami", (ack) => typeof ack === "function" && ack({ clientId: socket.clientId, sessionId: socket.sessionId ?? null }));
});

const http = createServer(app.callback());
io.attach(http);
await new Promise((resolve) => http.listen(0, "127.0.0.1", resolve));
const { port } = http.address();

const res = await fetch(`http://127.0.0.1:${port}/victim`);
const victim = await res.json();

process.on("message", async (msg) => {
  if (msg?.type !== "state") return;
  const session = await bridge.getById(victim.sessionId);
  process.send({ id: msg.id, clientId: bridge.getClientId(victim.sessionId) ?? null, session: session ?? null, counts });
});
process.stdout.write(`READY ${JSON.stringify({ port, victim })}\n`);
