// The koa-io-session demo: one session shared by a page's HTTP calls and its socket.
//
//   npm start                      FileStore in ./data, port 3000
//   PORT=8080 STORE=memory npm start
//
// Environment: PORT (default 3000; 0 picks a free port), STORE ("file" or
// "memory", default "file"), DATA_DIR (default ./data), SESSION_KEYS
// (comma-separated cookie signing keys; a fixed development pair otherwise).
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { resolve } from "node:path";
import Koa from "koa";
import { Server } from "socket.io";
import bridgeSession, { LiveStore } from "koa-io-session";
import { FileStore } from "koa-io-session/fdb";

const PUBLIC = new URL("./public/", import.meta.url);
const DEV_KEYS = ["koa-io-session-demo-dev-key-1", "koa-io-session-demo-dev-key-2"];

const port = Number(process.env.PORT ?? 3000);
const storeKind = process.env.STORE ?? "file";
const dataDir = resolve(process.env.DATA_DIR ?? "data");
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`PORT must be a port number, got "${process.env.PORT}".`);
if (storeKind !== "file" && storeKind !== "memory") fail(`STORE must be "file" or "memory", got "${storeKind}".`);

const app = new Koa();
app.keys = process.env.SESSION_KEYS ? process.env.SESSION_KEYS.split(",") : DEV_KEYS;
if (!process.env.SESSION_KEYS) {
  console.warn("Warning: signing cookies with the demo's built-in development keys; set SESSION_KEYS for anything real.");
}

// Static files are served before the bridge: they need no session, and a page
// load that sets no cookie lets the page's socket be the browser's first contact.
app.use(serveStatic({ "/": "index.html", "/app.js": "app.js", "/style.css": "style.css" }));

const io = new Server();
const store = storeKind === "file" ? new FileStore({ fileName: "sessions", fdbOpt: { dir: dataDir } }) : new LiveStore();
const bridge = bridgeSession(app, io, {
  key: "demo.sid",
  maxAge: 24 * 60 * 60 * 1000,
  sameSite: "lax",
  store,
  autoCleanup: true,
  onSessionDestroy: "notify",
  // "Log out everywhere": sessions indexed by their `user` field.
  userKey: "user",
  // Socket activity keeps the session alive (at most one refresh a minute).
  socketTouch: true,
  // HTTP requests and socket calls of one session take turns: no lost updates.
  serializeRequests: true,
});

// The live log: every bridge event goes to the sockets of the browser it concerns.
const clientRoom = (clientId) => `client:${clientId}`;
const push = (room, event) => io.to(room).emit("bridge:event", { at: Date.now(), ...event });
bridge.on("sessionSet", (event) => {
  // The bridge has already moved the client's sockets into the session's room.
  push(bridge.roomOf(event.sessionId), { type: "sessionSet", ...event });
});
bridge.on("sessionDestroy", (event) => {
  // The sockets have already left the destroyed session's room: reach them through their client.
  push(clientRoom(event.clientId), { type: "sessionDestroy", ...event });
});
bridge.on("cleanup", (count) => io.emit("bridge:event", { at: Date.now(), type: "cleanup", count }));
bridge.on("error", (error) => console.error("Automatic cleanup failed:", error));

/** What one channel sees: the ids and the session data (null without a session). */
const view = (clientId, sessionId, session) => ({ clientId, sessionId: sessionId ?? null, session: sessionId ? session : null });

const routes = {
  "GET /api/session": (ctx) => view(ctx.clientId, ctx.sessionId, ctx.session.toJSON()),
  "POST /api/visit": (ctx) => {
    ctx.session.visits = (ctx.session.visits ?? 0) + 1;
  },
  "POST /api/count": (ctx) => {
    ctx.session.count = (ctx.session.count ?? 0) + 1;
    ctx.session.byHttp = (ctx.session.byHttp ?? 0) + 1;
  },
  "POST /api/name": async (ctx) => {
    ctx.session.name = cleanName((await readJson(ctx)).name);
  },
  "POST /api/login": async (ctx) => {
    ctx.session.user = ctx.session.name || "guest";
    // A new session id for the same data; the browser's sockets follow it.
    await ctx.session.regenerate();
  },
  "GET /api/sessions": async (ctx) => {
    const user = ctx.session.user;
    if (!user) return { user: null, sessions: [] };
    const ids = await bridge.getSessionIdsByUser(user);
    return { user, sessions: ids.map((sessionId) => ({ sessionId, current: sessionId === ctx.sessionId })) };
  },
  "POST /api/logout-everywhere": async (ctx) => {
    const user = ctx.session.user;
    if (!user) return { ended: 0 };
    // Every other session of this user ends; their sockets receive "session:destroyed".
    return { ended: await bridge.destroyByUser(user, { except: ctx.sessionId }) };
  },
  "POST /api/logout": (ctx) => {
    // Under onSessionDestroy "notify" the browser's sockets receive "session:destroyed".
    ctx.session = null;
  },
};

