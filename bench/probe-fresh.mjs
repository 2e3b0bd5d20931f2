// temp probe: fresh mode only, with server CPU µs per request
import { readFileSync } from "node:fs";
import { load, median, startChild } from "./lib.mjs";
const variants = (process.env.VARIANTS ?? "koa-session,bridge-live").split(",");
const rounds = Number(process.env.ROUNDS ?? 5);
const mode = process.env.MODE ?? "fresh";
const cpu = (pid) => { const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" "); return (Number(f[11]) + Number(f[12])) * 10_000; }; // µs (100Hz)
const servers = {};
for (const v of variants) servers[v] = await startChild("http-server.mjs", [v.split(":")[0]], v.includes(":") ? { BRIDGE_OPTS: v.split(":").slice(1).join(":") } : {});
const s = {};
const headers = {};
for (const v of variants) {
  const url = `http://127.0.0.1:${servers[v].port}/`;
  if (mode === "reuse") { const r = await fetch(url); headers[v] = { cookie: r.headers.getSetCookie().map((l) => l.split(";")[0]).join("; ") }; } else headers[v] = {};
  await load(url, { duration: 1, headers: headers[v] });
}
for (let r = 0; r < rounds; r++) for (const v of variants) {
  const pid = servers[v].child.pid; const c0 = cpu(pid);
  const url = `http://127.0.0.1:${servers[v].port}/`;
  const t0 = Date.now();
  const res = await import("autocannon").then((m) => m.default({ url, duration: 3, connections: 50, headers: headers[v] }));
  const c1 = cpu(pid);
  (s[v] ??= []).push({ rps: res.requests.average, us: (c1 - c0) / res.requests.total });
}
for (const v of variants) console.log(v.padEnd(30), "rps", median(s[v].map((x) => x.rps)).toFixed(0), "cpu µs/req", median(s[v].map((x) => x.us)).toFixed(1), "ratio", (median(s[v].map((x) => x.rps)) / median(s[variants[0]].map((x) => x.rps))).toFixed(3));
await Promise.all(Object.values(servers).map((x) => x.stop()));
