// `npm start`: builds dist/ when it is missing or older than the sources, then runs the demo.
// The demo imports the built package ("koa-io-session"), exactly as an application would.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));

/** Every dist/ file that package.json "exports" points to. */
function outputs() {
  const found = new Set();
  const walk = (value) => {
    if (typeof value === "string") {
      if (value.startsWith("./dist/")) found.add(join(root, value));
    } else if (value && typeof value === "object") {
      for (const inner of Object.values(value)) walk(inner);
    }
  };
  walk(JSON.parse(readFileSync(join(root, "package.json"), "utf8")).exports);
  return [...found];
}

function newestMtime(path) {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...readdirSync(path).map((name) => newestMtime(join(path, name))));
}

function isBuildFresh() {
  const files = outputs();
  if (files.length === 0 || !files.every((file) => existsSync(file))) return false;
  const inputs = ["src", "package.json", "tsup.config.ts", "tsconfig.json"].map((path) => join(root, path)).filter((path) => existsSync(path));
  return Math.min(...files.map((file) => statSync(file).mtimeMs)) >= Math.max(...inputs.map(newestMtime));
}

if (!isBuildFresh()) {
  const tsup = join(root, "node_modules", ".bin", "tsup");
  if (!existsSync(tsup)) {
    console.error("dist/ is missing or stale and tsup is not installed: run `npm install` first.");
    process.exit(1);
  }
  console.log("Building dist/ …");
  try {
    execFileSync(tsup, ["--silent"], { cwd: root, stdio: "inherit" });
  } catch {
    console.error("The build failed (see above).");
    process.exit(1);
  }
}

stopWithNpm();
await import("./server.mjs");

/**
 * npm passes SIGINT and SIGTERM on to its script, which is this process
 * (`exec` in package.json: sh would not pass them on). A killed npm passes
 * nothing on: this process is then re-parented. Notice that and stop as if
 * signalled, so no demo is left behind.
 */
function stopWithNpm() {
  const parent = process.ppid;
  const watch = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(watch);
    process.kill(process.pid, "SIGTERM");
  }, 250);
  watch.unref();
  // A signal that reached this process itself (Ctrl+C in a terminal) is already being handled.
  for (const signal of ["SIGINT", "SIGTERM"]) process.once(signal, () => clearInterval(watch));
}
