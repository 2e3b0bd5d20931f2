// FileStore benchmark (run `npx tsup` first): load time of 100k sessions,
// sustained write rate with 1 000 concurrent writers, file size before and
// after compaction, and 1 GiB files: load time with small and with large
// live data (beside a plain read of the same file, same run), the longest
// event-loop stall while loading, and compaction throughput in MiB/s.
// Prints a table and writes bench/results/filestore.json.
//
//   node bench/filestore.mjs [--quick]
import { mkdir, mkdtemp, open, rm, stat, writeFile } from "node:fs/promises";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { FileStore } from "koa-io-session/fdb";

const QUICK = process.argv.includes("--quick");
const SESSIONS = QUICK ? 20_000 : 100_000;
const WRITERS = 1000;
const WRITE_SECONDS = QUICK ? 1 : 3;
const DAY = 86_400_000;

/** A state shaped like what the bridge stores for a logged-in koa-session. */
function state(i, version = 0) {
  const now = Date.now();
  const session = { user: `user-${i}`, roles: ["reader"], cart: [i % 7, i % 11], version, _expire: now + DAY, _maxAge: DAY };
  return { session: JSON.stringify(session), expiresAt: now + DAY + 10_000, ttl: DAY + 10_000 };
}

const sid = (i) => `${i.toString(36).padStart(8, "0")}-4c1e-4a8e-9d61-bench${i}`;

async function timed(fn) {
  const start = process.hrtime.bigint();
  const value = await fn();
  return { ms: Number(process.hrtime.bigint() - start) / 1e6, value };
}

async function benchLoad(dir) {
  const lines = [];
  for (let i = 0; i < SESSIONS; i++) lines.push(JSON.stringify([sid(i), state(i)]));
  await writeFile(join(dir, "load.fdb"), `${lines.join("\n")}\n`);
  const size = (await stat(join(dir, "load.fdb"))).size;
  const runs = [];
  for (let run = 0; run < 5; run++) {
    const store = new FileStore({ fileName: "load", fdbOpt: { dir } });
    const { ms, value } = await timed(() => store.list());
    if (value.length !== SESSIONS) throw new Error(`loaded ${value.length} sessions`);
    runs.push(ms);
    await store.close();
  }
  runs.sort((a, b) => a - b);
  return { sessions: SESSIONS, fileBytes: size, bestMs: runs[0], medianMs: runs[2] };
}

async function benchWrites(dir, fsync) {
  const store = new FileStore({ fileName: fsync ? "writes-fsync" : "writes", fdbOpt: { dir }, fsync });
  await store.list();
  const latencies = [];
  let stop = false;
  const writer = async (w) => {
    for (let version = 0; !stop; version++) {
      const start = performance.now();
      await store.set(sid(w), state(w, version));
      latencies.push(performance.now() - start);
    }
  };
  const started = performance.now();
  const timer = setTimeout(() => (stop = true), WRITE_SECONDS * 1000);
  await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));
  clearTimeout(timer);
  const seconds = (performance.now() - started) / 1000;
  await store.close();
  latencies.sort((a, b) => a - b);
  const pct = (p) => Number(latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))].toFixed(2));
  return { writers: WRITERS, fsync, writes: latencies.length, writesPerSecond: Math.round(latencies.length / seconds), p50Ms: pct(0.5), p99Ms: pct(0.99) };
}

async function benchCompaction(dir) {
  const store = new FileStore({ fileName: "compact", fdbOpt: { dir } });
  const path = join(dir, "compact.fdb");
  const chunk = 5000;
  // Three versions of every session, then 15% destroyed: 3.15 lines per live record, under the automatic rule.
  for (let version = 0; version < 3; version++) {
    for (let i = 0; i < SESSIONS; i += chunk) {
      await Promise.all(Array.from({ length: Math.min(chunk, SESSIONS - i) }, (_, k) => store.set(sid(i + k), state(i + k, version))));
    }
  }
  for (let i = 0; i < SESSIONS; i += 20) await Promise.all([0, 1, 2].map((k) => store.destroy(sid(i + k))));
  const live = (await store.list()).length;
  const before = (await stat(path)).size;
  const { ms } = await timed(() => store.optimize(0));
  const after = (await stat(path)).size;
  await store.close();
  return { liveRecords: live, bytesBefore: before, bytesAfter: after, optimizeMs: Number(ms.toFixed(1)) };
}

const MiB = 1024 * 1024;
const BIG_BYTES = QUICK ? 256 * MiB : 1024 * MiB;

