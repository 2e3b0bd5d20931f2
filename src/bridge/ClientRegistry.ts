import type { SessionDestroyEvent } from "./events.js";

/** The in-memory one-to-one map between client ids and session ids. */
export class ClientRegistry {
  readonly #sessionByClient = new Map<string, string>();
  readonly #clientBySession = new Map<string, string>();

  getSessionId(clientId: string): string | undefined {
    return this.#sessionByClient.get(clientId);
  }

  getClientId(sessionId: string): string | undefined {
    return this.#clientBySession.get(sessionId);
  }

  /** Pairs `clientId` with `sessionId`; returns the pairs this broke (the client's old session, the session's old client). */
  attach(clientId: string, sessionId: string): SessionDestroyEvent[] {
    const detached: SessionDestroyEvent[] = [];
    const oldSession = this.#sessionByClient.get(clientId);
    if (oldSession !== undefined && oldSession !== sessionId) {
      this.#clientBySession.delete(oldSession);
      detached.push({ clientId, sessionId: oldSession });
    }
    const oldClient = this.#clientBySession.get(sessionId);
    if (oldClient !== undefined && oldClient !== clientId) {
      this.#sessionByClient.delete(oldClient);
      detached.push({ clientId: oldClient, sessionId });
    }
    this.#sessionByClient.set(clientId, sessionId);
    this.#clientBySession.set(sessionId, clientId);
    return detached;
  }

  /** Unpairs `sessionId`; returns the client it belonged to. */
  detachSession(sessionId: string): string | undefined {
    const clientId = this.#clientBySession.get(sessionId);
    if (clientId === undefined) return undefined;
    this.#clientBySession.delete(sessionId);
    this.#sessionByClient.delete(clientId);
    return clientId;
  }

  /** Every attached session id. */
  sessionIds(): string[] {
    return [...this.#clientBySession.keys()];
  }
}
