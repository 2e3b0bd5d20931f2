import { TimeSlice } from "../timeSlice.js";

/** How an `ExpirySchedule` groups and drains ids. */
export interface ExpiryScheduleOptions {
  /** Width of one time slot in ms; an id falls due at the end of its slot. Default 1000. */
  slotMs?: number;
  /** Most ids handed to `onDue` at once. Default 256. */
  batchSize?: number;
  /** Longest run of draining before it yields to the event loop, in ms. Default 8. */
  sliceMs?: number;
  /** Called when `onDue` throws or rejects. */
  onError?: (error: Error) => void;
  /**
   * Keep the id → slot map (default `true`). Without it the caller passes the
   * previous time to `schedule`/`delete`, saving memory per id; a slot it
   * cannot reproduce (a past time was clamped) leaves a stale id behind, so
   * such a caller must check each id it is handed.
   */
  reverseMap?: boolean;
}

/** Node fires a longer timeout at once (with a warning): a far slot is re-aimed at when this runs out. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Most ids per `Set` of a slot. V8 sizes a `Set` by powers of two, so one
 * `Set` per slot wastes up to half its room; full chunks of a power of two
 * waste none (about 20 bytes per id instead of up to 40).
 */
const CHUNK = 4096;

/** Adds `slot` to the binary min-heap `heap`. */
function heapPush(heap: number[], slot: number): void {
  let at = heap.push(slot) - 1;
  while (at > 0) {
    const parent = (at - 1) >> 1;
    if (heap[parent]! <= slot) break;
    heap[at] = heap[parent]!;
    at = parent;
  }
  heap[at] = slot;
}

/** Removes the smallest slot of the binary min-heap `heap`. */
function heapPop(heap: number[]): void {
  const last = heap.pop()!;
  if (heap.length === 0) return;
  let at = 0;
  for (;;) {
    let child = 2 * at + 1;
    if (child >= heap.length) break;
    if (child + 1 < heap.length && heap[child + 1]! < heap[child]!) child++;
    if (heap[child]! >= last) break;
    heap[at] = heap[child]!;
    at = child;
  }
  heap[at] = last;
}

/**
 * When each of many ids falls due, with one timer for all of them: ids sit
 * in coarse time slots (`Set`s of at most `CHUNK` ids per slot), a reverse map makes rescheduling
 * and removal O(1), and the one `unref()`ed timer aims at the earliest slot.
 * Due ids are handed to `onDue` in batches, yielding to the event loop
 * between time slices.
 */
export class ExpirySchedule {
  readonly #slots = new Map<number, Set<string>[]>();
  readonly #slotOf = new Map<string, number>();
  /** Slot numbers that had a `Set` when pushed; a slot emptied since is skipped. */
  readonly #order: number[] = [];
  readonly #onDue: (ids: string[]) => unknown;
  readonly #slotMs: number;
  readonly #batchSize: number;
  readonly #sliceMs: number;
  readonly #onError: (error: Error) => void;
  readonly #reverseMap: boolean;
  #timer: NodeJS.Timeout | undefined;
  #timerSlot = Infinity;
  #draining = false;
  #closed = false;

  constructor(onDue: (ids: string[]) => unknown, options: ExpiryScheduleOptions = {}) {
    this.#onDue = onDue;
    this.#slotMs = options.slotMs ?? 1000;
    this.#batchSize = options.batchSize ?? 256;
    this.#sliceMs = options.sliceMs ?? 8;
    this.#onError = options.onError ?? (() => {});
    this.#reverseMap = options.reverseMap ?? true;
  }

  /** How many ids are scheduled (counted by the reverse map: 0 without it). */
  get size(): number {
    return this.#slotOf.size;
  }

  /** When `id` falls due (the end of its slot, epoch ms), or `undefined`. */
  dueAt(id: string): number | undefined {
    const slot = this.#slotOf.get(id);
    return slot === undefined ? undefined : slot * this.#slotMs;
  }

