// Load generator for the socket benches, run in its own process:
//   node socket-client.mjs handshake <port> <seconds>          → handshakes/s
//   node socket-client.mjs ops <port> <seconds> <sockets> <distinct|one>  → withSession ops/s
// Prints one JSON line.
import { io } from "socket.io-client";

const [mode, port, seconds, sockets = "50", sessions = "distinct"] = process.argv.slice(2);
const url = `http://127.0.0.1:${port}`;
const until = () => Date.now() + Number(seconds) * 1000;

async function cookiesFromHttp() {
  const res = await fetch(`${url}/`);
  return res.headers.getSetCookie().map((line) => line.split(";")[0]).join("; ");
}

function connect(cookie) {
  const socket = io(url, { transports: ["websocket"], forceNew: true, reconnection: false, extraHeaders: { cookie } });
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", reject);
  });
}

if (mode === "handshake") {
  const cookie = await cookiesFromHttp();
  const end = until();
  let count = 0;
  const worker = async () => {
    while (Date.now() < end) {
      const socket = await connect(cookie);
      socket.disconnect();
      count++;
    }
  };
  const start = Date.now();
  await Promise.all(Array.from({ length: 10 }, worker));
  console.log(JSON.stringify({ perSecond: (count * 1000) / (Date.now() - start) }));
} else {
  const shared = sessions === "one" ? await cookiesFromHttp() : undefined;
  const clients = [];
  for (let i = 0; i < Number(sockets); i++) clients.push(await connect(shared ?? (await cookiesFromHttp())));
  const end = until();
  let acks = 0;
  const start = Date.now();
  await Promise.all(clients.map(async (socket) => {
    while (Date.now() < end) {
      await socket.emitWithAck("inc");
      acks++;
    }
  }));
  const elapsed = Date.now() - start;
  const stored = await Promise.all(clients.map((socket) => socket.emitWithAck("count")));
  // One session: every socket reads the same counter, which must equal every ack counted.
  const exact = sessions === "one" ? stored.every((n) => n === acks) : stored.reduce((a, b) => a + b, 0) === acks;
  for (const socket of clients) socket.disconnect();
  console.log(JSON.stringify({ perSecond: (acks * 1000) / elapsed, acks, exact }));
}
process.exit(0);
