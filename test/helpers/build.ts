import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root. */
export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** Every dist/ file that package.json "exports" points to. */
function outputs(): string[] {
  const found = new Set<string>();
  const walk = (value: unknown): void => {
    if (typeof value === "string") {
      if (value.startsWith("./dist/")) found.add(join(ROOT, value));
    } else if (value && typeof value === "object") {
      for (const inner of Object.values(value)) walk(inner);
    }
  };
  walk(JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).exports);
  return [...found];
}
const INPUTS = ["src", "package.json", "tsup.config.ts", "tsconfig.json"].map((path) => join(ROOT, path));
const LOCK = join(ROOT, "test", ".tmp", "build.lock");

function newestMtime(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...readdirSync(path).map((name) => newestMtime(join(path, name))));
}

/** Whether every dist/ output exists and is newer than every source input. */
export function isBuildFresh(): boolean {
  const files = outputs();
  if (files.length === 0 || !files.every((file) => existsSync(file))) return false;
  const built = Math.min(...files.map((file) => statSync(file).mtimeMs));
  return built >= Math.max(...INPUTS.filter((path) => existsSync(path)).map(newestMtime));
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Runs `tsup` when dist/ is missing or older than the sources. Test files
 * run in parallel workers and tsup starts by deleting dist/, so builds are
 * serialized through a lock directory and skipped when another worker
 * already produced a fresh dist/.
 */
export function ensureBuilt(): void {
  if (isBuildFresh()) return;
  mkdirSync(join(ROOT, "test", ".tmp"), { recursive: true });
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      // A lock left by a killed run is older than any build takes.
      if (Date.now() - statSync(LOCK, { throwIfNoEntry: false })!.mtimeMs > 120_000) rmSync(LOCK, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error("timed out waiting for another build of dist/");
      sleep(200);
    }
  }
  try {
    if (!isBuildFresh()) execFileSync(join(ROOT, "node_modules", ".bin", "tsup"), { cwd: ROOT, stdio: "pipe" });
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}
