// Socket handshakes/s (bridge vs plain socket.io) and withSession ops/s, clients in another process.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { benchDir, fmt, median, startChild, writeResult } from "./lib.mjs";

const run = promisify(execFile);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const seconds = Number(process.env.BENCH_SECONDS ?? 3);

async function client(...args) {
  const { stdout } = await run(process.execPath, [join(benchDir, "socket-client.mjs"), ...args.map(String)]);
  return JSON.parse(stdout.trim().split("\n").pop());
}

export async function runSocket() {
  const servers = { plain: await startChild("socket-server.mjs", ["plain"]), bridge: await startChild("socket-server.mjs", ["bridge"]) };
  const cases = [
    { name: "handshakes/s", variant: "plain", args: ["handshake"] },
    { name: "handshakes/s", variant: "bridge", args: ["handshake"] },
    { name: "acks/s, 50 sockets", variant: "plain", args: ["ops", 50, "distinct"] },
    { name: "withSession ops/s, 50 sessions", variant: "bridge", args: ["ops", 50, "distinct"] },
    { name: "withSession ops/s, 1 session", variant: "bridge", args: ["ops", 50, "one"] },
  ];
  const samples = cases.map(() => []);
  let exact = true;
  try {
    for (let round = 0; round < rounds; round++) {
      for (const [i, c] of cases.entries()) {
        const [mode, ...rest] = c.args;
        const result = await client(mode, servers[c.variant].port, seconds, ...rest);
        samples[i].push(result.perSecond);
        if (result.exact === false) exact = false;
      }
    }
  } finally {
    await Promise.all(Object.values(servers).map((s) => s.stop()));
  }
  const rows = cases.map((c, i) => ({ name: c.name, variant: c.variant, perSecond: median(samples[i]) }));
  const handshakeRatio = rows[1].perSecond / rows[0].perSecond;
  console.log(`\nSockets (${rounds} interleaved rounds × ${seconds}s; websocket transport; clients in another process)`);
  for (const r of rows) console.log(`${r.name.padEnd(32)} ${r.variant.padEnd(7)} ${fmt(r.perSecond).padStart(8)}`);
  console.log(`handshake ratio bridge / plain: ${fmt(handshakeRatio, 2)}; withSession counts exact: ${exact ? "yes" : "NO"}`);
  writeResult("socket", { rounds, seconds, rows, handshakeRatio, exact, samples });
  return { rows, handshakeRatio, exact };
}

if (import.meta.url === `file://${process.argv[1]}`) await runSocket();
