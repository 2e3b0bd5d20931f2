// The Quick Start in strict TypeScript: typed socket.io events and typed session data.
//
//   npx tsc -p examples/typescript && node examples/typescript/build/server.js
// Needs: npm install koa-io-session koa socket.io, and for the types: typescript @types/koa @types/node
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import Koa from "koa";
import { Server } from "socket.io";
import bridgeSession, { type SessionSetEvent } from "koa-io-session";

// What this app keeps in a session: ctx.session and withSession handlers see these fields.
declare module "koa-io-session" {
  interface SessionData {
    visits?: number;
    user?: string;
  }
}

/** Events a client sends, with their arguments (the last one is the acknowledgement). */
interface ClientToServerEvents {
  "session:get": (ack: (reply: { sessionId: string; visits: number } | null) => void) => void;
  "session:visit": (ack: (visits: number) => void) => void;
  "user:set": (user: string, ack: (ok: boolean) => void) => void;
}

/** Events the server sends. */
interface ServerToClientEvents {
  "session:destroyed": (event: { sessionId: string }) => void;
  welcome: (user: string | null) => void;
}

const app = new Koa();
app.keys = [process.env.SESSION_SECRET ?? "change-me-to-a-long-random-secret"];

const io = new Server<ClientToServerEvents, ServerToClientEvents>();

const bridge = bridgeSession(app, io, {
  key: "app.sid",
  maxAge: 24 * 60 * 60 * 1000,
  sameSite: "lax",
  onSessionDestroy: "notify",
});

bridge.on("sessionSet", (event: SessionSetEvent) => console.log("sessionSet", event.sessionId, event.isNew));

app.use(async (ctx, next) => {
  if (ctx.path !== "/api/session") return next();
  ctx.session.visits = (ctx.session.visits ?? 0) + 1;
  ctx.body = { clientId: ctx.clientId, sessionId: ctx.sessionId, session: ctx.session };
});

io.on("connection", async (socket) => {
  // withSession knows the session's fields; no null check is needed inside the handler.
  const user = await socket.withSession(({ session }) => session.user ?? null, null);
  socket.emit("welcome", user);

  socket.on("session:get", async (ack) => {
    ack(await socket.withSession(({ sessionId, session }) => ({ sessionId, visits: session.visits ?? 0 }), null));
  });

  socket.on("session:visit", async (ack) => {
    const visits = await socket.withSession((sessionCtx) => {
      sessionCtx.session.visits = (sessionCtx.session.visits ?? 0) + 1;
      return sessionCtx.session.visits;
    }, 0);
    ack(visits);
  });

  socket.on("user:set", async (user, ack) => {
    ack(await socket.withSession((sessionCtx) => {
      sessionCtx.session.user = user;
      return true;
    }, false));
  });
});

const http = createServer(app.callback());
io.attach(http);
http.listen(Number(process.env.PORT ?? 3000), () => {
  console.log(`Listening on http://localhost:${(http.address() as AddressInfo).port}`);
});

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, async () => {
    http.closeIdleConnections();
    await new Promise<void>((resolve) => io.close(() => resolve()));
    await bridge.close();
    process.exit(0);
  });
}
