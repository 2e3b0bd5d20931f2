import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Cluster } from "ioredis";
import { sparePort } from "./redisServer.js";

const run = promisify(execFile);

/** A Redis Cluster the tests can use: its node URLs, and how to stop it if the tests started it. */
export interface TestCluster {
  urls: string[];
  stop(): Promise<void>;
}

async function clusterOk(url: string): Promise<boolean> {
  const { port, hostname } = new URL(url);
  try {
    const { stdout } = await run("redis-cli", ["-h", hostname, "-p", port, "cluster", "info"], { timeout: 2000 });
    return stdout.includes("cluster_state:ok");
  } catch {
    return false;
  }
}

/**
 * Starts 3 masters (`--cluster-enabled yes`, no persistence, expiry
 * notifications on) on spare ports in a temp dir and joins them with
 * `redis-cli --cluster create`; resolves once `cluster_state:ok`.
 */
export async function startOwnCluster(): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), "kis-cluster-"));
  const ports = [await sparePort(), await sparePort(), await sparePort()];
  const children: ChildProcess[] = ports.map((port) =>
    spawn("redis-server", [
      "--port", String(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes", "--cluster-config-file", join(dir, `nodes-${port}.conf`),
      "--dir", dir, "--save", "", "--appendonly", "no", "--notify-keyspace-events", "Ex",
    ], { stdio: "ignore" }),
  );
  const stop = async (): Promise<void> => {
    await Promise.all(children.map((child) => new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once("exit", () => resolve());
      child.kill("SIGKILL");
    })));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const deadline = Date.now() + 10_000;
    for (const port of ports) {
      while (!(await run("redis-cli", ["-p", String(port), "ping"]).then((r) => r.stdout.includes("PONG"), () => false))) {
        if (Date.now() > deadline) throw new Error(`cluster node on ${port} did not start`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    await run("redis-cli", ["--cluster", "create", ...ports.map((p) => `127.0.0.1:${p}`), "--cluster-replicas", "0", "--cluster-yes"], { timeout: 20_000 });
    const urls = ports.map((p) => `redis://127.0.0.1:${p}`);
    while (!(await Promise.all(urls.map(clusterOk))).every(Boolean)) {
      if (Date.now() > deadline + 10_000) throw new Error("cluster did not reach cluster_state:ok");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return { urls, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

let shared: Promise<TestCluster | undefined> | undefined;

/**
 * The cluster of `REDIS_CLUSTER_URLS` (comma-separated, as `.ci/run` exports
 * it), else one started for this test file (stopped with `stopTestCluster`).
 * Without redis-server the cluster tests are skipped with a message, or fail
 * when `REQUIRE_REDIS=1`.
 */
export function testCluster(): Promise<TestCluster | undefined> {
  shared ??= (async () => {
    const fromEnv = process.env.REDIS_CLUSTER_URLS?.split(",").filter(Boolean);
    if (fromEnv?.length) {
      if (await clusterOk(fromEnv[0]!)) return { urls: fromEnv, stop: async () => {} };
      if (process.env.REQUIRE_REDIS === "1") throw new Error(`REQUIRE_REDIS=1 but no Redis Cluster answers at ${fromEnv[0]}`);
    }
    try {
      return await startOwnCluster();
    } catch (error) {
      if (process.env.REQUIRE_REDIS === "1") throw error;
      console.warn(`[redis cluster tests] SKIPPED: no Redis Cluster (set REDIS_CLUSTER_URLS, or install redis-server): ${(error as Error).message}`);
      return undefined;
    }
  })();
  return shared;
}

/** Stops the cluster `testCluster` started, if it did (use in afterAll). */
export async function stopTestCluster(): Promise<void> {
  const cluster = await shared;
  shared = undefined;
  await cluster?.stop();
}

/** An ioredis Cluster client on `urls`, for assertions. */
export function clusterClient(urls: string[]): Cluster {
  const nodes = urls.map((url) => ({ host: new URL(url).hostname, port: Number(new URL(url).port) }));
  const client = new Cluster(nodes, { redisOptions: { maxRetriesPerRequest: 1 } });
  client.on("error", () => {});
  return client;
}
