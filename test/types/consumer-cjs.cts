// The CommonJS side: `require("koa-io-session")` resolves to dist/index.d.cts.
import koaIo = require("koa-io-session");
import Koa = require("koa");
import socketIo = require("socket.io");

const app = new Koa();
const io = new socketIo.Server();
const bridge: koaIo.SessionBridge = koaIo.bridgeSession(app, io, { key: "cjs.sid", maxAge: koaIo.ms.h(1) });
const viaDefault: koaIo.SessionBridge = koaIo.default(new Koa(), new socketIo.Server());
const store: koaIo.SessionStore = new koaIo.LiveStore();
const uid: string = koaIo.generateUid(8);
bridge.on("sessionSet", (e: koaIo.SessionSetEvent) => e.isNew);

// @ts-expect-error maxAge is a number
koaIo.bridgeSession(app, io, { maxAge: "1h" });

export = { viaDefault, store, uid };
