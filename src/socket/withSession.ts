import type { Socket } from "socket.io";
import { invalidType, stateError } from "../errors.js";
import type { StoreGateway } from "../gateway/StoreGateway.js";
import { isThenable } from "../thenable.js";
import type { SessionData } from "../types.js";
import { SessionContext } from "./SessionContext.js";
import type { SessionQueue } from "./SessionQueue.js";

/** Handler of `socket.withSession`. */
export type SessionHandler<T, S extends object = SessionData> = (
  sessionCtx: SessionContext<S>,
  socket: Socket,
) => T | Promise<T>;

/** What `socket.withSession` does when the socket has no session. */
export type OnMissing<F> = Error | ((socket: Socket) => F | Promise<F>) | F;

/** How many times a call follows a socket whose session id changed while it waited. */
const MAX_FOLLOWS = 8;
const MOVED = Symbol("moved");
const MISSING = Symbol("missing");

/** Runs `handler` on the socket's current session, one call per session id at a time. */
export async function withSession<T>(
  queue: SessionQueue,
  gateway: StoreGateway,
  socket: Socket,
  handler: SessionHandler<T>,
  onMissing?: unknown,
): Promise<unknown> {
  if (typeof handler !== "function") throw invalidType("handler", "a function", handler);
  for (let attempt = 0; attempt < MAX_FOLLOWS; attempt++) {
    const sessionId = socket.sessionId;
    if (sessionId === undefined) return missing(socket, onMissing);
    // A call that found the queue free runs at once (inside run()), so its id cannot have moved meanwhile.
    let waited = false;
    const running = queue.run(sessionId, () => runOnce(gateway, socket, sessionId, handler, waited));
    waited = true;
    const outcome = await running;
    if (outcome === MISSING) return missing(socket, onMissing);
    if (outcome !== MOVED) return outcome;
  }
  throw stateError(`The session of this socket changed ${MAX_FOLLOWS} times while withSession() waited; giving up.`);
}

async function runOnce<T>(
  gateway: StoreGateway,
  socket: Socket,
  sessionId: string,
  handler: SessionHandler<T>,
  waited: boolean,
): Promise<T | typeof MOVED | typeof MISSING> {
  // The id may have moved (login, logout) while this call waited its turn.
  if (waited && socket.sessionId !== sessionId) return MOVED;
  // Awaited even from a sync store: the queue records this call as running only once run() returns,
  // so the handler (which may call withSession again) must not run before that.
  const loaded = await gateway.load(sessionId);
  if (loaded === undefined) return MISSING;
  const sessionCtx = new SessionContext(loaded.data, sessionId, socket);
  const returned = handler(sessionCtx, socket);
  // A sync handler's value needs no turn of the microtask queue.
  const value = isThenable(returned) ? await returned : returned;
  const saving = gateway.update(sessionId, loaded, sessionCtx.session);
  if (isThenable(saving)) await saving;
  return value;
}

function missing(socket: Socket, onMissing: unknown): unknown {
  if (onMissing === undefined) throw stateError("Session is missing for this socket.");
  if (onMissing instanceof Error) throw onMissing;
  if (typeof onMissing === "function") return onMissing(socket);
  return onMissing;
}
