import { it } from "vitest";
import { RedisStore } from "../src/redis.js";
import { openClient } from "./helpers/redisFlavors.js";
import { startServer, CookieJar, closeAll } from "./helpers/server.js";
it("probe", async () => {
  const user = await openClient("redis5", { kind: "cluster", urls: ["redis://127.0.0.1:7101"] });
  const store = new RedisStore({ client: user.client, prefix: "kis:probe:" });
  const server = await startServer({ store }, ({ app }: any) => { app.on("error", (e: Error) => console.log("APPERR", e.message, e.stack)); });
  const res = await server.get("/inc", new CookieJar());
  console.log(res.status);
  await closeAll(); await store.close(); await user.close();
});
