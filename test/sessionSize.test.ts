import Koa from "koa";
import { Server } from "socket.io";
import { afterEach, describe, expect, it } from "vitest";
import { bridgeSession, LiveStore } from "../src/index.js";
import { RecordingStore } from "./helpers/httpCookies.js";
import { closeAll, CookieJar, startServer } from "./helpers/server.js";
import { recordEvents } from "./helpers/storeFixtures.js";

const LIMIT = 400;
const tooLarge = (sessionId: string, bytes: number, limit = LIMIT) =>
  `[koa-io-session] Session "${sessionId}" is ${bytes} bytes as JSON, over maxSessionBytes (${limit}); it was not saved.`;

/** A server with `maxSessionBytes: LIMIT`, sockets that can store `big`, and a first session `{ name: "small" }`. */
async function start(opt: { maxSessionBytes?: number } = { maxSessionBytes: LIMIT }) {
  const store = new RecordingStore();
  const appErrors: Error[] = [];
  const server = await startServer({ store, ...opt }, ({ app, io }) => {
    app.on("error", (error: Error) => appErrors.push(error));
    app.silent = true;
    io.on("connection", (socket) => {
      socket.on("session:big", async (big: string, ack: (reply: unknown) => void) => {
        try {
          ack(await socket.withSession((s) => { s.session!.big = big; return "saved"; }));
        } catch (error) {
          ack({ error: (error as Error).message });
        }
      });
    });
  });
  const jar = new CookieJar();
  const first = await server.get("/set?name=small", jar);
  expect(first.status).toBe(200);
  const sessionId: string = (await server.get("/session", jar)).body.sessionId;
  expect(sessionId).toEqual(expect.any(String));
  const events = recordEvents(server.bridge);
  return { server, store, jar, sessionId, events, appErrors, before: store.get(sessionId)!.session };
}

/** The JSON size of the session `{ name: "small", big }` plus koa-session's fields, as the gateway would write it. */
function bytesOf(store: LiveStore, sessionId: string, extra: Record<string, unknown>): number {
  const stored = JSON.parse(store.get(sessionId)!.session) as Record<string, unknown>;
  return Buffer.byteLength(JSON.stringify({ ...stored, ...extra }));
}

afterEach(() => closeAll());

