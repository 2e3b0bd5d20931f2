// The "scale" table: how each cost grows with the number of sessions N (10k, 100k; 1M with SCALE_1M=1),
// every ratio against a baseline measured in the same run. Each N runs in its own process.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { benchDir, fmt, writeResult } from "./lib.mjs";
import { runSockets } from "./scale-sockets.mjs";

/** Runs a bench script in its own process and parses the JSON line it prints last. */
const child = (args, stderr = "inherit") =>
  JSON.parse(execFileSync(process.execPath, args, { stdio: ["ignore", "pipe", stderr] }).toString().trim().split("\n").pop());

export async function runScale() {
  const sizes = [10_000, 100_000, ...(process.env.SCALE_1M === "1" ? [1_000_000] : [])];
  const sessions = sizes.map((n) => child(["--expose-gc", "--max-old-space-size=4096", join(benchDir, "scale-sessions.mjs"), String(n)]));
  const sockets = await runSockets(10_000);
  const wire = child([join(benchDir, "scale-wire.mjs")]);

  console.log("\nScale (per N: its own process; ratios against the same run's baseline)");
  const head = ["", ...sessions.map((s) => `N = ${fmt(s.n)}`)];
  const rows = [
    ["create, sessions/s: bridge (koa-session alone)", (s) => `${fmt(s.create.bridgePerSecond)} (${fmt(s.create.koaSessionPerSecond)})`],
    ["heap B/session: bridge ÷ koa-session alone", (s) => `${fmt(s.heap.bridgeBytes)} ÷ ${fmt(s.heap.koaSessionBytes)} = ${fmt(s.heap.ratio, 2)}`],
    ["cleanup() ms: total / longest stall (Map sweep)", (s) => `${fmt(s.cleanup.totalMs)} / ${fmt(s.cleanup.stallMs)} (${fmt(s.cleanup.mapSweepMs)})`],
    ["expiry lag ms, all N due at once: last destroy", (s) => `${fmt(s.expiry.lastLagMs)} (stall ${fmt(s.expiry.stallMs)})`],
  ];
  const width = 48;
  console.log(head.map((cell, at) => (at === 0 ? cell.padEnd(width) : cell.padStart(26))).join(""));
  for (const [name, cell] of rows) console.log(name.padEnd(width) + sessions.map((s) => cell(s).padStart(26)).join(""));
  console.log(`10k sockets, heap B/socket: bridge ${fmt(sockets.bridge)} ÷ plain socket.io ${fmt(sockets.plain)} = ${fmt(sockets.ratio, 2)}`);
  console.log(`withSession direct: ${fmt(wire.directUs, 2)} µs CPU ÷ awaited Map JSON read-modify-write ${fmt(wire.mapFloorUs, 2)} µs = ${fmt(wire.directRatio, 2)}`);
  console.log(`withSession over the wire ÷ raw socket.io round trip (calls/s): ${fmt(wire.wireRatio, 2)}; counts exact: ${wire.exact ? "yes" : "NO"}`);
  const result = { sessions, sockets, wire };
  writeResult("scale", result);
  return result;
}

if (import.meta.url === `file://${process.argv[1]}`) await runScale();
