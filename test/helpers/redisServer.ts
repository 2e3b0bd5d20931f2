import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { answers } from "./redis.js";

/** A redis-server of the test's own on a spare port, without persistence. */
export interface OwnRedis {
  port: number;
  url: string;
  /** Stops the server (its data is lost: no persistence). */
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
}

const owned = new Set<OwnRedis>();

/** A port nothing listens on right now. */
export function sparePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** Starts `redis-server --port <spare> --save "" --appendonly no` plus `args`; resolves once it answers. */
export async function startOwnRedis(args: string[] = []): Promise<OwnRedis> {
  const port = await sparePort();
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const start = async (): Promise<void> => {
    let output = "";
    child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const current = child;
    exited = new Promise<void>((resolve) => current.once("exit", () => resolve()));
    const deadline = Date.now() + 10_000;
    while (!(await answers(`redis://127.0.0.1:${port}`))) {
      if (current.exitCode !== null || Date.now() > deadline) throw new Error(`redis-server did not start on ${port}:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  const server: OwnRedis = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    },
    start,
  };
  await start();
  owned.add(server);
  return server;
}

/** Stops every server started by `startOwnRedis` (use in afterAll). */
export async function stopOwnRedis(): Promise<void> {
  await Promise.all([...owned].map((server) => server.stop()));
  owned.clear();
}
