import type { Socket } from "socket.io";
import type { SessionData } from "../types.js";

/** What a `withSession` handler receives: the session to read or replace, its id and the socket. */
export class SessionContext<S extends object = SessionData> {
  #session: S | null;
  readonly #sessionId: string;
  readonly #socket: Socket;

  constructor(session: S, sessionId: string, socket: Socket) {
    this.#session = session;
    this.#sessionId = sessionId;
    this.#socket = socket;
  }

  /**
   * The session; edit it in place or replace it. A handler always starts with
   * a session, so reading needs no null check; assigning `null` destroys the
   * session once the handler returns.
   */
  get session(): S {
    // Typed as S: null is only ever what the handler itself assigned.
    return this.#session as S;
  }

  set session(session: S | null) {
    this.#session = session;
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
