import { type ChildProcess, execFile, spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A Redis Cluster of the test's own whose masters keep what they acknowledged across a SIGKILL. */
export interface DurableCluster {
  ports: number[];
  urls: string[];
  /** SIGKILLs the master on `port`; resolves once the process is gone. */
  kill(port: number): Promise<void>;
  /** Starts the master on `port` again with its config file and data dir; resolves once every node reports `cluster_state:ok`. */
  start(port: number): Promise<void>;
  /**
   * Moves `slot` from the master on `from` to the one on `to` as a resharding
   * does (IMPORTING/MIGRATING, MIGRATE of its keys, SETSLOT NODE on every
   * master); `between` runs while the slot is half moved.
   */
  moveSlot(slot: number, from: number, to: number, between?: () => Promise<void>): Promise<void>;
  /** Kills every node and deletes the data dir. */
  stop(): Promise<void>;
}

/** Whether `redis-server` can be started on this machine. */
export function hasRedisServer(): boolean {
  return spawnSync("redis-server", ["--version"], { stdio: "ignore" }).status === 0;
}

async function cli(port: number, ...args: string[]): Promise<string> {
  return (await run("redis-cli", ["-p", String(port), ...args], { timeout: 2000 })).stdout;
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/**
 * Starts one master per port (`--appendonly yes --appendfsync always`, each in
 * a dir of its own, expiry notifications on) and joins them with
 * `redis-cli --cluster create … --cluster-replicas 0`.
 */
export async function startDurableCluster(ports: number[]): Promise<DurableCluster> {
  const root = mkdtempSync(join(tmpdir(), "kis-durable-cluster-"));
  const children = new Map<number, ChildProcess>();

  const start = async (port: number): Promise<void> => {
    const dir = join(root, String(port));
    mkdirSync(dir, { recursive: true });
    const child = spawn("redis-server", [
      "--port", String(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes", "--cluster-config-file", join(dir, "nodes.conf"),
      "--dir", dir, "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--notify-keyspace-events", "Ex",
    ], { stdio: "ignore" });
    children.set(port, child);
    // PONG only once the append-only file is loaded (a loading server answers LOADING).
    await waitFor(`redis-server on ${port}`, async () => {
      if (child.exitCode !== null) throw new Error(`redis-server on ${port} exited (${child.exitCode}); is the port taken?`);
      return (await cli(port, "ping")).includes("PONG");
    });
  };

  const kill = async (port: number): Promise<void> => {
    const child = children.get(port);
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGKILL");
    await exited;
  };

  const allOk = async (): Promise<boolean> =>
    (await Promise.all(ports.map(async (p) => (await cli(p, "cluster", "info")).includes("cluster_state:ok")))).every(Boolean);

  const cluster: DurableCluster = {
    ports,
    urls: ports.map((p) => `redis://127.0.0.1:${p}`),
    kill,
    async start(port) {
      await start(port);
      await waitFor("cluster_state:ok on every node", allOk);
    },
    async moveSlot(slot, from, to, between) {
      const [fromId, toId] = (await Promise.all([cli(from, "cluster", "myid"), cli(to, "cluster", "myid")])).map((id) => id.trim());
      await cli(to, "cluster", "setslot", String(slot), "importing", fromId!);
      await cli(from, "cluster", "setslot", String(slot), "migrating", toId!);
      for (;;) {
        const keys = (await cli(from, "cluster", "getkeysinslot", String(slot), "100")).split("\n").filter(Boolean);
        if (keys.length === 0) break;
        await cli(from, "migrate", "127.0.0.1", String(to), "", "0", "5000", "keys", ...keys);
        await between?.();
        between = undefined;
      }
      // The new owner first, then the old one, then the others (as redis-cli --cluster reshard does).
      for (const port of [to, from, ...ports.filter((p) => p !== to && p !== from)]) await cli(port, "cluster", "setslot", String(slot), "node", toId!);
    },
    async stop() {
      await Promise.all(ports.map(kill));
      rmSync(root, { recursive: true, force: true });
    },
  };
  try {
    for (const port of ports) await start(port);
    await run("redis-cli", ["--cluster", "create", ...ports.map((p) => `127.0.0.1:${p}`), "--cluster-replicas", "0", "--cluster-yes"], { timeout: 20_000 });
    await waitFor("cluster_state:ok on every node", allOk);
    return cluster;
  } catch (error) {
    await cluster.stop();
    throw error;
  }
}
