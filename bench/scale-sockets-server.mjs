// socket.io server for the socket heap bench: `node scale-sockets-server.mjs <plain|bridge>`
// prints `READY <port>`; GET /heap answers the heap used after a full GC.
import { createServer } from "node:http";
import Koa from "koa";
import { Server } from "socket.io";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc");

const variant = process.argv[2];
const app = new Koa();
app.keys = ["bench-key-0123456789abcdefghijklmnopqrstuvwxyz"];
const io = new Server();
if (variant === "bridge") {
  const { default: bridgeSession } = await import(process.env.KIS_LIB ?? "koa-io-session");
  bridgeSession(app, io, { key: "bench.sid" });
}
app.use((ctx) => {
  if (ctx.path === "/heap") {
    gc(); gc();
    ctx.body = { heapUsed: process.memoryUsage().heapUsed, sockets: io.of("/").sockets.size };
  }
});
io.on("connection", (socket) => socket.on("ping!", (ack) => ack(1)));
const http = createServer(app.callback());
io.attach(http);
http.listen(0, "127.0.0.1", () => console.log(`READY ${http.address().port}`));
process.on("SIGTERM", () => process.exit(0));
