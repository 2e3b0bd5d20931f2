// Store scale, in process: heap bytes per stored session and cleanup() of 100k expired sessions.
// Run with --expose-gc (bench/index.mjs does).
import Koa from "koa";
import { Server } from "socket.io";
import bridgeSession, { LiveStore } from "koa-io-session";
import { fmt, median, writeResult } from "./lib.mjs";

const COUNT = 100_000;
const DAY = 86_400_000;
const gc = globalThis.gc ?? (() => {});

/** What koa-session hands a store for a small logged-in session. */
const sessionData = (i, now) => ({ user: `user-${i}`, views: i % 50, _expire: now + DAY, _maxAge: DAY });
const sid = (i) => `${i.toString(16).padStart(8, "0")}-1b4e-4c8a-9d61-4f7a2b3c${String(i % 10000).padStart(4, "0")}`;

function heapPerRecord(fill) {
  gc(); gc();
  const before = process.memoryUsage().heapUsed;
  const keep = fill();
  gc(); gc();
  const bytes = (process.memoryUsage().heapUsed - before) / COUNT;
  return { bytes, keep };
}

function bridgeWith(store) {
  const app = new Koa();
  app.keys = ["bench-key-0123456789abcdefghijklmnopqrstuvwxyz"];
  return bridgeSession(app, new Server(), { store });
}

export async function runStore() {
  const now = Date.now();
  // Baseline: the Map store a koa-session user writes, holding koa-session's objects.
  const map = heapPerRecord(() => {
    const m = new Map();
    for (let i = 0; i < COUNT; i++) m.set(sid(i), sessionData(i, now));
    return m;
  });
  const live = heapPerRecord(() => {
    const store = new LiveStore();
    for (let i = 0; i < COUNT; i++) {
      const session = sessionData(i, now);
      store.set(sid(i), { session: JSON.stringify(session), expiresAt: now + DAY + 10_000, ttl: DAY + 10_000 });
    }
    return store;
  });

  const cleanupRuns = [];
  const floorRuns = [];
  for (let run = 0; run < 5; run++) {
    const store = new LiveStore();
    const expired = Date.now() - 1;
    for (let i = 0; i < COUNT; i++) store.set(sid(i), { session: "{}", expiresAt: expired, ttl: DAY });
    // LiveStore also drops expired records by itself, and may do so while the cleanup yields.
    let dropped = 0;
    store.subscribe(() => dropped++);
    const bridge = bridgeWith(store);
    gc();
    let start = process.hrtime.bigint();
    const cleared = await bridge.cleanup();
    cleanupRuns.push(Number(process.hrtime.bigint() - start) / 1e6);
    if (cleared + dropped !== COUNT) throw new Error(`cleanup removed ${cleared} and LiveStore ${dropped} of ${COUNT}`);
    await bridge.close();

    // The floor: one pass over a Map deleting expired entries, nothing else.
    const m = new Map();
    for (let i = 0; i < COUNT; i++) m.set(sid(i), { expiresAt: expired });
    gc();
    start = process.hrtime.bigint();
    for (const [key, state] of m) if (state.expiresAt <= Date.now()) m.delete(key);
    floorRuns.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  const result = {
    heapBytesPerSession: { liveStore: live.bytes, koaSessionMap: map.bytes, ratio: live.bytes / map.bytes },
    cleanup100kMs: { bridge: median(cleanupRuns), mapFloor: median(floorRuns), runs: cleanupRuns },
  };
  console.log(`\nStore scale (${fmt(COUNT)} sessions, in process)`);
  console.log(`heap bytes/session   LiveStore ${fmt(live.bytes)}   koa-session Map store ${fmt(map.bytes)}   ratio ${fmt(result.heapBytesPerSession.ratio, 2)}`);
  console.log(`cleanup() of 100k expired: ${fmt(result.cleanup100kMs.bridge, 1)} ms (median of 5; bare Map sweep ${fmt(result.cleanup100kMs.mapFloor, 1)} ms; target ≤ 70 ms)`);
  writeResult("store", result);
  return result;
}

if (import.meta.url === `file://${process.argv[1]}`) await runStore();
