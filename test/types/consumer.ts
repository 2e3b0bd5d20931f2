// Compiled, never run: each `@ts-expect-error` line is a misuse the declarations must reject.
import { once } from "node:events";
import { createServer } from "node:http";
import Koa from "koa";
import { Server, type Socket } from "socket.io";
import bridgeSession, {
  type BridgeOptions,
  type DestroyByUserOptions,
  bridgeSession as namedBridgeSession,
  generateUid,
  LiveStore,
  ms,
  SessionBridge,
  type SessionData,
  type SessionDestroyEvent,
  type SessionSetEvent,
  type SessionStore,
  type StoreState,
  type UserId,
} from "koa-io-session";

/** true only when A and B are the same type (not merely assignable, so `any` fails). */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;

declare module "koa-io-session" {
  interface SessionData {
    userId?: string;
  }
}

// ---- stores --------------------------------------------------------------

class SyncStore implements SessionStore {
  readonly #records = new Map<string, StoreState>();
  get(sessionId: string): StoreState | undefined {
    return this.#records.get(sessionId);
  }
  set(sessionId: string, state: StoreState): void {
    this.#records.set(sessionId, state);
  }
  destroy(sessionId: string): boolean {
    return this.#records.delete(sessionId);
  }
  list(): Iterable<string> {
    return this.#records.keys();
  }
}

