import type { RedisAccess, RedisSubscription } from "./client.js";

/** What the feed listens to and where it reports. */
export interface RedisFeedOptions {
  /** The change and lock channels: classic pub/sub, which a cluster delivers on every node, so one subscription hears them. */
  changeChannels: string[];
  /** Keyspace notification channels: node-local, so subscribed on every master. */
  expiryChannels: string[];
  onMessage: (channel: string, message: string) => void;
  /** Messages may have been missed (a subscriber reconnected, a master appeared): the listener should re-check. */
  onResync: () => void;
}

/** How often a cluster's masters are compared with the subscriptions, to follow a failover or a resharding. */
const TOPOLOGY_CHECK_MS = 2000;

/**
 * The subscriber connections of one RedisStore: one per master (the change
 * channel on the first, by id; the expiry channels on each), opened again
 * when the cluster's masters change.
 */
export class RedisFeed {
  readonly #access: RedisAccess;
  readonly #options: RedisFeedOptions;
  /** Subscriptions by master id and channels. */
  readonly #subscriptions = new Map<string, RedisSubscription>();
  readonly #stops: (() => void)[] = [];
  #running = false;
  #refreshing = false;
  #again = false;
  #first = true;

  constructor(access: RedisAccess, options: RedisFeedOptions) {
    this.#access = access;
    this.#options = options;
  }

  /** Opens the subscriptions and follows the topology until `stop()`. */
  start(): void {
    this.#running = true;
    void this.#refresh();
    this.#stops.push(this.#access.onReady(() => void this.#refresh()));
    if (this.#access.isCluster) {
      const timer = setInterval(() => {
        void this.#access.discover?.().then(() => this.#refresh(), () => {});
        void this.#refresh();
      }, TOPOLOGY_CHECK_MS);
      timer.unref();
      this.#stops.push(() => clearInterval(timer));
    }
  }

  /** Closes every subscriber connection at once. */
  stop(): void {
    this.#running = false;
    for (const stop of this.#stops.splice(0)) stop();
    for (const subscription of this.#subscriptions.values()) subscription.close();
    this.#subscriptions.clear();
  }

  async #refresh(): Promise<void> {
    if (this.#refreshing) {
      this.#again = true;
      return;
    }
    this.#refreshing = true;
    try {
      do {
        this.#again = false;
        await this.#follow();
      } while (this.#again && this.#running);
    } finally {
      this.#refreshing = false;
    }
  }

  async #follow(): Promise<void> {
    let masters;
    try {
      masters = await this.#access.masters();
    } catch {
      return; // Not reachable yet: the next check or reconnect tries again.
    }
    if (!this.#running || masters.length === 0) return;
    const { changeChannels, expiryChannels, onMessage } = this.#options;
    const first = masters.map((m) => m.id).sort()[0];
    const wanted = new Map(masters.map((m) => [m.id === first ? `${m.id} changes` : m.id, m]));
    for (const [key, subscription] of this.#subscriptions) {
      if (wanted.has(key)) continue;
      subscription.close();
      this.#subscriptions.delete(key);
    }
    // A subscription opened after the first ones may have missed messages from before it.
    const subscribedBefore = !this.#first;
    this.#first = false;
    for (const [key, master] of wanted) {
      if (this.#subscriptions.has(key)) continue;
      const channels = master.id === first ? [...changeChannels, ...expiryChannels] : expiryChannels;
      if (channels.length === 0) continue;
      let before = subscribedBefore;
      this.#subscriptions.set(key, master.subscribe(channels, onMessage, () => {
        if (before) void this.#resync();
        before = true;
      }));
    }
  }

  /** Reports a resync once the client can answer the re-checks it causes. */
  async #resync(): Promise<void> {
    if (!this.#access.ready) {
      await new Promise<void>((resolve) => {
        const stop = this.#access.onReady(() => {
          stop();
          resolve();
        });
        this.#stops.push(() => {
          stop();
          resolve();
        });
      });
    }
    if (this.#running) this.#options.onResync();
  }
}
