// Redis bench (run `npx tsup` first; needs Redis at REDIS_URL or 127.0.0.1:6379):
// 1. HTTP req/s and p99 of koa-session + koa-redis vs the bridge + RedisStore,
//    in interleaved rounds (reused cookies, and no cookies: a new session per request);
// 2. withSession ops/s across two bridge processes sharing one Redis: one session
//    whose sockets sit on both nodes (every call takes the cluster lock in turn),
//    one session on a single node (same lock, no cross-process contention), and
//    50 sessions created on one node and edited from the other.
// 3. per client family (ioredis, node-redis): withSession on 2 processes vs one INCR per
//    event through the same servers and vs one process, with CPU per call of the servers
//    and of Redis; again on a cluster when REDIS_CLUSTER_URLS is set. BENCH_ONLY=families: 3 only.
// Prints tables and writes bench/results/redis.json. Deletes its own keys afterwards.
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { io } from "socket.io-client";
import { cookieHeader, fmt, load, median, startChild, writeResult } from "./lib.mjs";

const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
const duration = Number(process.env.BENCH_SECONDS ?? 2);
const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const prefix = `kis:bench:${randomBytes(4).toString("hex")}:`;
const env = { REDIS_URL: redisUrl, BENCH_PREFIX: prefix };
// Each pair runs with ioredis' defaults, and with enableAutoPipelining (what the README suggests).
const variants = {
  "koa-redis": { server: "koa-redis", baseline: "koa-redis", env: {} },
  "bridge-redis": { server: "bridge-redis", baseline: "koa-redis", env: {} },
  "koa-redis+ap": { server: "koa-redis", baseline: "koa-redis+ap", env: { AUTO_PIPELINING: "1" } },
  "bridge-redis+ap": { server: "bridge-redis", baseline: "koa-redis+ap", env: { AUTO_PIPELINING: "1" } },
};

async function deleteKeys(client) {
  let cursor = "0";
  let deleted = 0;
  for (const pattern of [`${prefix}*`, `lock:${prefix}*`]) {
    do {
      const [next, keys] = await client.scan(cursor, "MATCH", pattern, "COUNT", 1000);
      cursor = next;
      // One key per command: on a cluster node, keys of several slots cannot share a DEL.
      if (keys.length) deleted += (await Promise.all(keys.map((key) => client.unlink(key)))).reduce((x, y) => x + y, 0);
    } while (cursor !== "0");
  }
  return deleted;
}

/** Redis' own CPU time so far (µs), summed over `admins` (one per server), from INFO cpu. */
async function redisCpu(admins) {
  let total = 0;
  for (const admin of admins) {
    const info = await admin.info("cpu");
    for (const field of ["used_cpu_user", "used_cpu_sys"]) total += Number(info.match(new RegExp(`${field}:([\\d.]+)`))[1]) * 1e6;
  }
  return total;
}

async function benchHttp() {
  const servers = {};
  for (const [variant, { server, env: extra }] of Object.entries(variants)) {
    servers[variant] = await startChild("redis-server.mjs", [server], { ...env, ...extra });
  }
  const samples = {};
  try {
    for (const mode of ["reuse", "fresh"]) {
      const headers = {};
      for (const variant of Object.keys(variants)) {
        const url = `http://127.0.0.1:${servers[variant].port}/`;
        headers[variant] = mode === "reuse" ? { cookie: cookieHeader(await fetch(url)) } : {};
        await load(url, { duration: 1, headers: headers[variant] }); // warm-up
      }
      for (let round = 0; round < rounds; round++) {
        for (const variant of Object.keys(variants)) {
          const url = `http://127.0.0.1:${servers[variant].port}/`;
          ((samples[mode] ??= {})[variant] ??= []).push(await load(url, { duration, headers: headers[variant] }));
        }
      }
    }
  } finally {
    await Promise.all(Object.values(servers).map((server) => server.stop()));
  }
  const rows = [];
  for (const [mode, byVariant] of Object.entries(samples)) {
    for (const [variant, list] of Object.entries(byVariant)) {
      const rps = median(list.map((s) => s.rps));
      const baseline = median(byVariant[variants[variant].baseline].map((s) => s.rps));
      rows.push({ mode, variant, rps, p99: median(list.map((s) => s.p99)), ratio: rps / baseline });
    }
  }
  console.log(`\nHTTP on Redis (${rounds} interleaved rounds × ${duration}s, 50 connections; ratio = req/s ÷ koa-session + koa-redis with the same client options; +ap = enableAutoPipelining)`);
  console.log("mode    variant            req/s     p99 ms   ratio");
  for (const r of rows) {
    console.log(`${r.mode.padEnd(7)} ${r.variant.padEnd(16)} ${fmt(r.rps).padStart(8)} ${fmt(r.p99).padStart(8)} ${fmt(r.ratio, 2).padStart(7)}`);
  }
  return { rows, samples };
}

function connect(port, cookie) {
  const socket = io(`http://127.0.0.1:${port}`, { transports: ["websocket"], forceNew: true, reconnection: false, extraHeaders: { cookie } });
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", reject);
  });
}

