import type { StoreGateway } from "../gateway/StoreGateway.js";
import type { Socket } from "socket.io";
import type { ResolvedOptions } from "../options.js";
import type { Boundary } from "./Boundary.js";
import type { ClientRegistry } from "./ClientRegistry.js";

/** What the HTTP and socket layers need from the bridge that owns them. */
export interface BridgeCore {
  readonly config: ResolvedOptions;
  readonly registry: ClientRegistry;
  readonly gateway: StoreGateway;
  /** Guards every function handed to engine.io, socket.io, Koa or a store's change feed. */
  readonly boundary: Boundary;
  /** Attaches a stored session found through a cookie (e.g. after a restart), when both sides are free. */
  adopt(clientId: string, sessionId: string): void;
  /** Called after each request's session was committed, to finish what that request started. */
  settle(ctx: object): void;
  /** Socket activity on `sessionId` (option `socketTouch`; a no-op when off). */
  touch(sessionId: string | undefined): void;
  /** The implementation behind `socket.withSession`. */
  withSession(socket: Socket, handler: unknown, onMissing?: unknown): Promise<unknown>;
}
