// `npm run bench`: every benchmark in one run, then one summary table against the targets.
// Figures are medians of interleaved rounds; each ratio's baseline is measured in the same run.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { runHttp } from "./http.mjs";
import { benchDir, fmt, writeResult } from "./lib.mjs";
import { runScale } from "./scale.mjs";
import { runSocket } from "./socket.mjs";

const node = (script, ...args) =>
  execFileSync(process.execPath, [...args, join(benchDir, script)], { stdio: "inherit" });
const result = (name) => JSON.parse(readFileSync(join(benchDir, "results", `${name}.json`), "utf8"));

const http = await runHttp();
const socket = await runSocket();
node("store.mjs", "--expose-gc");
node("filestore.mjs");
const redis = existsSync(join(benchDir, "redis.mjs")) && existsSync(join(benchDir, "..", "dist", "redis.js"));
if (redis) node("redis.mjs");

node("users.mjs");

const scale = await runScale();
const users = result("users");
const usersRatio = (variant, mode = "one session, 50 connections") => users.rows.find((r) => r.mode === mode && r.variant === variant).ratio;
const store = result("store");
const filestore = result("filestore");
const ratio = (mode, variant = "bridge-live") => http.find((r) => r.mode === mode && r.variant === variant).ratio;
const rows = [
  ["HTTP, reused cookies: bridge ÷ koa-session", ratio("reuse"), "≥ 0.90"],
  ["HTTP, no cookies: bridge ÷ koa-session", ratio("fresh"), "≥ 0.90"],
  ["  (koa-session + a plain client cookie, same mode)", ratio("fresh", "koa-session-cid"), "—"],
  ["handshakes/s: bridge ÷ plain socket.io", socket.handshakeRatio, "≥ 0.80"],
  ["withSession on one session: no lost updates", socket.exact ? "exact" : "LOST", "exact"],
  ["cleanup() of 100k expired (ms)", store.cleanup100kMs.bridge, "≤ 70"],
  ["heap bytes/session: LiveStore ÷ koa-session Map", store.heapBytesPerSession.ratio, "—"],
  ["FileStore load of 100k sessions (ms)", filestore.load.medianMs, "< 1000"],
  ...filestore.bigLoad.map((big) => [`FileStore load of 1 GiB, ${big.live} live data ÷ plain read`, big.loadMs / big.plainReadMs, "—"]),
  ["FileStore compaction (MiB/s)", filestore.bigLoad[1].compaction.mibPerSecond, "—"],
  ["scale: heap/session at 100k, bridge ÷ koa-session alone", scale.sessions[1].heap.ratio, "≤ 2"],
  ["scale: cleanup() of 100k, longest stall (ms)", scale.sessions[1].cleanup.stallMs, "~10"],
  ["scale: expiry lag, 100k due at once (ms)", scale.sessions[1].expiry.lastLagMs, "≤ 5000"],
  ["scale: 10k sockets, heap/socket ÷ plain socket.io", scale.sockets.ratio, "≤ 1.10"],
  ["scale: withSession direct ÷ Map read-modify-write", scale.wire.directRatio, "≤ 2.5"],
  ["scale: withSession over the wire ÷ raw round trip", scale.wire.wireRatio, "≥ 0.85"],
  ["serializeRequests on, one session ÷ off (HTTP)", usersRatio("serializeRequests"), "—"],
  ["serializeRequests on, 50 sessions ÷ off (HTTP)", usersRatio("serializeRequests", "50 sessions, one per connection"), "≈ 1"],
  ["userKey on, one session ÷ off (HTTP saves)", usersRatio("userKey"), "—"],
  ["destroyByUser of 1,000 sessions (ms)", users.destroyByUser1000Ms, "—"],
];
console.log("\nSummary");
for (const [name, value, target] of rows) {
  const shown = typeof value === "number" ? fmt(value, value < 10 ? 2 : 0) : value;
  console.log(`${name.padEnd(50)} ${String(shown).padStart(8)}   target ${target}`);
}
writeResult("summary", { rows: rows.map(([name, value, target]) => ({ name, value, target })), redis });
