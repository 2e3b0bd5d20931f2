import { IncomingMessage, ServerResponse } from "node:http";
import { Socket } from "node:net";
import { performance } from "node:perf_hooks";
import Koa from "koa";
import { Server } from "socket.io";
import { afterEach, describe, expect, it } from "vitest";
import { ExpirySchedule } from "../src/bridge/ExpirySchedule.js";
import { bridgeSession, LiveStore, type SessionBridge, type StoreChange } from "../src/index.js";
import { waitUntil } from "./helpers/redis.js";
import { recordEvents, SyncMapStore } from "./helpers/storeFixtures.js";
import { KEYS } from "./helpers/server.js";

// Large enough that one unsliced pass holds the loop for several hundred ms
// here; the bound is generous because the machine is shared.
const N = 200_000;
const BOUND_MS = 200;
const TIMEOUT = 60_000;
// A resync reads and parses each mapped session, several times the work of a cleanup step.
const RESYNC_N = 50_000;

const closing: (() => unknown)[] = [];
afterEach(async () => {
  for (const close of closing.splice(0)) await close();
});

/** A listing store that keeps expired records until a cleanup removes them. */
class KeepingStore extends SyncMapStore {
  list(): string[] {
    return [...this.records.keys()];
  }
}

/** The longest gap between ticks of a 1 ms interval while `run` runs: how long the loop was held. */
async function longestStall(run: () => Promise<unknown>): Promise<number> {
  let last = performance.now();
  let longest = 0;
  const probe = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 1);
  try {
    await new Promise((resolve) => setTimeout(resolve, 5));
    last = performance.now();
    longest = 0;
    await run();
    // The tick after the last piece of work measures that piece too.
    await new Promise((resolve) => setTimeout(resolve, 5));
    return longest;
  } finally {
    clearInterval(probe);
  }
}

/** A store whose subscriber can be told that changes were missed, as a reconnecting one reports. */
class ResyncingStore extends SyncMapStore {
  #listener: ((change: StoreChange) => void) | undefined;

