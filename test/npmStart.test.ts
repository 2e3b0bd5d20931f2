// `npm start` stopped through npm's own process: npm, its shell and the demo all end.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt, ROOT } from "./helpers/build.js";
import { waitUntil } from "./helpers/redis.js";

beforeAll(() => ensureBuilt(), 120_000);

/** Every process below `pid`, from `ps` (Linux and macOS). */
function descendants(pid: number): number[] {
  const rows = execFileSync("ps", ["-A", "-o", "pid=,ppid="], { encoding: "utf8" })
    .trim()
    .split("\n")
    .map((line) => line.trim().split(/\s+/).map(Number) as [number, number]);
  const found: number[] = [];
  const visit = (parent: number): void => {
    for (const [child, ppid] of rows) {
      if (ppid === parent) {
        found.push(child);
        visit(child);
      }
    }
  };
  visit(pid);
  return found;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe.skipIf(process.platform === "win32")("npm start", () => {
  // SIGKILL: npm passes nothing on, and the demo notices it lost its parent.
  it.each(["SIGTERM", "SIGINT", "SIGKILL"] as const)("stops the demo when npm's process receives %s, leaving no orphan", async (signal) => {
    const dataDir = mkdtempSync(join(tmpdir(), "koa-io-session-npm-start-"));
    const env: NodeJS.ProcessEnv = { ...process.env, PORT: "0", STORE: "memory", DATA_DIR: dataDir };
    delete env.NODE_OPTIONS;
    const npm = spawn("npm", ["start"], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    npm.stdout.on("data", (chunk: Buffer) => (output += chunk));
    npm.stderr.on("data", (chunk: Buffer) => (output += chunk));
    const npmExit = new Promise<number | null>((resolve) => npm.once("exit", (code) => resolve(code)));
    const children: number[] = [];
    try {
      await waitUntil(() => /demo running at http:\/\/localhost:\d+/.test(output), 60_000, "the demo to listen");
      children.push(...descendants(npm.pid!));
      // The demo itself is among them (under npm's shell).
      expect(children.length).toBeGreaterThanOrEqual(1);
      npm.kill(signal);
      await npmExit;
      await waitUntil(() => children.every((pid) => !isAlive(pid)), 10_000, "npm's children to exit");
      expect(children.filter(isAlive)).toEqual([]);
      await waitUntil(() => output.includes("Stopped."), 5_000, "the demo's graceful stop");
    } finally {
      for (const pid of children.filter(isAlive)) process.kill(pid, "SIGKILL");
      if (npm.exitCode === null && npm.signalCode === null) npm.kill("SIGKILL");
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 90_000);
});
