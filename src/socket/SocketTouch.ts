import type { StoreGateway } from "../gateway/StoreGateway.js";
import type { SessionQueue } from "./SessionQueue.js";

/**
 * Option `socketTouch`: socket activity refreshes the session's expiry as a
 * rolling HTTP save would (store TTL and `_expire`), at most once per
 * interval per session, without a `sessionSet` since nothing changed.
 */
export class SocketTouch {
  readonly #intervalMs: number;
  readonly #queue: SessionQueue;
  readonly #gateway: StoreGateway;
  readonly #report: (error: Error) => void;
  /** When each session was last touched; an entry leaves with its session. */
  readonly #touchedAt = new Map<string, number>();

  constructor(intervalMs: number, queue: SessionQueue, gateway: StoreGateway, report: (error: Error) => void) {
    this.#intervalMs = intervalMs;
    this.#queue = queue;
    this.#gateway = gateway;
    this.#report = report;
  }

  /** Refreshes `sessionId` unless it was refreshed less than an interval ago. Never throws. */
  touch(sessionId: string | undefined): void {
    if (sessionId === undefined) return;
    const now = Date.now();
    const last = this.#touchedAt.get(sessionId);
    if (last !== undefined && now - last < this.#intervalMs) return;
    this.#touchedAt.set(sessionId, now);
    this.#queue.run(sessionId, () => this.#refresh(sessionId)).catch((error: Error) => this.#report(error));
  }

  /** The session is gone. */
  forget(sessionId: string): void {
    this.#touchedAt.delete(sessionId);
  }

  async #refresh(sessionId: string): Promise<void> {
    const loaded = await this.#gateway.load(sessionId);
    // Saved unchanged with its own lifetime: only the expiry moves, as in a rolling save.
    if (loaded !== undefined) await this.#gateway.update(sessionId, loaded, loaded.data, undefined, true);
  }
}