  subscribe(listener: (change: StoreChange) => void): () => void {
    this.#listener = listener;
    return () => void (this.#listener = undefined);
  }

  resync(): void {
    this.#listener?.({ type: "resync" });
  }
}

/** Maps `count` new sessions: one cookie-less request each through the app's real middleware chain (no network). */
async function mapSessions(app: Koa, count: number): Promise<void> {
  app.use((ctx) => {
    ctx.session!.n = 1;
    ctx.body = "ok";
  });
  const handle = app.callback();
  const request = () => {
    const req = new IncomingMessage(new Socket());
    req.method = "GET";
    req.url = "/";
    req.headers = { host: "test.local" };
    return handle(req, new ServerResponse(req));
  };
  for (let at = 0; at < count; at += 500) await Promise.all(Array.from({ length: Math.min(500, count - at) }, request));
}

function bareBridge(store: KeepingStore): SessionBridge {
  const app = new Koa();
  app.keys = KEYS;
  const bridge = bridgeSession(app, new Server(), { store });
  closing.push(() => bridge.close());
  return bridge;
}

describe("sweeps over many sessions yield to the event loop", () => {
  it(`cleanup() over ${N} expired records: same count and one event, joined by a second call, loop never held ${BOUND_MS} ms`, { timeout: TIMEOUT }, async () => {
    const store = new KeepingStore();
    const expiresAt = Date.now() - 1000;
    for (let i = 0; i < N; i++) store.records.set(`s${i}`, { session: "{}", expiresAt, ttl: 1000 });
    store.records.set("live", { session: "{}", expiresAt: Date.now() + 60_000, ttl: 60_000 });
    const bridge = bareBridge(store);
    const events = recordEvents(bridge);
    let counts: number[] = [];

    const stall = await longestStall(async () => {
      const first = bridge.cleanup();
      const second = bridge.cleanup();
      expect(second).toBe(first);
      counts = await Promise.all([first, second]);
    });

    expect(counts).toEqual([N, N]);
    expect(events.cleanup).toEqual([N]);
    expect([...store.records.keys()]).toEqual(["live"]);
    expect(stall).toBeLessThan(BOUND_MS);
    // A cleanup after the joined one runs again.
    expect(await bridge.cleanup()).toBe(0);
    expect(events.cleanup).toEqual([N, 0]);
  });

  it(`LiveStore dropping ${N} expired records by itself never holds the loop ${BOUND_MS} ms`, { timeout: TIMEOUT }, async () => {
    const store = new LiveStore();
    let reported = 0;
    closing.push(store.subscribe(() => reported++));
    const expiresAt = Date.now() + 10;
    for (let i = 0; i < N; i++) store.set(`s${i}`, { session: "{}", expiresAt, ttl: 1000 });

    const stall = await longestStall(() => waitUntil(() => store.size === 0, 30_000, "the records to go"));

    expect(reported).toBe(N);
    expect(stall).toBeLessThan(BOUND_MS);
  });

  it(`cleanup() on a LiveStore whose own expiry falls due meanwhile: each of ${N} records ends once, a record ended by _expire is still reported, loop never held ${BOUND_MS} ms`, { timeout: TIMEOUT }, async () => {
    const store = new LiveStore();
    const reported: string[] = [];
    closing.push(store.subscribe((change) => change.type === "destroy" && reported.push(change.sessionId)));
    const expiresAt = Date.now() + 5;
    for (let i = 0; i < N; i++) store.set(`s${i}`, { session: "{}", expiresAt, ttl: 1000 });
    // Ends by koa-session's _expire only, which cleanup() does not look at: the store's own expiry must still end it.
    const expire = Date.now() + 5;
    store.set("by-expire", { session: JSON.stringify({ _expire: expire, _maxAge: 1000 }), expiresAt: Date.now() + 60_000, ttl: 60_000 });
    const app = new Koa();
    app.keys = KEYS;
    const bridge = bridgeSession(app, new Server(), { store });
    closing.push(() => bridge.close());
    await waitUntil(() => Date.now() > expiresAt + 1, 1_000, "the records to expire");

    let swept = 0;
    const stall = await longestStall(async () => {
      swept = await bridge.cleanup();
      await waitUntil(() => store.size === 0, 30_000, "every record to go");
    });

    const selfEnded = reported.filter((id) => id !== "by-expire");
    expect(new Set(reported).size).toBe(reported.length);
    expect(swept + selfEnded.length).toBe(N);
    expect(reported).toContain("by-expire");
    expect(stall).toBeLessThan(BOUND_MS);
  });

  it(`an expiry schedule handing over ${N} due ids never holds the loop ${BOUND_MS} ms`, { timeout: TIMEOUT }, async () => {
    const handed = new Set<string>();
    const schedule = new ExpirySchedule((ids) => {
      for (const id of ids) handed.add(id);
    });
    closing.push(() => schedule.close());
    const at = Date.now();
    for (let i = 0; i < N; i++) schedule.schedule(`s${i}`, at);

    const stall = await longestStall(() => waitUntil(() => handed.size === N, 30_000, "every id"));

    expect(schedule.size).toBe(0);
    expect(stall).toBeLessThan(BOUND_MS);
  });

  it(`a resync over ${RESYNC_N} mapped sessions detaches exactly those gone from the store, loop never held ${BOUND_MS} ms`, { timeout: 120_000 }, async () => {
    const store = new ResyncingStore();
    const app = new Koa();
    app.keys = KEYS;
    const bridge = bridgeSession(app, new Server(), { store });
    closing.push(() => bridge.close());
    await mapSessions(app, RESYNC_N);
    const sessionIds = [...store.records.keys()];
    expect(sessionIds).toHaveLength(RESYNC_N);
    // Removed behind the bridge's back, unreported; the last ones mapped, so their events end the resync.
    const gone = sessionIds.slice(-10);
    for (const sessionId of gone) store.records.delete(sessionId);
    const events = recordEvents(bridge);

    const stall = await longestStall(async () => {
      store.resync();
      await waitUntil(() => events.destroy.length === gone.length, 60_000, "the resync to detach the missing sessions");
    });

    expect(events.destroy.map((event) => event.sessionId).sort()).toEqual([...gone].sort());
    expect(bridge.getClientId(sessionIds[0]!)).toBeDefined();
    expect(bridge.getClientId(sessionIds[RESYNC_N - 11]!)).toBeDefined();
    expect(stall).toBeLessThan(BOUND_MS);
  });
});
