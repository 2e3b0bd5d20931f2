// A child process for the FileStore crash tests: it writes through the BUILT
// package (`koa-io-session/fdb`) and prints every acknowledged write, until
// the test kills it with SIGKILL.
//
//   node fileStoreWriter.mjs <dir> <mode: burst|compact> <prefix>
//
// Worker w performs ops j = 0, 1, 2, … one at a time (see `opOf`) and prints
// `ack <w> <j>` when op j resolved. In `compact` mode it first stores
// `PRELOAD` padded records (`<prefix>p-<i>`) and runs optimize() in a loop,
// printing `opt` after each. It prints `ready` before the burst starts.
// test/stores/fileStore.crash.test.ts mirrors `opOf` and `preloaded`.
import { FileStore } from "koa-io-session/fdb";

const WORKERS = 40;
const IDS_PER_WORKER = 10;
const PRELOAD = 3000;
const PAD = "x".repeat(400);

/** Op j of worker w: which id, and the state it sets (`undefined`: a destroy). */
function opOf(prefix, w, j) {
  const id = `${prefix}w${w}-${j % IDS_PER_WORKER}`;
  if (j % 7 === 6) return { id, state: undefined };
  return { id, state: { session: JSON.stringify({ w, j, pad: PAD }), expiresAt: 4102444810000, ttl: 3600000 } };
}

/** The preloaded record i. */
function preloaded(prefix, i) {
  return { session: JSON.stringify({ i, pad: PAD }), expiresAt: 4102444810000, ttl: 3600000 };
}

{
  const [dir, mode, prefix] = process.argv.slice(2);
  const store = new FileStore({ fdbOpt: { dir } });
  const print = (text) => process.stdout.write(`${text}\n`);
  await store.list();
  if (mode === "compact") {
    await Promise.all(Array.from({ length: PRELOAD }, (_, i) => store.set(`${prefix}p-${i}`, preloaded(prefix, i))));
    void (async () => {
      for (;;) {
        await store.optimize(0);
        print("opt");
        // An optimize with nothing to compact settles without I/O: let the writes run.
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
  }
  print("ready");
  const worker = async (w) => {
    for (let j = 0; ; j++) {
      const { id, state } = opOf(prefix, w, j);
      if (state === undefined) await store.destroy(id);
      else await store.set(id, state);
      print(`ack ${w} ${j}`);
    }
  };
  for (let w = 0; w < WORKERS; w++) void worker(w);
}