  /**
   * Schedules `id` for `at` (epoch ms), replacing its previous time (pass it
   * as `previousAt` without the reverse map); a past time means the next slot.
   */
  schedule(id: string, at: number, previousAt?: number): void {
    if (this.#closed) return;
    const slotMs = this.#slotMs;
    // Never into a slot that is already due: a drain in progress must not meet ids it just rescheduled.
    const slot = Math.max(Math.floor(at / slotMs) + 1, Math.floor(Date.now() / slotMs) + 1);
    const previous = this.#previousSlot(id, previousAt);
    if (previous === slot && this.#has(slot, id)) return;
    if (previous !== undefined) this.#remove(id, previous);
    let chunks = this.#slots.get(slot);
    if (!chunks) {
      this.#slots.set(slot, (chunks = []));
      heapPush(this.#order, slot);
    }
    let last = chunks[chunks.length - 1];
    if (last === undefined || last.size >= CHUNK) chunks.push((last = new Set()));
    last.add(id);
    if (this.#reverseMap) this.#slotOf.set(id, slot);
    if (!this.#draining && slot < this.#timerSlot) this.#arm(slot);
  }

  /** Unschedules `id` (scheduled for `at`, without the reverse map); `false` when it was not scheduled. */
  delete(id: string, at?: number): boolean {
    const slot = this.#previousSlot(id, at);
    if (slot === undefined || !this.#has(slot, id)) return false;
    this.#remove(id, slot);
    return true;
  }

  #previousSlot(id: string, at: number | undefined): number | undefined {
    if (this.#reverseMap) return this.#slotOf.get(id);
    return at === undefined ? undefined : Math.floor(at / this.#slotMs) + 1;
  }

  /** Stops the timer and forgets every id; later calls to `schedule` do nothing. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#slots.clear();
    this.#slotOf.clear();
    this.#order.length = 0;
  }

  #has(slot: number, id: string): boolean {
    const chunks = this.#slots.get(slot);
    return chunks !== undefined && chunks.some((ids) => ids.has(id));
  }

  #remove(id: string, slot: number): void {
    this.#slotOf.delete(id);
    const chunks = this.#slots.get(slot);
    if (!chunks) return;
    const at = chunks.findIndex((ids) => ids.delete(id));
    if (at === -1 || chunks[at]!.size > 0) return;
    chunks.splice(at, 1);
    if (chunks.length === 0) this.#slots.delete(slot);
  }

  /** The earliest slot that still holds ids, dropping emptied ones from the heap. */
  #earliest(): number | undefined {
    const order = this.#order;
    while (order.length > 0 && !this.#slots.has(order[0]!)) heapPop(order);
    return order[0];
  }

  #arm(slot: number): void {
    clearTimeout(this.#timer);
    this.#timerSlot = slot;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerSlot = Infinity;
      void this.#drain();
    }, Math.min(Math.max(0, slot * this.#slotMs - Date.now()), MAX_TIMER_MS));
    this.#timer.unref();
  }

  async #drain(): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    try {
      const slice = new TimeSlice(this.#sliceMs);
      let batch: string[] = [];
      for (;;) {
        if (this.#closed) return;
        const slot = this.#earliest();
        if (slot === undefined || slot * this.#slotMs > Date.now()) break;
        const chunks = this.#slots.get(slot)!;
        const ids = chunks[0]!;
        for (const id of ids) {
          ids.delete(id);
          this.#slotOf.delete(id);
          if (batch.push(id) >= this.#batchSize) break;
        }
        if (ids.size === 0) chunks.shift();
        if (chunks.length === 0) this.#slots.delete(slot);
        if (batch.length >= this.#batchSize) {
          await this.#hand(batch);
          batch = [];
        }
        // Yield only once the slice is spent: a turn per batch would stretch a large drain for nothing.
        if (slice.spent()) {
          if (batch.length > 0) await this.#hand(batch);
          batch = [];
          await slice.pause();
        }
      }
      if (batch.length > 0) await this.#hand(batch);
    } finally {
      this.#draining = false;
      const next = this.#closed ? undefined : this.#earliest();
      if (next !== undefined) this.#arm(next);
    }
  }

  async #hand(ids: string[]): Promise<void> {
    try {
      await this.#onDue(ids);
    } catch (error) {
      this.#onError(error as Error);
    }
  }
}
