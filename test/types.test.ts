import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt, ROOT } from "./helpers/build.js";

const run = promisify(execFile);
const TSC = join(ROOT, "node_modules", ".bin", "tsc");

/** Runs tsc on a fixture project; resolves its exit code and output. */
async function tsc(project: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(TSC, ["--noEmit", "-p", project], { cwd: ROOT });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? 1, output: `${failed.stdout ?? ""}${failed.stderr ?? ""}` };
  }
}

describe("published type declarations", () => {
  // The fixtures import "koa-io-session" by name, which resolves to dist/.
  beforeAll(() => ensureBuilt(), 120_000);

  it("type-check an ESM consumer: augmentation, typed events, stores, options, and every rejected misuse", async () => {
    const { code, output } = await tsc("test/types");
    expect(output).toBe("");
    expect(code).toBe(0);
  }, 60_000);

  it("type-check a CommonJS consumer through index.d.cts", async () => {
    const { code, output } = await tsc("test/types/tsconfig.cjs.json");
    expect(output).toBe("");
    expect(code).toBe(0);
  }, 60_000);
});
