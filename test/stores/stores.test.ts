import { LiveStore } from "../../src/index.js";
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
