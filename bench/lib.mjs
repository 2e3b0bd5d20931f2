// Shared bench helpers: child servers, autocannon runs, medians, result files.
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";

export const benchDir = dirname(fileURLToPath(import.meta.url));

/** Starts `node <script> ...args` and resolves once it prints `READY <port>`. */
export function startChild(script, args = [], env = {}) {
  const child = spawn(process.execPath, [join(benchDir, script), ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
      const match = out.match(/READY (\d+)/);
      if (match) resolve({ child, port: Number(match[1]), stop: () => stopChild(child) });
    });
    child.once("exit", (code) => reject(new Error(`${script} exited with ${code}: ${out}`)));
  });
}

export function stopChild(child) {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", resolve);
    child.kill("SIGTERM");
  });
}

/** One autocannon run; resolves requests/s (mean) and p99 latency (ms). */
export async function load(url, { duration = 3, connections = 50, headers = {}, setupClient } = {}) {
  const result = await autocannon({ url, duration, connections, headers, ...(setupClient && { setupClient }) });
  if (result.errors || result.non2xx) throw new Error(`bench run had ${result.errors} errors, ${result.non2xx} non-2xx`);
  return { rps: result.requests.average, p99: result.latency.p99 };
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Cookie header built from a response's Set-Cookie lines. */
export function cookieHeader(response) {
  return response.headers.getSetCookie().map((line) => line.split(";")[0]).join("; ");
}

export function writeResult(name, data) {
  const dir = join(benchDir, "results");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.json`), `${JSON.stringify({ date: new Date().toISOString(), node: process.version, ...data }, null, 2)}\n`);
}

export const fmt = (n, digits = 0) => n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
