import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { io as connect } from "socket.io-client";
import { afterEach, expect, test } from "vitest";
import { CookieJar } from "./helpers/cookieJar.js";
import { startProcess } from "./helpers/process.js";

const root = join(import.meta.dirname, "..");
let stop: (() => Promise<void>) | undefined;

afterEach(async () => {
  await stop?.();
  stop = undefined;
});

/** The first ```js block under "## Quick Start" in the README, byte for byte. */
function quickStartCode(): string {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Quick Start"));
  const block = section.match(/```js\n([\s\S]*?)```/);
  if (!block) throw new Error("README has no Quick Start js block");
  return block[1];
}

test("the README Quick Start runs as written and shares one session over HTTP and a socket", async () => {
  // Inside the repo, "koa-io-session" resolves to the built package through its own exports.
  const dir = join(root, "test", ".tmp");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, "quickstart.mjs");
  writeFileSync(file, quickStartCode());

  const app = await startProcess([file], /Listening on (http:\/\/localhost:\d+)/, { PORT: "0" });
  stop = app.stop;
  const url = app.match[1];
  const jar = new CookieJar();

  const first = await fetch(`${url}/api/session`);
  jar.store(first.headers.getSetCookie());
  const firstBody = (await first.json()) as { sessionId?: string; session: unknown };
  expect(first.status).toBe(200);
  expect(firstBody.session).toEqual({ visits: 1 });
  // The session is saved after the route ran, so the first body has no id yet.
  expect(firstBody.sessionId).toBeUndefined();
  const sessionId = jar.get("app.sid");
  expect(sessionId).toMatch(/^[0-9a-f-]{36}$/);

  const socket = connect(url, { transports: ["websocket"], extraHeaders: { cookie: jar.header() }, reconnection: false });
  try {
    await new Promise((resolve, reject) => {
      socket.once("connect", () => resolve(undefined));
      socket.once("connect_error", reject);
    });
    const seen = await socket.emitWithAck("session:get");
    expect(seen).toEqual({ sessionId: sessionId, session: { visits: 1 } });
    expect(await socket.emitWithAck("session:visit")).toBe(2);
  } finally {
    socket.disconnect();
  }

  const second = await fetch(`${url}/api/session`, { headers: { cookie: jar.header() } });
  expect(await second.json()).toMatchObject({ sessionId, session: { visits: 3 } });
  expect(app.output()).toContain("sessionSet");
});
