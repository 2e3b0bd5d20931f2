// A child process for the FileStore lock tests: it owns a file through the
// BUILT package (`koa-io-session/fdb`) and answers commands on stdin.
//
//   node fileStoreHolder.mjs <dir> <count>
//
// Stores sessions h-0 … h-<count-1> (see `holderState`), prints `ready <count>`
// once every one is acknowledged, then reads commands: `write <n>` stores n
// more and prints `acked <total>`; `close` closes the store, prints `closed`
// and exits. test/stores/fileStore.lock.test.ts mirrors `holderState`.
import { createInterface } from "node:readline";
import { FileStore } from "koa-io-session/fdb";

const holderState = (i) => ({ session: JSON.stringify({ i, pad: "h".repeat(200) }), expiresAt: 4102444810000, ttl: 3600000 });

const [dir, count] = process.argv.slice(2);
const store = new FileStore({ fdbOpt: { dir } });
let total = 0;
async function write(n) {
  await Promise.all(Array.from({ length: n }, (_, k) => store.set(`h-${total + k}`, holderState(total + k))));
  total += n;
}
await write(Number(count));
process.stdout.write(`ready ${total}\n`);
for await (const line of createInterface({ input: process.stdin })) {
  const [command, arg] = line.split(" ");
  if (command === "write") {
    await write(Number(arg));
    process.stdout.write(`acked ${total}\n`);
  } else if (command === "close") {
    await store.close();
    process.stdout.write("closed\n");
    process.exit(0);
  }
}