app.use(async (ctx, next) => {
  const route = routes[`${ctx.method} ${ctx.path}`];
  if (!route) return next();
  try {
    ctx.body = (await route(ctx)) ?? { ok: true };
  } catch (error) {
    ctx.status = error.status ?? 500;
    ctx.body = { error: error.expose ? error.message : "Internal error" };
    if (ctx.status === 500) console.error(error);
  }
});

const noSession = new Error("This browser has no session: sessions are created over HTTP (visit, +1 via HTTP or log in).");

io.on("connection", (socket) => {
  void socket.join(clientRoom(socket.clientId));
  answer(socket, "session:get", () =>
    socket.withSession(({ sessionId, session }) => view(socket.clientId, sessionId, session), view(socket.clientId)),
  );
  answer(socket, "count:inc", () =>
    socket.withSession(({ session }) => {
      session.count = (session.count ?? 0) + 1;
      session.bySocket = (session.bySocket ?? 0) + 1;
      return session.count;
    }, noSession),
  );
  answer(socket, "name:set", (name) =>
    socket.withSession(({ session }) => {
      session.name = cleanName(name);
      return session.name;
    }, noSession),
  );
  answer(socket, "cleanup", () => bridge.cleanup());
  // The keep-alive indicator: any event refreshes the session (socketTouch); this one also reports the expiry.
  answer(socket, "keepalive", async () => {
    const state = socket.sessionId && (await store.get(socket.sessionId));
    return { expiresAt: state ? state.expiresAt : null };
  });
});

const http = createServer(app.callback());
io.attach(http);
http.listen(port, () => {
  const where = storeKind === "file" ? `FileStore in ${dataDir}` : "in memory (lost on restart)";
  console.log(`Sessions: ${where}`);
  console.log(`koa-io-session demo running at http://localhost:${http.address().port}  (Ctrl+C to stop)`);
});

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    if (stopping) process.exit(1); // a second Ctrl+C does not wait
    stopping = true;
    console.log("\nStopping…");
    shutdown().then(
      () => {
        console.log("Stopped.");
        process.exit(0);
      },
      (error) => {
        console.error("Stopping failed:", error);
        process.exit(1);
      },
    );
  });
}

async function shutdown() {
  // Open keep-alive or long-polling connections must not hold the exit forever.
  setTimeout(() => http.closeAllConnections(), 3000).unref();
  await bridge.close();
  await new Promise((done) => io.close(() => done())); // disconnects the sockets and closes the HTTP server
  if (store instanceof FileStore) await store.close(); // waits for the last writes to reach the file
}

/** Registers a socket event answered through its acknowledgement: the result, or `{ error }`. */
function answer(socket, event, handler) {
  socket.on(event, async (...args) => {
    const ack = typeof args.at(-1) === "function" ? args.pop() : () => {};
    try {
      ack({ ok: await handler(...args) });
    } catch (error) {
      ack({ error: error.message });
    }
  });
}

function cleanName(name) {
  if (typeof name !== "string") throw Object.assign(new Error("name must be a string"), { status: 400, expose: true });
  return name.trim().slice(0, 40);
}

async function readJson(ctx) {
  let text = "";
  for await (const chunk of ctx.req) {
    text += chunk;
    if (text.length > 4096) ctx.throw(413, "body too large");
  }
  try {
    return JSON.parse(text || "{}");
  } catch {
    ctx.throw(400, "body is not JSON");
  }
}

function serveStatic(files) {
  const types = { html: "text/html; charset=utf-8", js: "text/javascript; charset=utf-8", css: "text/css; charset=utf-8" };
  return async (ctx, next) => {
    if (ctx.path === "/favicon.ico") {
      ctx.status = 204;
      return;
    }
    const file = ctx.method === "GET" || ctx.method === "HEAD" ? files[ctx.path] : undefined;
    if (!file) return next();
    ctx.type = types[file.split(".").pop()];
    ctx.set("Cache-Control", "no-cache");
    ctx.body = await readFile(new URL(file, PUBLIC));
  };
}

function fail(message) {
  console.error(message);
  process.exit(1);
}
