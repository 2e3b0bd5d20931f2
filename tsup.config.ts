import { defineConfig } from "tsup";

export default defineConfig({
  entry: { index: "src/index.ts", fdb: "src/fdb.ts" },
  format: ["esm", "cjs"],
  dts: true,
  target: "node18",
  platform: "node",
  clean: true,
  sourcemap: false,
  splitting: false,
});
