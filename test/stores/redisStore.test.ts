import type { Redis } from "ioredis";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { generateUid, ms } from "../../src/index.js";
import { RedisStore, type StoreChange, type StoreState } from "../../src/redis.js";
import { redisAccess } from "../../src/stores/redis/access.js";
import { RedisLock } from "../../src/stores/redis/lock.js";
import { deleteKeys, redisAvailable, redisClient, subscribed, testPrefix, waitUntil } from "../helpers/redis.js";
import { closeAll, CookieJar, startServer } from "../helpers/server.js";
import { storeContract } from "./contract.js";

const available = await redisAvailable();

const state = (session: Record<string, unknown>, expiresIn: number): StoreState => ({
  session: JSON.stringify(session),
  expiresAt: Date.now() + expiresIn,
  ttl: Math.max(expiresIn, 1000),
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(!available)("RedisStore", () => {
  storeContract("RedisStore", () => {
    const prefix = testPrefix();
    const clients: Redis[] = [];
    const stores: RedisStore[] = [];
    const open = (): RedisStore => {
      const client = redisClient();
      clients.push(client);
      const store = new RedisStore({ client, prefix });
      stores.push(store);
      return store;
    };
    return {
      store: open(),
      reopen: open,
      async cleanup() {
        for (const store of stores) await store.close();
        await deleteKeys(clients[0]!, prefix);
        for (const client of clients) await client.quit();
      },
    };
  });

  let prefix: string;
  let client: Redis;
  let other: Redis;
  let store: RedisStore;
  const extra: RedisStore[] = [];

  beforeEach(() => {
    prefix = testPrefix();
    client = redisClient();
    other = redisClient();
    store = new RedisStore({ client, prefix });
  });

  afterEach(async () => {
    await closeAll();
    for (const s of [store, ...extra.splice(0)]) await s.close();
    await deleteKeys(client, prefix);
    await client.quit();
    await other.quit();
  });

  /** A second store on the same Redis and prefix with its own client: another process. */
  function peer(options: Partial<ConstructorParameters<typeof RedisStore>[0]> = {}): RedisStore {
    const s = new RedisStore({ client: other, prefix, ...options });
    extra.push(s);
    return s;
  }

  /** Subscribes `s` and resolves its changes array once its feed is live. */
  async function feed(s: RedisStore, subscribers = 1): Promise<StoreChange[]> {
    const changes: StoreChange[] = [];
    s.subscribe((change) => changes.push(change));
    await subscribed(client, s.channel, subscribers);
    return changes;
  }

  describe("records", () => {
    it("keeps each session as JSON under prefix + id with a PTTL that matches expiresAt", async () => {
      const id = `r-${generateUid()}`;
      const written = state({ a: 1 }, ms.h());
      expect(await store.set(id, written)).toBe(true);
      expect(JSON.parse((await client.get(`${prefix}{${id}}`))!)).toEqual(written);
      const pttl = await client.pttl(`${prefix}{${id}}`);
      expect(pttl).toBeGreaterThan(ms.h() - 1000);
      expect(pttl).toBeLessThanOrEqual(ms.h());
    });

    it("gives a session saved over HTTP a Redis TTL of maxAge + 10 s", async () => {
      const server = await startServer({ store, maxAge: ms.h(2) });
      const jar = new CookieJar();
      await server.get("/inc", jar);
      const pttl = await client.pttl(`${prefix}{${jar.get("test.sid")}}`);
      expect(pttl).toBeGreaterThan(ms.h(2) + 10_000 - 2000);
      expect(pttl).toBeLessThanOrEqual(ms.h(2) + 10_000);
    });

    it("destroy resolves whether a key was removed", async () => {
      const id = `r-${generateUid()}`;
      await store.set(id, state({ a: 1 }, ms.h()));
      expect(await store.destroy(id)).toBe(true);
      expect(await client.exists(`${prefix}{${id}}`)).toBe(0);
      expect(await store.destroy(id)).toBe(false);
    });

    it("deletes instead of writing a state whose expiry has passed", async () => {
      const id = `r-${generateUid()}`;
      await store.set(id, state({ a: 1 }, ms.h()));
      expect(await store.set(id, state({ a: 2 }, -1))).toBe(false);
      expect(await client.exists(`${prefix}{${id}}`)).toBe(0);
    });

    it("hands a record that is not its JSON to the bridge as an invalid session, which destroys it", async () => {
      const server = await startServer({ store });
      const jar = new CookieJar();
      await server.get("/inc", jar);
      const sid = jar.get("test.sid")!;
      await client.set(`${prefix}{${sid}}`, "not json", "PX", 60_000);
      expect(await store.get(sid)).toEqual({ session: "not json", expiresAt: Number.MAX_SAFE_INTEGER, ttl: 0 });
      await expect(server.bridge.getById(sid)).rejects.toThrow(`[koa-io-session] Stored session "${sid}" is not valid JSON; the record was destroyed.`);
      expect(await client.exists(`${prefix}{${sid}}`)).toBe(0);
    });

    it("lists 10 000 sessions with SCAN, never KEYS, and leaves out other prefixes and lock keys", async () => {
      const ids = Array.from({ length: 10_000 }, (_, i) => `s${i}-${generateUid(6)}`);
      const value = JSON.stringify(state({ v: 1 }, ms.h()));
      const pipeline = client.pipeline();
      for (const id of ids) pipeline.set(`${prefix}{${id}}`, value, "PX", ms.h());
      pipeline.set(`${prefix.slice(0, -1)}x:outside`, value, "PX", ms.h()); // shares the prefix minus its colon
      pipeline.set(`${prefix}{${ids[0]}}:lock`, "token", "PX", ms.h());
      pipeline.hset(`${prefix}{${ids[0]}}:lock:waiting`, "node", "token");
      pipeline.pexpire(`${prefix}{${ids[0]}}:lock:waiting`, ms.h());
      await pipeline.exec();
      const monitor = await redisClient().monitor();
      const commands: string[][] = [];
      monitor.on("monitor", (_time: string, args: string[]) => commands.push(args));
      try {
        const listed = await store.list();
        expect(listed.length).toBe(10_000);
        expect(new Set(listed)).toEqual(new Set(ids));
        await client.ping();
        await waitUntil(() => commands.some((args) => args[0]?.toLowerCase() === "ping"));
      } finally {
        monitor.disconnect();
        await client.del(`${prefix.slice(0, -1)}x:outside`);
      }
      const ours = commands.filter((args) => args.some((arg) => arg.includes(prefix)));
      expect(ours.filter((args) => args[0]!.toLowerCase() === "keys")).toEqual([]);
      const scans = ours.filter((args) => args[0]!.toLowerCase() === "scan");
      expect(scans.length).toBeGreaterThanOrEqual(10);
      expect(scans[0]).toEqual(["scan", "0", "MATCH", `${prefix}*`, "COUNT", "1000"]);
    });

    it("honours the client's keyPrefix in its keys and its SCAN pattern", async () => {
      const prefixed = redisClient(undefined, { keyPrefix: "app1:" });
      try {
        const s = new RedisStore({ client: prefixed, prefix });
        await s.set("one", state({ v: 1 }, ms.h()));
        expect(await client.exists(`app1:${prefix}{one}`)).toBe(1);
        expect(await s.list()).toEqual(["one"]);
        expect(await s.get("one")).toEqual(expect.objectContaining({ session: JSON.stringify({ v: 1 }) }));
        expect(await s.withLock("one", async () => client.exists(`app1:${prefix}{one}:lock`))).toBe(1);
        expect(await s.destroy("one")).toBe(true);
      } finally {
        await deleteKeys(client, `app1:${prefix}`);
        await prefixed.quit();
      }
    });

    it("escapes glob characters of the prefix in its SCAN pattern", async () => {
      const odd = `${prefix}[a]*?:`;
      const globbed = new RedisStore({ client, prefix: odd });
      await globbed.set("one", state({ v: 1 }, ms.h()));
      await client.set(`${prefix}a:{two}`, "x", "PX", ms.h()); // would match an unescaped "[a]*"
      expect(await globbed.list()).toEqual(["one"]);
      await client.del(`${odd}{one}`);
    });
  });

  describe("change feed", () => {
    it("reports another store's writes with clientId and isNew, and not its own", async () => {
      const theirStore = peer();
      const mine = await feed(store);
      const theirs = await feed(theirStore, 2);
      await theirStore.set("s1", state({ v: 1 }, ms.h()), { clientId: "c1", isNew: true });
      await store.set("s2", state({ v: 1 }, ms.h()));
      await store.set("s1", state({ v: 2 }, ms.h()), { isNew: false });
      await waitUntil(() => mine.length === 1 && theirs.length === 2);
      expect(mine).toEqual([{ type: "set", sessionId: "s1", clientId: "c1", isNew: true }]);
      expect(theirs).toEqual([
        { type: "set", sessionId: "s2", clientId: undefined, isNew: false },
        { type: "set", sessionId: "s1", clientId: undefined, isNew: false },
      ]);
    });

    it("announces the changes of one event-loop turn together, in the order they were made", async () => {
      const changes = await feed(store);
      const messages: string[] = [];
      const listener = redisClient();
      try {
        listener.on("message", (_channel: string, text: string) => messages.push(text));
        await listener.subscribe(store.channel);
        const writer = peer();
        const ids = Array.from({ length: 200 }, (_, i) => `s${i}`);
        // Replies to commands sent together arrive in a few socket reads, so they share a few turns.
        await Promise.all(ids.map((id) => writer.set(id, state({ v: 1 }, ms.h()), { clientId: "c1", isNew: true })));
        await writer.destroy("s0");
        await waitUntil(() => changes.length === 201);
        expect(changes.map((c) => `${c.type} ${"sessionId" in c ? c.sessionId : ""}`)).toEqual([
          ...ids.map((id) => `set ${id}`),
          "destroy s0",
        ]);
        expect(messages.length).toBeGreaterThan(1);
        expect(messages.length).toBeLessThanOrEqual(20);
      } finally {
        await listener.quit();
      }
    });

    it("sends the changes not yet announced when it closes, before the caller quits its client", async () => {
      const changes = await feed(store);
      const writerClient = redisClient();
      const writer = new RedisStore({ client: writerClient, prefix });
      await writer.set("s1", state({ v: 1 }, ms.h()), { clientId: "c1", isNew: true });
      await writer.close();
      await writerClient.quit();
      await waitUntil(() => changes.length === 1);
      expect(changes).toEqual([{ type: "set", sessionId: "s1", clientId: "c1", isNew: true }]);
    });

    it("reports destroys, but not TTL refreshes", async () => {
      const changes = await feed(store);
      const writer = peer();
      await writer.set("s1", state({ v: 1 }, ms.h()), { refresh: true });
      await writer.destroy("s1");
      await waitUntil(() => changes.length === 1);
      expect(changes).toEqual([{ type: "destroy", sessionId: "s1" }]);
      expect(await client.pttl(`${prefix}{s1}`)).toBe(-2);
    });

    it("reports a destroy inside a request only once the request has settled", async () => {
      const changes = await feed(store);
      const writer = peer();
      await writer.set("old", state({ v: 1 }, ms.h()), { clientId: "c1", isNew: true });
      let settle!: () => void;
      const settled = new Promise<void>((resolve) => (settle = resolve));
      expect(await writer.destroy("old", { clientId: "c1", settled })).toBe(true);
      expect(await client.exists(`${prefix}{old}`)).toBe(0);
      await writer.set("new", state({ v: 1 }, ms.h()), { clientId: "c1", isNew: true });
      await waitUntil(() => changes.length === 2);
      settle();
      await waitUntil(() => changes.length === 3);
      expect(changes.map((c) => [c.type, "sessionId" in c ? c.sessionId : ""])).toEqual([
        ["set", "old"],
        ["set", "new"],
        ["destroy", "old"],
      ]);
    });

    it("reports a read that finds no record to its own listeners, for an expiry Redis did not announce", async () => {
      const changes: StoreChange[] = [];
      store.subscribe((change) => changes.push(change));
      expect(await store.get("gone")).toBeUndefined();
      expect(changes).toEqual([{ type: "destroy", sessionId: "gone" }]);
    });

    it("stops reporting after unsubscribe, and its subscriber connection ends with the last listener", async () => {
      const changes: StoreChange[] = [];
      const stop = store.subscribe((change) => changes.push(change));
      await subscribed(client, store.channel, 1);
      stop();
      await subscribed(client, store.channel, 0);
      await peer().destroy("x");
      expect(await store.get("x")).toBeUndefined();
      expect(changes).toEqual([]);
    });

    it("close() ends the subscriber and leaves the client open", async () => {
      store.subscribe(() => {});
      await subscribed(client, store.channel, 1);
      await store.close();
      await subscribed(client, store.channel, 0);
      expect(await client.ping()).toBe("PONG");
      expect(client.status).toBe("ready");
    });

    it("bridge.close() ends the bridge's subscription", async () => {
      const server = await startServer({ store });
      await subscribed(client, store.channel, 1);
      await server.close();
      await subscribed(client, store.channel, 0);
      expect(await client.ping()).toBe("PONG");
    });

    it("passes a throwing listener's error to onError and keeps reporting", async () => {
      const errors: Error[] = [];
      const reporting = new RedisStore({ client, prefix, onError: (error) => errors.push(error) });
      extra.push(reporting);
      const seen: StoreChange[] = [];
      reporting.subscribe(() => {
        throw new Error("listener broke");
      });
      reporting.subscribe((change) => seen.push(change));
      await reporting.get("missing");
      expect(errors.map((e) => e.message)).toEqual(["listener broke"]);
      expect(seen).toEqual([{ type: "destroy", sessionId: "missing" }]);
    });
  });

  describe("withLock", () => {
    it("runs tasks of one session one at a time across stores, and different sessions side by side", async () => {
      const theirs = peer();
      const order: string[] = [];
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      const first = store.withLock("s", async () => {
        order.push("first:start");
        await held;
        order.push("first:end");
        return 1;
      });
      await waitUntil(async () => (await client.exists(store.lockKeyOf("s"))) === 1);
      const second = theirs.withLock("s", async () => {
        order.push("second");
        return 2;
      });
      // Another session's lock is free meanwhile.
      expect(await theirs.withLock("t", async () => "t")).toBe("t");
      await sleep(50);
      expect(order).toEqual(["first:start"]);
      release();
      expect(await Promise.all([first, second])).toEqual([1, 2]);
      expect(order).toEqual(["first:start", "first:end", "second"]);
      expect(await client.exists(store.lockKeyOf("s"))).toBe(0);
    });

    it("rejects with a clear error when the lock stays held past lockWaitMs, and leaves the holder's lock alone", async () => {
      const impatient = new RedisStore({ client, prefix, lockWaitMs: 150 });
      extra.push(impatient);
      await client.set(impatient.lockKeyOf("s"), "someone-else", "PX", 60_000);
      let ran = false;
      await expect(impatient.withLock("s", async () => (ran = true))).rejects.toThrow(
        '[koa-io-session] RedisStore gave up waiting for the lock of session "s" after 150 ms: another process holds it.',
      );
      expect(ran).toBe(false);
      expect(await client.get(impatient.lockKeyOf("s"))).toBe("someone-else");
    });

    it("a busy store does not starve another: a release hands the lock to the store waiting for it", async () => {
      const theirs = peer();
      const order: string[] = [];
      let theirsDone: Promise<unknown> | undefined;
      for (let i = 0; i < 20; i++) {
        await store.withLock("s", async () => {
          order.push("mine");
          if (theirsDone) return;
          // Asks while the lock is held here: it waits, noted among the lock's waiters.
          theirsDone = theirs.withLock("s", async () => order.push("theirs"));
          await waitUntil(async () => (await client.hlen(`${store.lockKeyOf("s")}:waiting`)) === 1, 10_000, "the other store noted");
        });
      }
      await theirsDone;
      // The release went straight to the waiter: this store could not take the lock back before the other's next poll.
      expect(order.slice(0, 3)).toEqual(["mine", "theirs", "mine"]);
      expect(order).toHaveLength(21);
      expect(await client.exists(store.lockKeyOf("s"), `${store.lockKeyOf("s")}:waiting`)).toBe(0);
    });

    describe("a lock handed over by its release", () => {
      const onError = (error: Error): void => {
        throw error;
      };

      /** A holder and a waiter on `key`; resolves the waiter's run once the waiter is noted among the lock's waiters. */
      async function handOver(waiter: RedisLock, key: string): Promise<{ waited: Promise<string>; release: () => void }> {
        const holder = new RedisLock(redisAccess(other), { ttlMs: 10_000, waitMs: 10_000 }, `${prefix}locks`, onError);
        let release!: () => void;
        const held = new Promise<void>((resolve) => (release = resolve));
        const holding = holder.run(key, "k", () => held);
        await waitUntil(async () => (await client.exists(key)) === 1);
        const waited = waiter.run(key, "k", async () => "mine");
        await waitUntil(async () => (await client.hlen(`${key}:waiting`)) === 1, 10_000, "the waiter noted");
        return { waited, release: () => void (release(), holding) };
      }

      it("wakes its waiter by a message on prefix + locks: it runs though its next poll is a minute away", async () => {
        const key = `${prefix}{s}:lock`;
        const waiter = new RedisLock(redisAccess(client), { ttlMs: 10_000, waitMs: 120_000, pollMs: { first: 60_000, max: 60_000 } }, `${prefix}locks`, onError);
        // The waiter's store feed, as RedisStore routes it: `token key`.
        const subscriber = redisClient();
        subscriber.on("message", (_channel: string, text: string) => {
          const space = text.indexOf(" ");
          waiter.handed(text.slice(0, space), text.slice(space + 1));
        });
        await subscriber.subscribe(`${prefix}locks`);
        try {
          const { waited, release } = await handOver(waiter, key);
          release();
          expect(await waited).toBe("mine");
          expect(await client.exists(key, `${key}:waiting`)).toBe(0);
        } finally {
          subscriber.disconnect();
        }
      });

      it("a waiter that misses the message finds the lock handed to it on its next poll", async () => {
        const key = `${prefix}{s}:lock`;
        const waiter = new RedisLock(redisAccess(client), { ttlMs: 10_000, waitMs: 5000 }, `${prefix}locks`, onError);
        const { waited, release } = await handOver(waiter, key); // nobody routes the channel to it
        release();
        expect(await waited).toBe("mine");
        expect(await client.exists(key, `${key}:waiting`)).toBe(0);
      });
    });

    it("takes over a lock whose holder died once its TTL ends, by polling, within lockWaitMs", async () => {
      await client.set(store.lockKeyOf("s"), "a-dead-process", "PX", 300);
      expect(await store.withLock("s", async () => "after the TTL")).toBe("after the TTL");
    });

    it("a waiter that gave up leaves the waiters, so the holder's release does not hand it the lock", async () => {
      const impatient = peer({ lockWaitMs: 150 });
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      const holding = store.withLock("s", () => held);
      await waitUntil(async () => (await client.exists(store.lockKeyOf("s"))) === 1);
      await expect(impatient.withLock("s", async () => "never")).rejects.toThrow(
        '[koa-io-session] RedisStore gave up waiting for the lock of session "s" after 150 ms: another process holds it.',
      );
      await waitUntil(async () => (await client.exists(`${store.lockKeyOf("s")}:waiting`)) === 0, 10_000, "the waiter gone");
      release();
      await holding;
      expect(await client.exists(store.lockKeyOf("s"))).toBe(0);
    });

    describe("the calls of one withLock (locked.run)", () => {
      const read = async (s: RedisStore): Promise<unknown> => JSON.parse((await s.get("s"))!.session);

      it("read what the calls before them wrote, and their writes go out with the release", async () => {
        await store.set("s", state({ v: 0 }, ms.h()));
        let acknowledged = false;
        const outcome = await store.withLock("s", async (locked) => {
          const seen = await locked!.run(() => read(store));
          await locked!.run(() => store.set("s", state({ v: 1 }, ms.h())));
          const after = await locked!.run(() => read(store));
          void locked!.written().then(() => (acknowledged = true));
          // Not written yet, so not acknowledged yet: the release writes it.
          const stored = JSON.parse((await client.get(store.keyOf("s")))!);
          return { seen, after, stored: JSON.parse(stored.session), acknowledged };
        });
        expect(outcome).toEqual({ seen: { v: 0 }, after: { v: 1 }, stored: { v: 0 }, acknowledged: false });
        await waitUntil(() => acknowledged, 2000, "written() after the release");
        expect(await read(peer())).toEqual({ v: 1 });
        expect(await client.exists(store.lockKeyOf("s"))).toBe(0);
      });

      it("a write kept while a later call awaits something else goes out at once, the lock kept", async () => {
        const stored = await store.withLock("s", async (locked) => {
          await locked!.run(() => store.set("s", state({ v: 1 }, ms.h())));
          const written = locked!.written();
          return locked!.run(async () => {
            await written;
            expect(await client.exists(store.lockKeyOf("s"))).toBe(1);
            return JSON.parse(JSON.parse((await client.get(store.keyOf("s")))!).session);
          });
        });
        expect(stored).toEqual({ v: 1 });
      });

      it("a destroy between them is seen by the next call and the kept write is dropped", async () => {
        const outcome = await store.withLock("s", async (locked) => {
          await locked!.run(() => store.set("s", state({ v: 1 }, ms.h())));
          await locked!.run(() => store.destroy("s"));
          const after = await locked!.run(() => store.get("s"));
          await locked!.written();
          return after;
        });
        expect(outcome).toBeUndefined();
        expect(await client.exists(store.keyOf("s"))).toBe(0);
      });

      it("a write another process announces while none is kept is read by the next call", async () => {
        const writer = peer();
        const changes = await feed(store);
        await store.set("s", state({ v: 0 }, ms.h()));
        const seen = await store.withLock("s", async (locked) => {
          await locked!.run(() => read(store));
          // Another process writes without the lock (an HTTP request there).
          await writer.set("s", state({ v: 2 }, ms.h()));
          await waitUntil(() => changes.some((change) => change.type === "set" && change.sessionId === "s"));
          return locked!.run(() => read(store));
        });
        expect(seen).toEqual({ v: 2 });
      });

      it("a write outside locked.run is written at once, and only the calls' own reads see the batch", async () => {
        await store.set("s", state({ v: 0 }, ms.h()));
        const seen = await store.withLock("s", async (locked) => {
          await locked!.run(() => store.set("s", state({ v: 1 }, ms.h())));
          return read(store);
        });
        expect(seen).toEqual({ v: 0 });
        expect(await read(store)).toEqual({ v: 1 });
      });

      it("a lock lost before the release writes nothing and rejects written() with a clear error", async () => {
        await store.set("s", state({ v: 0 }, ms.h()));
        let written!: Promise<void>;
        await store.withLock("s", async (locked) => {
          await locked!.run(() => store.set("s", state({ v: 1 }, ms.h())));
          written = locked!.written();
          // As if its TTL ran out while Redis did not answer, and another process took it.
          await client.set(store.lockKeyOf("s"), "someone-else");
        });
        await expect(written).rejects.toThrow('[koa-io-session] RedisStore lost the lock of session "s" before writing it');
        expect(await read(store)).toEqual({ v: 0 });
        expect(await client.get(store.lockKeyOf("s"))).toBe("someone-else");
      });
    });

    it("releases the lock when the task throws", async () => {
      await expect(store.withLock("s", async () => {
        throw new Error("handler failed");
      })).rejects.toThrow("handler failed");
      expect(await client.exists(store.lockKeyOf("s"))).toBe(0);
      expect(await peer({ lockWaitMs: 100 }).withLock("s", async () => "free")).toBe("free");
    });

    it("keeps the lock alive while a task outlives lockTtlMs", async () => {
      const short = new RedisStore({ client, prefix, lockTtlMs: 150 });
      extra.push(short);
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      const running = short.withLock("s", () => held);
      await waitUntil(async () => (await client.exists(short.lockKeyOf("s"))) === 1);
      await expect(peer({ lockWaitMs: 500 }).withLock("s", async () => "stole it")).rejects.toThrow("gave up waiting");
      release();
      await running;
      expect(await client.exists(short.lockKeyOf("s"))).toBe(0);
    });

    it("setById and destroyById wait for the session's lock; HTTP does not", async () => {
      const impatient = new RedisStore({ client, prefix, lockWaitMs: 200 });
      extra.push(impatient);
      const server = await startServer({ store: impatient });
      const jar = new CookieJar();
      await server.get("/inc", jar);
      const sid = jar.get("test.sid")!;
      await client.set(impatient.lockKeyOf(sid), "another-process", "PX", 60_000);
      const held = `[koa-io-session] RedisStore gave up waiting for the lock of session "${sid}" after 200 ms: another process holds it.`;
      await expect(server.bridge.setById(sid, { count: 10 })).rejects.toThrow(held);
      await expect(server.bridge.destroyById(sid)).rejects.toThrow(held);
      expect((await server.get("/inc", jar)).body.session).toEqual({ count: 2 });
      await client.del(impatient.lockKeyOf(sid));
      expect(await server.bridge.setById(sid, { count: 10 })).toBe(true);
      expect(await server.bridge.getById(sid)).toEqual({ count: 10 });
    });
  });

  describe("options", () => {
    it("rejects a missing client, an empty prefix and bad timings", () => {
      expect(() => new RedisStore({} as never)).toThrow("[koa-io-session] Invalid 'client': expected an ioredis or node-redis client (standalone or cluster), received undefined.");
      expect(() => new RedisStore({ client, prefix: "" })).toThrow(TypeError);
      expect(() => new RedisStore({ client, prefix: "" })).toThrow(`Invalid 'prefix': expected a non-empty string, received "".`);
      expect(() => new RedisStore({ client, lockWaitMs: 0 })).toThrow("Invalid 'lockWaitMs': expected a positive integer, received 0.");
      expect(() => new RedisStore({ client, lockTtlMs: 1.5 })).toThrow("Invalid 'lockTtlMs'");
      expect(() => new RedisStore({ client, expiryEvents: "yes" as never })).toThrow("Invalid 'expiryEvents'");
    });

    it("derives the channel and the lock keys from the prefix", () => {
      const s = new RedisStore({ client, prefix: "app:s:" });
      expect(s.prefix).toBe("app:s:");
      expect(s.channel).toBe("app:s:changes");
      expect(s.keyOf("x")).toBe("app:s:{x}");
      expect(s.lockKeyOf("x")).toBe("app:s:{x}:lock");
      expect(new RedisStore({ client }).prefix).toBe("kis:sess:");
    });
  });
});
