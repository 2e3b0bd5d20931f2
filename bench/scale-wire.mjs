// withSession cost: direct (in process, on a server-side socket) vs an awaited JSON read-modify-write on a Map,
// and over the wire (sequential acked calls) vs a raw socket.io ack round trip. Prints one JSON line: the
// medians over rounds of per-round ratios, after a warm-up; each round interleaves blocks of direct calls with
// blocks of the floor (CPU time), and single round trips of both kinds (median round trip of each).
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

// Knobs: WIRE_ROUNDS (default 7), WIRE_BLOCKS (direct blocks of 1,000 calls per kind per round, default 20),
// WIRE_CALLS (round trips of each kind per round, default 2,000).
const rounds = Number(process.env.WIRE_ROUNDS ?? 7);
const blocks = Number(process.env.WIRE_BLOCKS ?? 20);
const DIRECT_BLOCK = 1_000;
/** Round trips of each kind per round. */
const WIRE_CALLS = Number(process.env.WIRE_CALLS ?? 2_000);

/** CPU µs spent on `count` sequential awaited calls of `fn`. */
async function cpuUs(fn, count) {
  const start = process.cpuUsage();
  for (let i = 0; i < count; i++) await fn();
  const used = process.cpuUsage(start);
  return used.user + used.system;
}

/**
 * Median round trip (µs) of `a` and of `b`, alternating one call of each
 * (a-b, then b-a): on a shared machine single round trips stall now and
 * then, and the median of many is what a stall does not move.
 */
async function roundTrips(a, b, count) {
  const timesA = [], timesB = [];
  const time = async (fn, into) => {
    const start = performance.now();
    await fn();
    into.push(1000 * (performance.now() - start));
  };
  for (let i = 0; i < count; i++) {
    if (i % 2 === 0) {
      await time(a, timesA);
      await time(b, timesB);
    } else {
      await time(b, timesB);
      await time(a, timesA);
    }
  }
  return [median(timesA), median(timesB)];
}

/**
 * One round of `a` against `b`: `blocks` short blocks of each, interleaved
 * a-b-b-a so both meet the same background load; resolves the totals.
 */
async function interleaved(measure, a, b, count) {
  let totalA = 0, totalB = 0;
  for (let block = 0; block < blocks; block++) {
    if (block % 2 === 0) {
      totalA += await measure(a, count);
      totalB += await measure(b, count);
    } else {
      totalB += await measure(b, count);
      totalA += await measure(a, count);
    }
  }
  return [totalA, totalB];
}

const map = new Map([["s", JSON.stringify({ count: 0, user: "someone@example.com", _expire: Date.now() + 86_400_000, _maxAge: 86_400_000 })]]);
const mapRmw = async () => {
  const record = JSON.parse(await map.get("s"));
  record.count++;
  map.set("s", JSON.stringify(record));
};
const direct = () => serverSocket.withSession(({ session }) => ++session.count);
const ask = (event) => new Promise((resolve) => client.emit(event, resolve));
const raw = () => ask("raw");
const inc = () => ask("inc");

// Warm-up: both paths optimized before anything is counted.
let calls = 0;
await cpuUs(mapRmw, 5 * DIRECT_BLOCK);
await cpuUs(direct, 5 * DIRECT_BLOCK);
await roundTrips(raw, inc, 500);
calls += 5 * DIRECT_BLOCK + 500;

const directUs = [], floorUs = [], directRatio = [], wireRatio = [], rawUs = [], incUs = [];
for (let round = 0; round < rounds; round++) {
  const [floor, used] = await interleaved(cpuUs, mapRmw, direct, DIRECT_BLOCK);
  floorUs.push(floor / (blocks * DIRECT_BLOCK));
  directUs.push(used / (blocks * DIRECT_BLOCK));
  directRatio.push(used / floor);
  const [rawRtt, incRtt] = await roundTrips(raw, inc, WIRE_CALLS);
  // Calls/s of sequential calls: the inverse of the round trip.
  wireRatio.push(rawRtt / incRtt);
  rawUs.push(rawRtt);
  incUs.push(incRtt);
  calls += blocks * DIRECT_BLOCK + WIRE_CALLS;
}
const count = await serverSocket.withSession(({ session }) => session.count);
console.log(JSON.stringify({
  directUs: median(directUs),
  mapFloorUs: median(floorUs),
  directRatio: median(directRatio),
  wireRatio: median(wireRatio),
  rawRoundTripUs: median(rawUs),
  withSessionRoundTripUs: median(incUs),
  rounds: { directRatio, wireRatio },
  exact: count === calls,
}));
client.disconnect();
await bridge.close();
io.close();
http.close();
