// Heap per connected socket at `count` sockets: bridge vs plain socket.io, servers in child processes,
// raw engine.io websocket clients here. Resolves { bridge, plain, ratio } in bytes per socket.
import WebSocket from "ws";
import { startChild } from "./lib.mjs";

/** Opens one socket.io connection to the main namespace over a bare websocket. */
function open(port) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`);
    ws.on("error", reject);
    ws.on("message", (data) => {
      const text = data.toString();
      if (text.startsWith("0")) ws.send("40");
      else if (text.startsWith("40")) resolve(ws);
      else if (text === "2") ws.send("3");
    });
  });
}

async function heapOf(port) {
  const res = await fetch(`http://127.0.0.1:${port}/heap`);
  return res.json();
}

async function measure(variant, count) {
  const server = await startChild("scale-sockets-server.mjs", [variant], {});
  try {
    await heapOf(server.port);
    const before = await heapOf(server.port);
    const sockets = [];
    for (let at = 0; at < count; at += 200) {
      const batch = [];
      for (let i = at; i < Math.min(count, at + 200); i++) batch.push(open(server.port));
      sockets.push(...(await Promise.all(batch)));
    }
    const after = await heapOf(server.port);
    if (after.sockets !== count) throw new Error(`${variant}: ${after.sockets} of ${count} sockets connected`);
    for (const ws of sockets) ws.terminate();
    return (after.heapUsed - before.heapUsed) / count;
  } finally {
    await server.stop();
  }
}

export async function runSockets(count = 10_000) {
  const plain = await measure("plain", count);
  const bridge = await measure("bridge", count);
  return { count, plain, bridge, ratio: bridge / plain };
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(JSON.stringify(await runSockets(Number(process.argv[2] ?? 10_000))));
