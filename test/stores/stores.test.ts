import { describe, expect, it } from "vitest";
import { LiveStore, type StoreState } from "../../src/index.js";
import { AsyncMapStore, SyncMapStore } from "../helpers/storeFixtures.js";
import { storeContract } from "./contract.js";

storeContract("LiveStore", () => {
  const store = new LiveStore();
  return { store, reopen: () => store };
});

storeContract(
  "sync Map store without list/optimize",
  () => {
    const store = new SyncMapStore();
    return { store, reopen: () => store, cleanup: () => store.records.clear() };
  },
  { list: false, optimize: false },
);

storeContract(
  "async store (setImmediate delays)",
  async () => {
    const store = new AsyncMapStore();
    return { store, reopen: () => store, cleanup: () => store.records.clear() };
  },
  { list: true, optimize: true },
);

describe("LiveStore keeps each state exactly", () => {
  it("answers what was set, for any number and for a state of another shape", () => {
    const store = new LiveStore();
    const far = Date.now() + 3_600_000;
    const states = [
      { session: '{"a":1,"_expire":1798770254955,"_maxAge":2592000000}', expiresAt: far, ttl: 2_592_010_000 },
      { session: "{}", expiresAt: far + 0.5, ttl: 1.25 },
      { session: "not json, with spaces", expiresAt: 1e21, ttl: Number.POSITIVE_INFINITY },
      { session: "", expiresAt: 123_456_789_012_345_678, ttl: 0 },
      { session: { not: "a string" }, expiresAt: far, ttl: 1 } as unknown as StoreState,
    ];
    states.forEach((state, at) => store.set(`s${at}`, state));
    states.forEach((state, at) => expect(store.get(`s${at}`)).toStrictEqual(state));
    expect(store.get("s4")).toBe(states[4]);
  });
});

describe("LiveStore keeps what the bridge writes for koa-session exactly", () => {
  it("answers the same expiresAt and ttl for a record with koa-session's tail, however late the write", () => {
    const store = new LiveStore();
    const expire = Date.now() + 3_600_000;
    const session = JSON.stringify({ user: "someone", _expire: expire, _maxAge: 3_600_000 });
    const states = [0, 7, 255, 256, -1, 0.5].map((late) => ({ session, expiresAt: expire + 10_000 + late, ttl: 3_610_000 }));
    states.push({ session, expiresAt: expire + 10_000, ttl: 3_600_001 });
    states.forEach((state, at) => store.set(`s${at}`, state));
    states.forEach((state, at) => expect(store.get(`s${at}`)).toStrictEqual(state));
  });
});
