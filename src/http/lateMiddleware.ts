import type Koa from "koa";
import type { Server } from "socket.io";
import { message } from "../errors.js";

const warn = (text: string): void => process.emitWarning(message(text), { code: "KOA_IO_SESSION_LATE_MIDDLEWARE" });

/**
 * With koa 3 and koa-compose 4.2, `app.callback()` copies the middleware
 * list, so middleware added later never runs and every route answers 404.
 * Warn when the order suggests that happened; it costs nothing per request.
 */
export function watchLateMiddleware(app: Koa, io: Server): void {
  if (io.httpServer) {
    warn(
      "socket.io was attached to an HTTP server before bridgeSession(). If that server already runs " +
        "app.callback(), the bridge and later routes will never run. Create the server after the bridge " +
        "and your routes: new Server(opts), bridgeSession(), app.use(...), createServer(app.callback()), io.attach(http).",
    );
  }
  const { callback, use } = app;
  let composed = false;
  let warned = false;
  app.callback = function (this: Koa, ...args: Parameters<Koa["callback"]>) {
    composed = true;
    return callback.apply(this, args);
  };
  app.use = function (this: Koa, ...args: Parameters<Koa["use"]>) {
    if (composed && !warned) {
      warned = true;
      warn("Middleware was added after app.callback(); it will not run for servers created before it.");
    }
    return use.apply(this, args);
  } as Koa["use"];
}
