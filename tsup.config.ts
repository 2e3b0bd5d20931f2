import { defineConfig } from "tsup";

export default defineConfig({
  entry: { index: "src/index.ts", fdb: "src/fdb.ts", redis: "src/redis.ts" },
  // An optional peer: never bundled, loaded only by koa-io-session/redis.
  external: ["ioredis"],
  format: ["esm", "cjs"],
  dts: true,
  target: "node18",
  platform: "node",
  clean: true,
  sourcemap: false,
  splitting: false,
});