class AsyncStore implements SessionStore {
  readonly #records = new Map<string, string>();
  async get(sessionId: string): Promise<StoreState | null> {
    const raw = this.#records.get(sessionId);
    return raw === undefined ? null : (JSON.parse(raw) as StoreState);
  }
  async set(sessionId: string, state: StoreState): Promise<void> {
    this.#records.set(sessionId, JSON.stringify(state));
  }
  async destroy(sessionId: string): Promise<boolean> {
    return this.#records.delete(sessionId);
  }
  async list(): Promise<string[]> {
    return [...this.#records.keys()];
  }
  async optimize(clearedCount: number): Promise<void> {
    void clearedCount;
  }
}

// @ts-expect-error a store must have destroy()
const broken: SessionStore = { get: () => undefined, set: () => true };

const live: SessionStore = new LiveStore();
const size: number = new LiveStore().size;

// ---- options -------------------------------------------------------------

const app = new Koa();
app.keys = ["k1", "k2"];
const io = new Server();

const options: BridgeOptions = {
  key: "app.sid",
  signed: true,
  maxAge: ms.d(1),
  store: new SyncStore(),
  autoCleanup: true,
  autoCleanupMs: ms.h(),
  clientKey: "app.cid",
  clientMaxAge: ms.y(),
  clientAlwaysRoll: false,
  sameSite: "lax",
  httpOnly: true,
  secure: false,
  rolling: true,
  genid: () => generateUid(24),
};

const bridge: SessionBridge = bridgeSession(app, io, options);
const same: typeof bridgeSession = namedBridgeSession;
const other = new SessionBridge(new Koa(), new Server(), { store: new AsyncStore() });

// @ts-expect-error maxAge is a number of ms, not a string
bridgeSession(app, io, { maxAge: "1h" });
// @ts-expect-error clientAlwaysRoll is a boolean
bridgeSession(app, io, { clientAlwaysRoll: "yes" });
// 3.1.x options: appKeys is a list of strings, allowRndAppKeys a boolean.
const keyed: BridgeOptions = { appKeys: ["one", "two"], allowRndAppKeys: true };
void keyed;
// @ts-expect-error appKeys is an array, not one string
bridgeSession(app, io, { appKeys: "one" });
// @ts-expect-error sameSite accepts only koa-session's values
bridgeSession(app, io, { sameSite: "sometimes" });

// The opt-in features: userKey names a session field, socketTouch is a boolean or ms, serializeRequests a boolean.
const featured: BridgeOptions = { userKey: "userId", socketTouch: 60_000, serializeRequests: true };
void featured;
// @ts-expect-error socketTouch is a boolean or a number of ms
bridgeSession(app, io, { socketTouch: "1m" });
async function logOutEverywhere(userId: UserId, keep?: string): Promise<void> {
  const ids: Equal<Awaited<ReturnType<typeof bridge.getSessionIdsByUser>>, string[]> = true;
  const ended: number = await bridge.destroyByUser(userId, { except: keep });
  const options: DestroyByUserOptions = { except: "sid" };
  void [ids, ended, options];
  // @ts-expect-error except names one session id
  await bridge.destroyByUser(userId, { except: 42 });
}
void logOutEverywhere;

// ---- events --------------------------------------------------------------

bridge.on("sessionSet", (e) => {
  const exact: Equal<typeof e, SessionSetEvent> = true;
  const isNew: boolean = e.isNew;
  const isInit: boolean = e.isInit;
  const ids: [string, string] = [e.clientId, e.sessionId];
  const whole: SessionSetEvent = e;
});
bridge.on("sessionDestroy", (e) => {
  const whole: SessionDestroyEvent = e;
  const id: string = e.sessionId;
});
bridge.on("cleanup", (count) => {
  const n: Equal<typeof count, number> = true;
});
bridge.once("error", (error) => {
  const text: string = error.message;
});

// @ts-expect-error unknown event name
bridge.on("sessionCreated", () => {});
// @ts-expect-error unknown event name, even with a listener that takes anything
bridge.once("sessionCreated", (...args: unknown[]) => args);
// @ts-expect-error unknown event name
bridge.emit("sessionCreated");
// @ts-expect-error unknown event name
bridge.listenerCount("sesionSet");
// @ts-expect-error unknown event name
bridge.removeAllListeners("sesionSet");
// Node's own helpers still take the bridge.
const emitter: NodeJS.EventEmitter = bridge;
async function nextSet(): Promise<unknown> {
  const [event] = await once(bridge, "sessionSet");
  return event;
}
// @ts-expect-error the payload has no such property
bridge.on("sessionSet", (e) => e.nope);
// @ts-expect-error cleanup passes a number
bridge.on("cleanup", (count: string) => count);

// ---- methods -------------------------------------------------------------

async function methods(): Promise<void> {
  const sid: string | undefined = bridge.getSessionId("cid");
  const cid: string | undefined = bridge.getClientId("sid");
  const data: SessionData | undefined = await bridge.getById("sid");
  const user: string | undefined = (await bridge.getByClientId("cid"))?.userId;
  const destroyed: boolean = await bridge.destroyById("sid");
  const changed: boolean = await bridge.setById("sid", { userId: "u1" }, ms.h(2));
  await bridge.setByClientId("cid", null);
  const cleared: number = await bridge.cleanup();
  const started: boolean = bridge.startAutoCleanup(ms.m(5));
  const stopped: boolean = bridge.stopAutoCleanup();
  bridge.notifyStoreSet("sid", true);
  bridge.notifyStoreDestroy("sid");
  bridge.notifyStoreCleanup(3);
  await bridge.close();
  // @ts-expect-error userId is augmented as a string
  await bridge.setById("sid", { userId: 42 });
  // @ts-expect-error maxAge is a number
  await bridge.setById("sid", {}, "1h");
}

// ---- Koa context ---------------------------------------------------------

app.use(async (ctx, next) => {
  const clientId: Equal<typeof ctx.clientId, string> = true;
  const sessionId: Equal<typeof ctx.sessionId, string | undefined> = true;
  // @ts-expect-error sessionId may be undefined
  const notYet: string = ctx.sessionId;
  // @ts-expect-error sessionId is read-only (after the read: an assignment would narrow it)
  ctx.sessionId = "x";
  await next();
});

// A context typed by the app (new Koa<S, C>) gets the same properties.
const typedApp = new Koa<Koa.DefaultState, { requestStartedAt: number }>();
typedApp.use((ctx) => {
  const sessionId: Equal<typeof ctx.sessionId, string | undefined> = true;
  const started: number = ctx.requestStartedAt;
});

// ---- sockets -------------------------------------------------------------

io.on("connection", (socket) => {
  const clientId: Equal<typeof socket.clientId, string> = true;
  const sessionId: Equal<typeof socket.sessionId, string | undefined> = true;
  // @ts-expect-error socket.sessionId is read-only
  socket.sessionId = "x";

  socket.on("save", async (userId: string) => {
    const count: number = await socket.withSession((s, sock) => {
      const id: Equal<typeof s.sessionId, string> = true;
      const user: Equal<NonNullable<typeof s.session>["userId"], string | undefined> = true;
      const same: Socket = sock;
      const owner: Socket = s.socket;
      if (s.session) s.session.userId = userId;
      return 1;
    });
    const maybe: number | string = await socket.withSession(() => 1, "no session");
    const viaFn: number | null = await socket.withSession(async () => 2, (sock: Socket) => (sock.connected ? null : null));
    const orThrow: string = await socket.withSession(() => "x", new Error("login first"));
    await socket.withSession((s) => {
      // A handler starts with a session: no null check to read or edit it.
      const typed: Equal<typeof s.session, SessionData> = true;
      s.session.userId = userId;
      s.session = null;
    });
    await socket.withSession((s) => {
      // @ts-expect-error the session id is read-only in a handler
      s.sessionId = "x";
    });
    await socket.withSession((s) => {
      // @ts-expect-error userId is augmented as a string
      s.session!.userId = 5;
    });
    // @ts-expect-error the handler must be a function
    await socket.withSession("not a function");
  });
});

createServer(app.callback());
io.attach(createServer());
export { broken, emitter, live, other, same, size, methods, nextSet };
