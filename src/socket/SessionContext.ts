import type { Socket } from "socket.io";
import type { SessionData } from "../types.js";

/** What a `withSession` handler receives: the session to read or replace, its id and the socket. */
export class SessionContext<S extends object = SessionData> {
  /** The session; edit it in place, replace it, or set `null` to destroy it. */
  session: S | null;
  readonly #sessionId: string;
  readonly #socket: Socket;

  constructor(session: S, sessionId: string, socket: Socket) {
    this.session = session;
    this.#sessionId = sessionId;
    this.#socket = socket;
  }

  /** The id of the session the handler runs on. */
  get sessionId(): string {
    return this.#sessionId;
  }

  /** The socket that called `withSession`. */
  get socket(): Socket {
    return this.#socket;
  }
}
