import { type ChildProcess, fork } from "node:child_process";
import { join } from "node:path";
import { ensureBuilt, ROOT } from "./build.js";

/** The child's `app.keys`, so tests can sign cookies it accepts. */
export const HOSTILE_KEYS = ["hostile-key-one-0123456789abcdefghij", "hostile-key-two-0123456789abcdefghij"];

/** What the child reports about its victim client and the faults it saw. */
export interface HostileState {
  clientId: string | null;
  session: Record<string, unknown> | null;
  counts: { unhandledRejection: number; uncaughtException: number; warnings: number };
}

/** test/helpers/hostileServer.mjs running in a child process. */
export interface HostileServer {
  port: number;
  victim: { clientId: string; sessionId: string };
  /** Whether the child is still running. */
  alive(): boolean;
  /** Everything the child wrote to stdout and stderr. */
  output(): string;
  /** The victim's pair and session and the fault counts, as the child sees them now. */
  state(): Promise<HostileState>;
  stop(): Promise<void>;
}

/** Starts the hostile-input server; `countFaults` makes it count (and so survive) unhandled errors. */
export async function startHostileServer(options: { countFaults?: boolean; bridgeOptions?: object } = {}): Promise<HostileServer> {
  ensureBuilt();
  const child: ChildProcess = fork(join(ROOT, "test", "helpers", "hostileServer.mjs"), [], {
    env: {
      ...process.env,
      APP_KEYS: JSON.stringify(HOSTILE_KEYS),
      COUNT_FAULTS: options.countFaults ? "1" : "0",
      BRIDGE_OPTS: JSON.stringify(options.bridgeOptions ?? {}),
    },
    stdio: ["ignore", "pipe", "pipe", "ipc"],
  });
  let output = "";
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const ready = await new Promise<{ port: number; victim: { clientId: string; sessionId: string } }>((resolve, reject) => {
    child.stdout!.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      const found = /READY (.+)\n/.exec(output);
      if (found) resolve(JSON.parse(found[1]!));
    });
    child.once("exit", (code) => reject(new Error(`hostile server exited (${code}) before ready:\n${output}`)));
  });
  let nextId = 0;
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    ...ready,
    alive,
    output: () => output,
    state() {
      const id = ++nextId;
      return new Promise((resolve, reject) => {
        if (!alive()) return reject(new Error(`hostile server is dead:\n${output}`));
        const onMessage = (msg: HostileState & { id: number }) => {
          if (msg.id !== id) return;
          child.off("message", onMessage);
          child.off("exit", onExit);
          resolve(msg);
        };
        const onExit = () => reject(new Error(`hostile server died:\n${output}`));
        child.on("message", onMessage);
        child.once("exit", onExit);
        child.send({ id, type: "state" });
      });
    },
    async stop() {
      if (alive()) child.kill("SIGKILL");
      await exited;
    },
  };
}
