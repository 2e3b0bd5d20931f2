import type { Socket } from "socket.io";
import type { Boundary } from "../bridge/Boundary.js";
import type { ResolvedOptions } from "../options.js";

/**
 * The connected sockets of each client: keeps every socket in the room of
 * its client's current session and applies the destroy policy to them.
 */
export class SocketDirectory {
  readonly #byClient = new Map<string, Set<Socket>>();
  readonly #config: ResolvedOptions;
  readonly #boundary: Boundary;
  // An adapter's join/leave may return a promise (e.g. across a cluster) that nothing else would observe.
  readonly #join: (socket: Socket, room: string) => unknown;
  readonly #leave: (socket: Socket, room: string) => unknown;

  constructor(config: ResolvedOptions, boundary: Boundary) {
    this.#config = config;
    this.#boundary = boundary;
    this.#join = boundary.guard("socket.join", (socket: Socket, room: string) => socket.join(room));
    this.#leave = boundary.guard("socket.leave", (socket: Socket, room: string) => socket.leave(room));
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
    if (sessionId !== undefined) this.#join(socket, this.roomOf(sessionId));
    socket.once("disconnect", this.#boundary.guard("disconnect listener", () => {
      sockets.delete(socket);
      if (sockets.size === 0 && this.#byClient.get(clientId) === sockets) this.#byClient.delete(clientId);
    }));
  }

  /** Whether the client has a connected socket in this process. */
  has(clientId: string): boolean {
    return this.#byClient.has(clientId);
  }

  /** The client's sockets now belong to `sessionId`. */
  joined(clientId: string, sessionId: string): void {
    for (const socket of this.#byClient.get(clientId) ?? []) this.#join(socket, this.roomOf(sessionId));
  }

  /** The client's sockets no longer belong to `sessionId`. */
  left(clientId: string, sessionId: string): void {
    for (const socket of this.#byClient.get(clientId) ?? []) this.#leave(socket, this.roomOf(sessionId));
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
