// Cost of the opt-in features of issue 16, as ratios against the same bridge without them, in one run:
// serializeRequests on HTTP of a returning browser, userKey on saves, and destroyByUser of 1,000 sessions.
import { createServer } from "node:http";
import Koa from "koa";
import { Server } from "socket.io";
import bridgeSession, { LiveStore } from "koa-io-session";
import { cookieHeader, fmt, load, median, startChild, writeResult } from "./lib.mjs";

const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const duration = Number(process.env.BENCH_SECONDS ?? 2);

const variants = {
  off: {},
  serializeRequests: { serializeRequests: true },
  userKey: { userKey: "user" },
};

async function httpCosts() {
  const servers = {};
  for (const [name, opts] of Object.entries(variants)) {
    servers[name] = await startChild("http-server.mjs", ["bridge-live"], { BRIDGE_OPTS: JSON.stringify(opts), BENCH_USER: "bench-user" });
  }
  // A returning browser: its cookies name an existing session, so serializeRequests queues every request.
  // The third mode gives each connection a session of its own: nothing should wait there.
  const modes = {
    "one browser, 1 connection": { connections: 1 },
    "one session, 50 connections": { connections: 50 },
    "50 sessions, one per connection": { connections: 50, distinct: true },
  };
  const samples = {};
  try {
    const cookies = {};
    for (const name of Object.keys(variants)) {
      const url = `http://127.0.0.1:${servers[name].port}/`;
      cookies[name] = await Promise.all(Array.from({ length: 50 }, async () => cookieHeader(await fetch(url))));
    }
    for (const [mode, { connections, distinct }] of Object.entries(modes)) {
      for (let round = 0; round < rounds; round++) {
        for (const name of Object.keys(variants)) {
          const list = cookies[name];
          let next = 0;
          const options = distinct
            ? { duration, connections, setupClient: (client) => client.setHeaders({ cookie: list[next++ % list.length] }) }
            : { duration, connections, headers: { cookie: list[0] } };
          const { rps } = await load(`http://127.0.0.1:${servers[name].port}/`, options);
          (((samples[mode] ??= {})[name]) ??= []).push(rps);
        }
      }
    }
  } finally {
    await Promise.all(Object.values(servers).map((server) => server.stop()));
  }
  const rows = [];
  for (const [mode, byName] of Object.entries(samples)) {
    const baseline = median(byName.off);
    for (const [name, list] of Object.entries(byName)) rows.push({ mode, variant: name, rps: median(list), ratio: median(list) / baseline });
  }
  return rows;
}

/** destroyByUser of `count` sessions of one user among `others` sessions of other users, with a LiveStore. */
async function destroyByUserMs(count, others) {
  const app = new Koa();
  app.keys = ["bench-key-0123456789abcdefghijklmnopqrstuvwxyz"];
  const io = new Server();
  const bridge = bridgeSession(app, io, { key: "bench.sid", store: new LiveStore(), userKey: "user" });
  app.use((ctx) => {
    ctx.session.user = ctx.query.user;
    ctx.body = "ok";
  });
  const http = createServer(app.callback());
  io.attach(http);
  await new Promise((resolve) => http.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${http.address().port}/`;
  const create = async (user, n) => {
    for (let at = 0; at < n; at += 50) {
      await Promise.all(Array.from({ length: Math.min(50, n - at) }, () => fetch(`${url}?user=${user}`).then((r) => r.text())));
    }
  };
  await create("victim", count);
  for (let i = 0; i < others; i += 1000) await create(`other-${i}`, Math.min(1000, others - i));
  let destroyed = 0;
  bridge.on("sessionDestroy", () => destroyed++);
  const started = performance.now();
  const ended = await bridge.destroyByUser("victim");
  const ms = performance.now() - started;
  if (ended !== count || destroyed !== count) throw new Error(`destroyByUser ended ${ended}, events ${destroyed}, expected ${count}`);
  await bridge.close();
  await new Promise((resolve) => io.close(() => resolve())); // closes the HTTP server too
  return ms;
}

const rows = await httpCosts();
console.log(`\nIssue 16 features (${rounds} interleaved rounds × ${duration}s; ratio = req/s ÷ the same bridge with the feature off)`);
console.log("mode                          variant             req/s   ratio");
for (const r of rows) console.log(`${r.mode.padEnd(29)} ${r.variant.padEnd(17)} ${fmt(r.rps).padStart(8)} ${fmt(r.ratio, 2).padStart(7)}`);
const destroyMs = [];
for (let round = 0; round < rounds; round++) destroyMs.push(await destroyByUserMs(1000, 4000));
console.log(`destroyByUser of 1,000 sessions (among 5,000, LiveStore, one process): median ${fmt(median(destroyMs), 1)} ms of ${destroyMs.map((v) => fmt(v, 1)).join(", ")}`);
writeResult("users", { rounds, duration, rows, destroyByUser1000Ms: median(destroyMs) });
