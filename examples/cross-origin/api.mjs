// The API and socket.io server of a page served from another origin
// (examples/cross-origin/web.mjs serves that page).
//
//   node examples/cross-origin/api.mjs      then   node examples/cross-origin/web.mjs
//
// Environment: PORT (default 3000), ALLOWED_ORIGINS (comma-separated, default
// "http://localhost:5173"), CROSS_SITE=1 when the page and the API are on
// different sites (see below).
import { createServer } from "node:http";
import Koa from "koa";
import { Server } from "socket.io";
import bridgeSession from "koa-io-session";

// A fixed list: only these pages may make credentialed requests to this API.
const allowedOrigins = (process.env.ALLOWED_ORIGINS ?? "http://localhost:5173").split(",");
const isAllowed = (origin) => allowedOrigins.includes(origin);

// Another port or subdomain of the same site (localhost:5173 → localhost:3000,
// app.example.com → api.example.com) is cross-origin but same-site: SameSite=Lax
// cookies are sent. A different site (app.example → api.example.net) needs
// SameSite=None, which browsers accept only with Secure, so over HTTPS.
const crossSite = process.env.CROSS_SITE === "1";

const app = new Koa();
app.keys = [process.env.SESSION_SECRET ?? "change-me-to-a-long-random-secret"];
// Behind a TLS-terminating proxy: trust its X-Forwarded-Proto, or Koa refuses to send Secure cookies over plain HTTP.
app.proxy = crossSite;

const io = new Server({
  cors: { origin: allowedOrigins, credentials: true },
  // CORS does not apply to WebSocket: a page on any site can open one with the
  // user's cookies. Refuse handshakes from pages that are not on the list
  // (clients outside a browser send no Origin).
  allowRequest: (req, callback) => {
    const origin = req.headers.origin;
    callback(null, origin === undefined || isAllowed(origin));
  },
});

const bridge = bridgeSession(app, io, {
  key: "app.sid",
  maxAge: 24 * 60 * 60 * 1000,
  ...(crossSite ? { sameSite: "none", secure: true } : { sameSite: "lax" }),
});

// CORS for the HTTP API, before the routes.
app.use(async (ctx, next) => {
  const origin = ctx.get("Origin");
  ctx.vary("Origin");
  if (!isAllowed(origin)) return next();
  ctx.set("Access-Control-Allow-Origin", origin);
  ctx.set("Access-Control-Allow-Credentials", "true");
  if (ctx.method !== "OPTIONS") return next();
  // A preflight request.
  ctx.set("Access-Control-Allow-Methods", "GET, POST");
  ctx.set("Access-Control-Allow-Headers", "Content-Type");
  ctx.status = 204;
});

app.use(async (ctx, next) => {
  if (ctx.path !== "/api/session") return next();
  ctx.session.visits = (ctx.session.visits ?? 0) + 1;
  ctx.body = { clientId: ctx.clientId, sessionId: ctx.sessionId, session: ctx.session };
});

io.on("connection", (socket) => {
  socket.on("session:get", async (ack) => {
    ack(await socket.withSession(({ sessionId, session }) => ({ sessionId, session }), null));
  });
});

const http = createServer(app.callback());
io.attach(http);
http.listen(Number(process.env.PORT ?? 3000), () => {
  console.log(`API listening on http://localhost:${http.address().port}, for pages on ${allowedOrigins.join(", ")}`);
});

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, async () => {
    http.closeIdleConnections();
    await new Promise((resolve) => io.close(resolve));
    await bridge.close();
    process.exit(0);
  });
}
