// socket.io server for the socket benches: `node socket-server.mjs <plain|bridge>` prints `READY <port>`.
import { createServer } from "node:http";
import Koa from "koa";
import { Server } from "socket.io";
import bridgeSession from "koa-io-session";

const variant = process.argv[2];
const app = new Koa();
app.keys = ["bench-key-0123456789abcdefghijklmnopqrstuvwxyz"];
const io = new Server();
if (variant === "bridge") bridgeSession(app, io, { key: "bench.sid" });

app.use((ctx) => {
  if (variant === "bridge") ctx.session.count = 0;
  ctx.body = "ok";
});

io.on("connection", (socket) => {
  let plainCount = 0;
  socket.on("inc", async (ack) => {
    if (variant === "plain") return ack(++plainCount);
    ack(await socket.withSession(({ session }) => ++session.count));
  });
  socket.on("count", async (ack) => {
    ack(variant === "plain" ? plainCount : await socket.withSession(({ session }) => session.count));
  });
});

const http = createServer(app.callback());
io.attach(http);
http.listen(0, "127.0.0.1", () => console.log(`READY ${http.address().port}`));
process.on("SIGTERM", () => process.exit(0));
