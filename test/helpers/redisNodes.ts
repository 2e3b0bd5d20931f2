import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { io as connect, type Socket as ClientSocket } from "socket.io-client";
import request from "supertest";
import { ensureBuilt, ROOT } from "./build.js";
import type { CookieJar } from "./cookieJar.js";
import { REDIS_URL } from "./redis.js";
import type { ClientFamily, RedisTopology } from "./redisFlavors.js";

/** A bridge event as a node prints it. */
export interface NodeEvent {
  name: "sessionSet" | "sessionDestroy" | "error";
  clientId?: string;
  sessionId?: string;
  isNew?: boolean;
  isInit?: boolean;
  message?: string;
}

/** A child process running test/helpers/redisNode.mjs. */
export interface RedisNode {
  url: string;
  /** Every bridge event the node printed so far. */
  events: NodeEvent[];
  /** Resolves the first event (already printed or coming) that matches. */
  waitForEvent(match: (event: NodeEvent) => boolean, timeoutMs?: number): Promise<NodeEvent>;
  get(path: string, jar: CookieJar): Promise<request.Response>;
  connect(jar: CookieJar, transports?: ("websocket" | "polling")[]): Promise<ClientSocket>;
  output(): string;
  stop(): Promise<void>;
}

const running = new Set<RedisNode>();

/** Where a node's store connects, and with which client family (default: ioredis 5 on `REDIS_URL`). */
export interface RedisNodeTarget {
  client?: ClientFamily;
  topology?: RedisTopology;
}

/** Starts one node on `prefix` (builds dist/ first when stale). */
export async function startRedisNode(prefix: string, bridgeOptions: object = {}, target: RedisNodeTarget = {}): Promise<RedisNode> {
  ensureBuilt();
  const topology = target.topology ?? { kind: "standalone", urls: [REDIS_URL] };
  const env: NodeJS.ProcessEnv = { ...process.env, PREFIX: prefix, BRIDGE_OPTS: JSON.stringify(bridgeOptions), CLIENT: target.client ?? "ioredis5" };
  delete env.REDIS_CLUSTER_URLS;
  if (topology.kind === "cluster") env.REDIS_CLUSTER_URLS = topology.urls.join(",");
  else env.REDIS_URL = topology.urls[0];
  delete env.NODE_OPTIONS;
  const child: ChildProcess = spawn(process.execPath, [join(ROOT, "test", "helpers", "redisNode.mjs")], {
    cwd: ROOT,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let output = "";
  let pending = "";
  const events: NodeEvent[] = [];
  const waiters = new Set<() => void>();
  const sockets = new Set<ClientSocket>();

  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      pending += chunk.toString();
      const lines = pending.split("\n");
      pending = lines.pop()!;
      for (const line of lines) {
        const ready = line.match(/^READY (\d+)$/);
        if (ready) resolve(Number(ready[1]));
        if (line.startsWith("EVENT ")) {
          events.push(JSON.parse(line.slice(6)) as NodeEvent);
          for (const wake of waiters) wake();
        }
      }
    });
    child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("exit", (code) => reject(new Error(`node exited (${code}) before ready:\n${output}`)));
  });
  const url = `http://127.0.0.1:${port}`;

  const node: RedisNode = {
    url,
    events,
    waitForEvent(match, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = events.find(match);
          if (!found) return false;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
          return true;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no matching event within ${timeoutMs} ms; events: ${JSON.stringify(events)}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    async get(path, jar) {
      const res = await request(url).get(path).set("Cookie", jar.header());
      jar.store(res.headers["set-cookie"]);
      return res;
    },
    connect(jar, transports = ["websocket"]) {
      const socket = connect(url, { transports, extraHeaders: { cookie: jar.header() }, forceNew: true, reconnection: false });
      sockets.add(socket);
      return new Promise((resolve, reject) => {
        socket.once("connect", () => resolve(socket));
        socket.once("connect_error", reject);
      });
    },
    output: () => output,
    async stop() {
      running.delete(node);
      for (const socket of sockets) socket.disconnect();
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      const killer = setTimeout(() => child.kill("SIGKILL"), 3000);
      await exited;
      clearTimeout(killer);
    },
  };
  running.add(node);
  return node;
}

/** Stops every node still running (use in afterEach). */
export async function stopRedisNodes(): Promise<void> {
  await Promise.all([...running].map((node) => node.stop()));
}