const startSession = async (port) => cookieHeader(await fetch(`http://127.0.0.1:${port}/start`));

/** The session's stored count, read by a socket of its own on `port`. */
async function countVia(port, cookie) {
  const socket = await connect(port, cookie);
  const count = await socket.emitWithAck("count");
  socket.disconnect();
  return count;
}

/** Every socket keeps one `event` (`inc`: withSession; `incr`: one INCR) in flight for `duration` s. */
async function runOps(sockets, event = "inc") {
  const end = Date.now() + duration * 1000;
  let acks = 0;
  const start = Date.now();
  await Promise.all(sockets.map(async (socket) => {
    while (Date.now() < end) {
      await socket.emitWithAck(event);
      acks++;
    }
  }));
  const perSecond = (acks * 1000) / (Date.now() - start);
  for (const socket of sockets) socket.disconnect();
  return { perSecond, acks };
}

async function benchCrossNode() {
  const [a, b] = [await startChild("redis-server.mjs", ["bridge-redis"], env), await startChild("redis-server.mjs", ["bridge-redis"], env)];
  const cases = {
    "1 session, 8 sockets on 2 nodes": async () => {
      const cookie = await startSession(a.port);
      const sockets = await Promise.all(Array.from({ length: 8 }, (_, i) => connect(i % 2 ? b.port : a.port, cookie)));
      const result = await runOps(sockets);
      return { ...result, exact: (await countVia(a.port, cookie)) === result.acks };
    },
    "1 session, 8 sockets on 1 node": async () => {
      const cookie = await startSession(a.port);
      const sockets = await Promise.all(Array.from({ length: 8 }, () => connect(a.port, cookie)));
      const result = await runOps(sockets);
      return { ...result, exact: (await countVia(b.port, cookie)) === result.acks };
    },
    "50 sessions, created on A, edited on B": async () => {
      const cookies = await Promise.all(Array.from({ length: 50 }, () => startSession(a.port)));
      const sockets = await Promise.all(cookies.map((cookie) => connect(b.port, cookie)));
      const result = await runOps(sockets);
      const counts = await Promise.all(cookies.map((cookie) => countVia(a.port, cookie)));
      return { ...result, exact: counts.reduce((x, y) => x + y, 0) === result.acks };
    },
  };
  const samples = Object.fromEntries(Object.keys(cases).map((name) => [name, []]));
  let exact = true;
  try {
    for (let round = 0; round < rounds; round++) {
      for (const [name, run] of Object.entries(cases)) {
        const result = await run();
        samples[name].push(result.perSecond);
        exact &&= result.exact;
      }
    }
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
  const rows = Object.entries(samples).map(([name, list]) => ({ name, perSecond: median(list) }));
  console.log(`\nwithSession across two bridge processes on one Redis (${rounds} rounds × ${duration}s, one call in flight per socket)`);
  for (const r of rows) console.log(`${r.name.padEnd(42)} ${fmt(r.perSecond).padStart(8)} ops/s`);
  console.log(`stored counts equal the acknowledged calls: ${exact ? "yes (no lost updates)" : "NO: LOST UPDATES"}`);
  return { rows, exact, samples };
}

/** CPU time (µs) of the server processes so far, each asked over a socket of its own. */
async function serverCpu(servers) {
  let total = 0;
  for (const server of servers) {
    const socket = await connect(server.port, "");
    total += await socket.emitWithAck("cpu");
    socket.disconnect();
  }
  return total;
}

/**
 * Per client family: withSession on 2 processes vs one INCR per event through
 * the same processes and Redis, and vs one process; one session (8 sockets)
 * and 50 sessions (one socket each), in interleaved rounds. Also the CPU time
 * per call of the two server processes and of Redis (INFO cpu: on a shared
 * Redis it includes the other clients' work).
 */
async function benchFamilies(topology) {
  const rows = [];
  const allSamples = {};
  let exact = true;
  for (const family of ["ioredis", "node-redis"]) {
    const familyEnv = { ...env, ...topology.env, BENCH_FAMILY: family };
    const [a, b] = [await startChild("redis-server.mjs", ["bridge-redis"], familyEnv), await startChild("redis-server.mjs", ["bridge-redis"], familyEnv)];
    const cpu = {};
    const run = async (name, sessions, socketsPerSession, twoNodes, event) => {
      const cookies = await Promise.all(Array.from({ length: sessions }, () => startSession(a.port)));
      const sockets = [];
      let i = 0;
      for (const cookie of cookies) for (let k = 0; k < socketsPerSession; k++) sockets.push(await connect(twoNodes && i++ % 2 ? b.port : a.port, cookie));
      const [node0, redis0] = [await serverCpu([a, b]), await redisCpu(topology.admins)];
      const result = await runOps(sockets, event);
      const [node1, redis1] = [await serverCpu([a, b]), await redisCpu(topology.admins)];
      ((cpu[name] ??= { node: [], redis: [] }).node).push((node1 - node0) / result.acks);
      cpu[name].redis.push((redis1 - redis0) / result.acks);
      if (event === "inc") {
        const counts = await Promise.all(cookies.map((cookie) => countVia(b.port, cookie)));
        exact &&= counts.reduce((x, y) => x + y, 0) === result.acks;
      }
      return result.perSecond;
    };
    const shapes = {
      "1 session: withSession, 2 processes": [1, 8, true, "inc"],
      "1 session: INCR, 2 processes": [1, 8, true, "incr"],
      "1 session: withSession, 1 process": [1, 8, false, "inc"],
      "50 sessions: withSession, 2 processes": [50, 1, true, "inc"],
      "50 sessions: INCR, 2 processes": [50, 1, true, "incr"],
      "50 sessions: withSession, 1 process": [50, 1, false, "inc"],
    };
    const cases = Object.fromEntries(Object.entries(shapes).map(([name, shape]) => [name, () => run(name, ...shape)]));
    const samples = Object.fromEntries(Object.keys(cases).map((name) => [name, []]));
    try {
      for (let round = 0; round < rounds; round++) for (const [name, go] of Object.entries(cases)) samples[name].push(await go());
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
    allSamples[family] = samples;
    const m = Object.fromEntries(Object.entries(samples).map(([name, list]) => [name, median(list)]));
    const cpuOf = (name, side) => median(cpu[name][side]);
    for (const scope of ["1 session", "50 sessions"]) {
      const cross = m[`${scope}: withSession, 2 processes`];
      const [ws, incr] = [`${scope}: withSession, 2 processes`, `${scope}: INCR, 2 processes`];
      rows.push({
        family, scope, withSession2: cross, incr2: m[incr], withSession1: m[`${scope}: withSession, 1 process`],
        vsIncr: cross / m[incr], vsOneProcess: cross / m[`${scope}: withSession, 1 process`],
        nodeCpu: cpuOf(ws, "node"), nodeCpuIncr: cpuOf(incr, "node"), redisCpu: cpuOf(ws, "redis"), redisCpuIncr: cpuOf(incr, "redis"),
      });
    }
  }
  console.log(`\nwithSession across 2 processes vs one INCR per event, per family, ${topology.name} (${rounds} interleaved rounds × ${duration}s, one call in flight per socket; 1 session = 8 sockets, 50 sessions = 1 socket each; CPU µs per call, 2 processes: node = both servers, Redis = INFO cpu)`);
  console.log("family      scope         withSession 2p   INCR 2p   withSession 1p   ×INCR   ×1p   node µs (INCR)   Redis µs (INCR)");
  for (const r of rows) {
    const cpu = (x, y) => `${fmt(x)} (${fmt(y)})`.padStart(16);
    console.log(`${r.family.padEnd(11)} ${r.scope.padEnd(12)} ${fmt(r.withSession2).padStart(15)} ${fmt(r.incr2).padStart(9)} ${fmt(r.withSession1).padStart(16)} ${fmt(r.vsIncr, 2).padStart(7)} ${fmt(r.vsOneProcess, 2).padStart(5)} ${cpu(r.nodeCpu, r.nodeCpuIncr)} ${cpu(r.redisCpu, r.redisCpuIncr)}`);
  }
  console.log(`stored counts equal the acknowledged calls: ${exact ? "yes (no lost updates)" : "NO: LOST UPDATES"}`);
  return { rows, exact, samples: allSamples };
}

const admin = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
// REDIS_CLUSTER_URLS (comma-separated masters): the per-family table on that cluster too.
const clusterUrls = process.env.REDIS_CLUSTER_URLS?.split(",").filter(Boolean) ?? [];
const clusterAdmins = clusterUrls.map((url) => new Redis(url, { maxRetriesPerRequest: 1 }));
try {
  // BENCH_ONLY=families: only the per-family cross-node tables.
  const only = process.env.BENCH_ONLY;
  const http = only === "families" ? undefined : await benchHttp();
  const crossNode = only === "families" ? undefined : await benchCrossNode();
  const families = await benchFamilies({ name: "standalone", env: {}, admins: [admin] });
  const clusterFamilies = clusterUrls.length > 0 ? await benchFamilies({ name: `cluster of ${clusterUrls.length} masters`, env: { BENCH_CLUSTER_URLS: clusterUrls.join(",") }, admins: clusterAdmins }) : undefined;
  writeResult("redis", {
    rounds, duration, redis: (await admin.info("server")).match(/redis_version:(\S+)/)?.[1],
    http: http?.rows, crossNode: crossNode && { rows: crossNode.rows, exact: crossNode.exact },
    families: { rows: families.rows, exact: families.exact }, clusterFamilies: clusterFamilies && { rows: clusterFamilies.rows, exact: clusterFamilies.exact },
    samples: { http: http?.samples, crossNode: crossNode?.samples, families: families.samples, clusterFamilies: clusterFamilies?.samples },
  });
} finally {
  let deleted = await deleteKeys(admin);
  for (const node of clusterAdmins) deleted += await deleteKeys(node);
  console.log(`\ndeleted ${deleted} bench keys`);
  admin.disconnect();
  for (const node of clusterAdmins) node.disconnect();
}