/** A file of `BIG_BYTES`: small live data (1 KiB lines over 1 000 ids) or large (1 MiB lines, each id written twice: half live). */
async function writeBigFile(path, live) {
  const handle = await open(path, "w");
  try {
    if (live === "small") {
      const block = [];
      for (let i = 0; i < 4096; i++) {
        const session = JSON.stringify({ user: `user-${i}`, pad: "p".repeat(900) });
        block.push(JSON.stringify([sid(i % 1000), { session, expiresAt: Date.now() + DAY, ttl: DAY }]));
      }
      const data = Buffer.from(`${block.join("\n")}\n`);
      for (let written = 0; written < BIG_BYTES; written += data.length) await handle.write(data);
    } else {
      const pad = Buffer.alloc(MiB - 200, "x");
      const lines = Math.floor(BIG_BYTES / MiB);
      for (let i = 0; i < lines; i++) {
        const id = sid(i % (lines / 2));
        const head = Buffer.from(`["${id}",{"session":"{\\"v\\":${i},\\"pad\\":\\"`);
        const tail = Buffer.from(`\\"}","expiresAt":${Date.now() + DAY},"ttl":${DAY}}]\n`);
        await handle.writev([head, pad, tail]);
      }
    }
  } finally {
    await handle.close();
  }
  return (await stat(path)).size;
}

/** Baseline: reading the same file in 1 MiB chunks and counting its lines, nothing else. */
async function plainRead(path) {
  const handle = await open(path, "r");
  const chunk = Buffer.allocUnsafe(MiB);
  let lines = 0;
  try {
    for (let position = 0; ; ) {
      const { bytesRead } = await handle.read(chunk, 0, MiB, position);
      if (bytesRead === 0) break;
      for (let at = chunk.indexOf(10); at !== -1 && at < bytesRead; at = chunk.indexOf(10, at + 1)) lines++;
      position += bytesRead;
    }
  } finally {
    await handle.close();
  }
  return lines;
}

async function benchBigLoad(dir, live) {
  const fileName = `big-${live}`;
  const path = join(dir, `${fileName}.fdb`);
  const bytes = await writeBigFile(path, live);
  const read = await timed(() => plainRead(path));
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const store = new FileStore({ fileName, fdbOpt: { dir } });
  const { ms, value } = await timed(() => store.list());
  delay.disable();
  let compaction;
  if (live === "large") {
    // Half the file is live: under the automatic rules, so compact explicitly.
    const { ms: compactMs } = await timed(() => store.optimize(0));
    const after = (await stat(path)).size;
    compaction = { liveRecords: value.length, bytesBefore: bytes, bytesAfter: after, ms: Number(compactMs.toFixed(0)), mibPerSecond: Number((after / MiB / (compactMs / 1000)).toFixed(0)) };
  }
  await store.close();
  await rm(path, { force: true });
  return {
    live,
    fileBytes: bytes,
    lines: read.value,
    liveRecords: value.length,
    loadMs: Number(ms.toFixed(0)),
    plainReadMs: Number(read.ms.toFixed(0)),
    loadMiBPerSecond: Number((bytes / MiB / (ms / 1000)).toFixed(0)),
    maxEventLoopStallMs: Number((delay.max / 1e6).toFixed(1)),
    compaction,
  };
}

const dir = await mkdtemp(join(tmpdir(), "koa-io-session-bench-"));
try {
  const bigSmall = await benchBigLoad(dir, "small");
  const bigLarge = await benchBigLoad(dir, "large");
  const load = await benchLoad(dir);
  const writes = await benchWrites(dir, false);
  const writesFsync = await benchWrites(dir, true);
  const compaction = await benchCompaction(dir);
  const mb = (bytes) => `${(bytes / 1048576).toFixed(1)} MiB`;
  console.table({
    [`load ${load.sessions} sessions (${mb(load.fileBytes)})`]: { result: `${load.medianMs.toFixed(0)} ms median, ${load.bestMs.toFixed(0)} ms best` },
    [`writes, ${WRITERS} concurrent writers`]: { result: `${writes.writesPerSecond}/s, p50 ${writes.p50Ms} ms, p99 ${writes.p99Ms} ms` },
    [`writes, ${WRITERS} writers, fsync: true`]: { result: `${writesFsync.writesPerSecond}/s, p50 ${writesFsync.p50Ms} ms, p99 ${writesFsync.p99Ms} ms` },
    [`compaction (${compaction.liveRecords} live)`]: { result: `${mb(compaction.bytesBefore)} -> ${mb(compaction.bytesAfter)} in ${compaction.optimizeMs} ms` },
    ...Object.fromEntries([bigSmall, bigLarge].map((big) => [
      `load ${mb(big.fileBytes)}, ${big.live} live data (${big.liveRecords} records, ${big.lines} lines)`,
      { result: `${big.loadMs} ms (${big.loadMiBPerSecond} MiB/s; plain read ${big.plainReadMs} ms), longest stall ${big.maxEventLoopStallMs} ms` },
    ])),
    [`compaction of ${mb(bigLarge.compaction.bytesAfter)} live (${bigLarge.compaction.liveRecords} records of 1 MiB)`]: {
      result: `${mb(bigLarge.compaction.bytesBefore)} -> ${mb(bigLarge.compaction.bytesAfter)} in ${bigLarge.compaction.ms} ms (${bigLarge.compaction.mibPerSecond} MiB/s)`,
    },
  });
  const results = { node: process.version, date: new Date().toISOString(), quick: QUICK, load, writes, writesFsync, compaction, bigLoad: [bigSmall, bigLarge] };
  const out = join(dirname(fileURLToPath(import.meta.url)), "results", "filestore.json");
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`written ${out}`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
