/** How long a message waits for the earlier ones of its publisher before the gap is given up. */
const GAP_WAIT_MS = 250;
/** Publishers silent for this long are forgotten (processes restart with a new id). */
const IDLE_MS = 10 * 60_000;

interface Peer<T> {
  /** The sequence number expected next; `undefined` until the first gap wait of a new peer ended. */
  next: number | undefined;
  readonly held: Map<number, T>;
  timer: NodeJS.Timeout | undefined;
  seenAt: number;
}

/**
 * Gives each publisher's messages in the order it numbered them. On a Redis
 * Cluster, classic pub/sub travels over the cluster bus: two messages of one
 * publisher may reach a subscriber over different node links, swapped (a
 * login's "destroy old" before its "set new"). A message that comes after its
 * gap was given up cannot be put back in order: `late` is told instead, so
 * the owner can re-check what it missed.
 */
export class InOrder<T> {
  readonly #peers = new Map<string, Peer<T>>();
  readonly #deliver: (item: T) => void;
  readonly #late: () => void;

  constructor(deliver: (item: T) => void, late: () => void) {
    this.#deliver = deliver;
    this.#late = late;
  }

  push(publisher: string, seq: number, item: T): void {
    const now = Date.now();
    let peer = this.#peers.get(publisher);
    if (peer === undefined) {
      this.#forgetIdle(now);
      // Its earlier messages may still be on their way: the first gap wait decides where it starts.
      peer = { next: seq === 0 ? 0 : undefined, held: new Map(), timer: undefined, seenAt: now };
      this.#peers.set(publisher, peer);
    }
    peer.seenAt = now;
    if (peer.next !== undefined && seq < peer.next) {
      this.#late();
      return;
    }
    peer.held.set(seq, item);
    this.#drain(peer);
    if (peer.held.size > 0 && peer.timer === undefined) {
      peer.timer = setTimeout(() => this.#giveUpGap(peer), GAP_WAIT_MS);
      peer.timer.unref();
    }
  }

  /** Stops the gap timers. */
  clear(): void {
    for (const peer of this.#peers.values()) clearTimeout(peer.timer);
    this.#peers.clear();
  }

  #drain(peer: Peer<T>): void {
    if (peer.next === undefined) return;
    for (let item = peer.held.get(peer.next); item !== undefined || peer.held.has(peer.next); item = peer.held.get(peer.next)) {
      peer.held.delete(peer.next);
      peer.next += 1;
      this.#deliver(item as T);
    }
    if (peer.held.size === 0 && peer.timer !== undefined) {
      clearTimeout(peer.timer);
      peer.timer = undefined;
    }
  }

  #giveUpGap(peer: Peer<T>): void {
    peer.timer = undefined;
    if (peer.held.size === 0) return;
    const wasStarted = peer.next !== undefined;
    peer.next = Math.min(...peer.held.keys());
    this.#drain(peer);
    // A new peer's first wait is no loss: a gap after that is.
    if (wasStarted) this.#late();
    if (peer.held.size > 0) {
      peer.timer = setTimeout(() => this.#giveUpGap(peer), GAP_WAIT_MS);
      peer.timer.unref();
    }
  }

  #forgetIdle(now: number): void {
    for (const [publisher, peer] of this.#peers) {
      if (now - peer.seenAt > IDLE_MS && peer.held.size === 0) this.#peers.delete(publisher);
    }
  }
}