describe("maxSessionBytes", () => {
  it("over HTTP: answers 413, reports an error naming the session and both sizes, writes nothing, emits nothing", async () => {
    const { server, store, jar, sessionId, events, appErrors, before } = await start();
    const setsBefore = store.sets.length;
    const name = "x".repeat(LIMIT);
    const res = await server.get(`/set?name=${name}`, jar);
    expect(res.status).toBe(413);
    const bytes = bytesOf(store, sessionId, { name });
    expect(bytes).toBeGreaterThan(LIMIT);
    expect(appErrors).toHaveLength(1);
    // The stored _expire moves with the clock, so the size may differ by a digit's worth.
    expect(appErrors[0]!.message.replace(/is \d+ bytes/, `is ${bytes} bytes`)).toBe(tooLarge(sessionId, bytes));
    expect(Math.abs(Number(/is (\d+) bytes/.exec(appErrors[0]!.message)![1]) - bytes)).toBeLessThanOrEqual(2);
    expect((appErrors[0] as Error & { status: number }).status).toBe(413);
    expect(store.sets).toHaveLength(setsBefore);
    expect(store.get(sessionId)!.session).toBe(before);
    expect(events.set).toHaveLength(0);
    expect(server.bridge.getClientId(sessionId)).toBeDefined();

    const under = await server.get("/set?name=fits", jar);
    expect(under.status).toBe(200);
    expect(JSON.parse(store.get(sessionId)!.session)).toMatchObject({ name: "fits" });
    expect(events.set).toHaveLength(1);
  });

  it("over HTTP on a first save: 413 and no session, no mapping", async () => {
    const { server, store, events } = await start();
    const setsBefore = store.sets.length;
    const res = await server.get(`/set?name=${"y".repeat(LIMIT)}`, new CookieJar());
    expect(res.status).toBe(413);
    expect([res.headers["set-cookie"] ?? []].flat().some((line) => line.startsWith("test.sid="))).toBe(false);
    expect(store.sets).toHaveLength(setsBefore);
    expect(events.set).toHaveLength(0);
  });

  it("counts bytes, not characters: multi-byte text under the limit in characters is refused", async () => {
    const { server, store, jar, sessionId, before } = await start();
    const name = "é".repeat(LIMIT / 2 - 20); // fewer characters than LIMIT, more bytes
    expect(JSON.stringify({ name }).length).toBeLessThan(LIMIT);
    const res = await server.get(`/set?name=${encodeURIComponent(name)}`, jar);
    expect(res.status).toBe(413);
    expect(store.get(sessionId)!.session).toBe(before);
  });

  it("withSession: rejects with the error, the store unchanged and no event; under the limit it saves", async () => {
    const { server, store, jar, sessionId, events, before } = await start();
    const client = await server.connect(jar);
    const big = "z".repeat(LIMIT);
    const reply = (await client.emitWithAck("session:big", big)) as { error: string };
    expect(reply.error).toMatch(new RegExp(`^\\[koa-io-session\\] Session "${sessionId}" is \\d+ bytes as JSON, over maxSessionBytes \\(${LIMIT}\\); it was not saved\\.$`));
    expect(Number(/is (\d+) bytes/.exec(reply.error)![1])).toBeGreaterThan(LIMIT);
    expect(store.get(sessionId)!.session).toBe(before);
    expect(events.set).toHaveLength(0);

    expect(await client.emitWithAck("session:big", "small")).toBe("saved");
    expect(JSON.parse(store.get(sessionId)!.session)).toMatchObject({ name: "small", big: "small" });
    expect(events.set).toHaveLength(1);
  });

  it("setById: rejects with a RangeError, the store unchanged and no event; under the limit it saves", async () => {
    const { server, store, sessionId, events, before } = await start();
    const session = { name: "w".repeat(LIMIT) };
    const error = await server.bridge.setById(sessionId, session).then(() => undefined, (e: Error) => e);
    expect(error).toBeInstanceOf(RangeError);
    const bytes = Buffer.byteLength(JSON.stringify(session));
    expect(error!.message).toMatch(new RegExp(`^\\[koa-io-session\\] Session "${sessionId}" is \\d+ bytes as JSON, over maxSessionBytes \\(${LIMIT}\\)`));
    expect(Number(/is (\d+) bytes/.exec(error!.message)![1])).toBeGreaterThanOrEqual(bytes);
    expect(store.get(sessionId)!.session).toBe(before);
    expect(events.set).toHaveLength(0);

    expect(await server.bridge.setById(sessionId, { name: "fits" })).toBe(true);
    expect(JSON.parse(store.get(sessionId)!.session)).toMatchObject({ name: "fits" });
    expect(events.set).toHaveLength(1);
  });

  it("defaults to 8 MiB, and Infinity disables the limit", async () => {
    const nineMiB = "n".repeat(9 * 1024 * 1024);
    const byDefault = await start({});
    const refused = await byDefault.server.bridge.setById(byDefault.sessionId, { nineMiB }).then(() => "saved", (e: Error) => e.message);
    expect(refused).toMatch(/over maxSessionBytes \(8388608\)/);
    expect(await byDefault.server.bridge.setById(byDefault.sessionId, { big: "n".repeat(8 * 1024 * 1024 - 200) })).toBe(true);

    const unlimited = await start({ maxSessionBytes: Infinity });
    expect(await unlimited.server.bridge.setById(unlimited.sessionId, { nineMiB })).toBe(true);
    expect(unlimited.store.get(unlimited.sessionId)!.session.length).toBeGreaterThan(9 * 1024 * 1024);
  });

  it("is validated like the other options", () => {
    for (const bad of [0, -1, 1.5, "8MB", Number.NaN, true]) {
      expect(() => bridgeSession(new Koa(), new Server(), { maxSessionBytes: bad as number })).toThrow(
        new TypeError(`[koa-io-session] Invalid 'maxSessionBytes': expected a positive integer or Infinity, received ${typeof bad === "string" ? `"${bad}"` : String(bad)}.`),
      );
    }
  });
});
