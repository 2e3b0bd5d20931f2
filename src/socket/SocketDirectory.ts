import type { Socket } from "socket.io";
import type { ResolvedOptions } from "../options.js";

/**
 * The connected sockets of each client: keeps every socket in the room of
 * its client's current session and applies the destroy policy to them.
 */
export class SocketDirectory {
  readonly #byClient = new Map<string, Set<Socket>>();
  readonly #config: ResolvedOptions;

  constructor(config: ResolvedOptions) {
    this.#config = config;
  }

  /** The room of `sessionId`'s sockets. */
  roomOf(sessionId: string): string {
    return this.#config.roomPrefix + sessionId;
  }

  /** Tracks a socket that just connected, until it disconnects. */
  add(socket: Socket): void {
    const { clientId, sessionId } = socket;
    let sockets = this.#byClient.get(clientId);
    if (!sockets) this.#byClient.set(clientId, (sockets = new Set()));
    sockets.add(socket);
    if (sessionId !== undefined) void socket.join(this.roomOf(sessionId));
    socket.once("disconnect", () => {
      sockets.delete(socket);
      if (sockets.size === 0 && this.#byClient.get(clientId) === sockets) this.#byClient.delete(clientId);
    });
  }

  /** Whether the client has a connected socket in this process. */
  has(clientId: string): boolean {
    return this.#byClient.has(clientId);
  }

  /** The client's sockets now belong to `sessionId`. */
  joined(clientId: string, sessionId: string): void {
    for (const socket of this.#byClient.get(clientId) ?? []) void socket.join(this.roomOf(sessionId));
  }

  /** The client's sockets no longer belong to `sessionId`. */
  left(clientId: string, sessionId: string): void {
    for (const socket of this.#byClient.get(clientId) ?? []) void socket.leave(this.roomOf(sessionId));
  }

  /** The client's session `sessionId` was destroyed for good: apply `onSessionDestroy`. */
  ended(clientId: string, sessionId: string): void {
    const { onSessionDestroy, destroyEvent } = this.#config;
    if (onSessionDestroy === "keep") return;
    for (const socket of [...(this.#byClient.get(clientId) ?? [])]) {
      if (onSessionDestroy === "notify") socket.emit(destroyEvent, { sessionId });
      else socket.disconnect(true);
    }
  }
}
