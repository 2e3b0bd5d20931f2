// HTTP requests/s and p99 per server variant, in interleaved rounds; ratios against koa-session alone.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { benchDir, cookieHeader, fmt, load, median, startChild, writeResult } from "./lib.mjs";

const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
const duration = Number(process.env.BENCH_SECONDS ?? 2);
const variants = ["bare", "koa-session", "koa-session-cid", "bridge-live"];
if (existsSync(join(benchDir, "..", "dist", "fdb.js"))) variants.push("bridge-file");

export async function runHttp() {
  const servers = {};
  for (const variant of variants) servers[variant] = await startChild("http-server.mjs", [variant]);
  const samples = {};
  try {
    for (const mode of ["reuse", "fresh"]) {
      const headers = {};
      for (const variant of variants) {
        const url = `http://127.0.0.1:${servers[variant].port}/`;
        if (mode === "reuse") headers[variant] = { cookie: cookieHeader(await fetch(url)) };
        else headers[variant] = {};
        await load(url, { duration: 1, headers: headers[variant] }); // warm-up
      }
      for (let round = 0; round < rounds; round++) {
        for (const variant of variants) {
          const url = `http://127.0.0.1:${servers[variant].port}/`;
          const { rps, p99 } = await load(url, { duration, headers: headers[variant] });
          ((samples[mode] ??= {})[variant] ??= []).push({ rps, p99 });
        }
      }
    }
  } finally {
    await Promise.all(Object.values(servers).map((server) => server.stop()));
  }

  const rows = [];
  for (const [mode, byVariant] of Object.entries(samples)) {
    const baseline = median(byVariant["koa-session"].map((s) => s.rps));
    for (const [variant, list] of Object.entries(byVariant)) {
      const rps = median(list.map((s) => s.rps));
      const p99 = median(list.map((s) => s.p99));
      rows.push({ mode, variant, rps, p99, ratio: rps / baseline });
    }
  }
  console.log(`\nHTTP (${rounds} interleaved rounds × ${duration}s, 50 connections; ratio = req/s ÷ koa-session alone)`);
  console.log("mode    variant        req/s     p99 ms   ratio");
  for (const r of rows) {
    console.log(`${r.mode.padEnd(7)} ${r.variant.padEnd(13)} ${fmt(r.rps).padStart(8)} ${fmt(r.p99).padStart(8)} ${fmt(r.ratio, 2).padStart(7)}`);
  }
  writeResult("http", { rounds, duration, rows, samples });
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) await runHttp();
