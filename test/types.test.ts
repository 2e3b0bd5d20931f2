import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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

  it("type-check every ts block of the README under strict (fragments with the Quick Start's app, io and bridge)", async () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1]!);
    expect(blocks.length).toBeGreaterThanOrEqual(4);
    const dir = join(ROOT, "test", ".tmp", "readme-ts");
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, "prelude.ts"),
      [
        'import Koa from "koa";',
        'import { Server } from "socket.io";',
        'import bridgeSession from "koa-io-session";',
        "export const app = new Koa();",
        "export const io = new Server();",
        "export const bridge = bridgeSession(app, io);",
        "",
      ].join("\n"),
    );
    const files = blocks.map((code, index) => {
      const file = `block-${index + 1}.ts`;
      // A block marked as a fragment runs inside the Quick Start: give it that program's app, io and bridge.
      const prelude = code.startsWith("// Fragment") ? 'import { app, io, bridge } from "./prelude.js";\n' : "";
      writeFileSync(join(dir, file), prelude + code);
      return file;
    });
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ extends: join(ROOT, "test", "types", "tsconfig.json"), files }));
    const { code, output } = await tsc(dir);
    expect(output).toBe("");
    expect(code).toBe(0);
  }, 60_000);
});
