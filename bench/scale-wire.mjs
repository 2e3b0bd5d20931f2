// withSession cost: direct (in process, on a server-side socket) vs an awaited JSON read-modify-write on a Map,
// and over the wire (sequential acked calls) vs a raw socket.io ack round trip. Prints one JSON line.
//   node scale-wire.mjs
import { createServer } from "node:http";
import Koa from "koa";
import { Server } from "socket.io";
import { io as connect } from "socket.io-client";
const { default: bridgeSession } = await import(process.env.KIS_LIB ?? "koa-io-session");
import { median } from "./lib.mjs";

const app = new Koa();
app.keys = ["bench-key-0123456789abcdefghijklmnopqrstuvwxyz"];
const io = new Server();
const bridge = bridgeSession(app, io, { key: "bench.sid" });
app.use((ctx) => {
  ctx.session.count = 0;
  ctx.session.user = "someone@example.com";
  ctx.body = "ok";
});
let serverSocket;
io.on("connection", (socket) => {
  serverSocket = socket;
  socket.on("inc", async (ack) => ack(await socket.withSession(({ session }) => ++session.count)));
  socket.on("raw", (ack) => ack(1));
});
const http = createServer(app.callback());
io.attach(http);
await new Promise((resolve) => http.listen(0, "127.0.0.1", resolve));
const url = `http://127.0.0.1:${http.address().port}`;
const res = await fetch(`${url}/`);
const cookie = res.headers.getSetCookie().map((line) => line.split(";")[0]).join("; ");
const client = connect(url, { transports: ["websocket"], forceNew: true, reconnection: false, extraHeaders: { cookie } });
await new Promise((resolve) => client.once("connect", resolve));
while (!serverSocket) await new Promise((resolve) => setTimeout(resolve, 5));

/** CPU µs per call of `fn`, over `count` sequential awaited calls. */
async function cpuPerCall(fn, count) {
  const start = process.cpuUsage();
  for (let i = 0; i < count; i++) await fn();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / count;
}

const map = new Map([["s", JSON.stringify({ count: 0, user: "someone@example.com", _expire: Date.now() + 86_400_000, _maxAge: 86_400_000 })]]);
const mapRmw = async () => {
  const record = JSON.parse(await map.get("s"));
  record.count++;
  map.set("s", JSON.stringify(record));
};
const direct = () => serverSocket.withSession(({ session }) => ++session.count);
const ask = (event) => new Promise((resolve) => client.emit(event, resolve));

const rounds = 5;
const directUs = [], floorUs = [], wireRatio = [];
for (let round = 0; round < rounds; round++) {
  floorUs.push(await cpuPerCall(mapRmw, 20_000));
  directUs.push(await cpuPerCall(direct, 20_000));
  let start = performance.now();
  for (let i = 0; i < 2_000; i++) await ask("raw");
  const raw = performance.now() - start;
  start = performance.now();
  for (let i = 0; i < 2_000; i++) await ask("inc");
  wireRatio.push(raw / (performance.now() - start));
}
const count = await serverSocket.withSession(({ session }) => session.count);
const expected = rounds * (20_000 + 2_000);
console.log(JSON.stringify({
  directUs: median(directUs),
  mapFloorUs: median(floorUs),
  directRatio: median(directUs) / median(floorUs),
  wireRatio: median(wireRatio),
  exact: count === expected,
}));
client.disconnect();
await bridge.close();
io.close();
http.close();
