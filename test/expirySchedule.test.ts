import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ExpirySchedule } from "../src/bridge/ExpirySchedule.js";

let schedules: ExpirySchedule[] = [];

beforeEach(() => {
  vi.useFakeTimers({ now: 1_000_000 });
});

afterEach(() => {
  for (const schedule of schedules.splice(0)) schedule.close();
  vi.useRealTimers();
});

/** A schedule that records each batch it hands over. */
function recording(options: ConstructorParameters<typeof ExpirySchedule>[1] = {}) {
  const batches: string[][] = [];
  const schedule = new ExpirySchedule((ids) => void batches.push(ids), options);
  schedules.push(schedule);
  return { schedule, batches, due: () => batches.flat() };
}

describe("ExpirySchedule", () => {
  it("hands an id over at the end of its one-second slot, not before", async () => {
    const { schedule, due } = recording();
    schedule.schedule("a", Date.now() + 2_500);
    expect(schedule.dueAt("a")).toBe(1_003_000);
    await vi.advanceTimersByTimeAsync(2_999);
    expect(due()).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(due()).toEqual(["a"]);
    expect(schedule.size).toBe(0);
  });

  it("keeps one timer for many ids and fires it once per slot", async () => {
    const { schedule, batches } = recording();
    for (let i = 0; i < 1000; i++) schedule.schedule(`s${i}`, Date.now() + 100 + (i % 3) * 1000);
    expect(vi.getTimerCount()).toBe(1);
    // Batches after the first come on later turns (immediates), a few fake ms on.
    await vi.advanceTimersByTimeAsync(1_050);
    expect(batches.flat()).toHaveLength(334);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(batches.flat()).toHaveLength(1000);
    expect(new Set(batches.flat()).size).toBe(1000);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("moves a rescheduled id and forgets a deleted one", async () => {
    const { schedule, due } = recording();
    schedule.schedule("moved", Date.now() + 500);
    schedule.schedule("deleted", Date.now() + 500);
    schedule.schedule("moved", Date.now() + 5_500);
    expect(schedule.delete("deleted")).toBe(true);
    expect(schedule.delete("deleted")).toBe(false);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(due()).toEqual([]);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(due()).toEqual(["moved"]);
  });

  it("re-arms its timer to an earlier slot", async () => {
    const { schedule, due } = recording();
    schedule.schedule("late", Date.now() + 60_000);
    schedule.schedule("early", Date.now() + 1_500);
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(due()).toEqual(["early"]);
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(due()).toEqual(["early", "late"]);
  });

  it("puts a past time into the next slot", async () => {
    const { schedule, due } = recording();
    schedule.schedule("past", Date.now() - 60_000);
    expect(schedule.dueAt("past")).toBe(1_001_000);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(due()).toEqual(["past"]);
  });

  it("keeps many ids of one slot apart from each other: moves and deletes reach each one, wherever it sits", async () => {
    const { schedule, due } = recording();
    for (let i = 0; i < 10_000; i++) schedule.schedule(`s${i}`, Date.now());
    for (let i = 0; i < 10_000; i += 3) expect(schedule.delete(`s${i}`)).toBe(true);
    for (let i = 1; i < 10_000; i += 3) schedule.schedule(`s${i}`, Date.now() + 5_000);
    expect(schedule.delete("s0")).toBe(false);
    expect(schedule.size).toBe(10_000 - 3_334);
    await vi.advanceTimersByTimeAsync(2_000);
    const first = new Set(due());
    expect(first.size).toBe(3_333);
    for (let i = 2; i < 10_000; i += 3) expect(first.has(`s${i}`)).toBe(true);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(due()).toHaveLength(3_333 * 2);
    expect(new Set(due()).size).toBe(3_333 * 2);
    expect(schedule.size).toBe(0);
  });

  it("drains in capped batches, one batch per event-loop turn", async () => {
    const { schedule, batches } = recording({ batchSize: 100 });
    for (let i = 0; i < 1050; i++) schedule.schedule(`s${i}`, Date.now());
    await vi.advanceTimersByTimeAsync(1_050);
    expect(batches.map((batch) => batch.length)).toEqual([100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 50]);
  });

  it("waits for an async onDue before the next batch, and takes ids rescheduled by it later", async () => {
    const seen: string[][] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const schedule: ExpirySchedule = new ExpirySchedule(async (ids) => {
      seen.push(ids);
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      await new Promise((resolve) => setTimeout(resolve, 10));
      inFlight--;
      // A refreshed session comes back later, never inside the same drain.
      if (ids.includes("again")) schedule.schedule("again", Date.now() + 3_000);
    }, { batchSize: 2 });
    schedules.push(schedule);
    for (const id of ["a", "b", "again", "c"]) schedule.schedule(id, Date.now());
    await vi.advanceTimersByTimeAsync(1_100);
    expect(seen).toEqual([["a", "b"], ["again", "c"]]);
    expect(maxInFlight).toBe(1);
    await vi.advanceTimersByTimeAsync(3_500);
    expect(seen).toEqual([["a", "b"], ["again", "c"]]);
    await vi.advanceTimersByTimeAsync(500);
    expect(seen).toEqual([["a", "b"], ["again", "c"], ["again"]]);
  });

  it("reports a failing onDue and goes on", async () => {
    const errors: Error[] = [];
    const handed: string[] = [];
    const schedule = new ExpirySchedule((ids) => {
      handed.push(...ids);
      if (ids[0] === "bad") throw new Error("boom");
    }, { batchSize: 1, onError: (error) => errors.push(error) });
    schedules.push(schedule);
    schedule.schedule("bad", Date.now());
    schedule.schedule("good", Date.now() + 1_000);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(handed).toEqual(["bad", "good"]);
    expect(errors.map((error) => error.message)).toEqual(["boom"]);
  });

  it("close() stops the timer and ignores later schedules", async () => {
    const { schedule, due } = recording();
    schedule.schedule("a", Date.now() + 500);
    schedule.close();
    expect(vi.getTimerCount()).toBe(0);
    schedule.schedule("b", Date.now() + 500);
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(due()).toEqual([]);
    expect(schedule.size).toBe(0);
  });
});

describe("ExpirySchedule far away", () => {
  it("waits for a time beyond Node's longest timeout (24.8 days) without firing early", async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on("warning", onWarning);
    try {
      const { schedule, due } = recording();
      const thirtyDays = 30 * 86_400_000;
      schedule.schedule("far", Date.now() + thirtyDays);
      await vi.advanceTimersByTimeAsync(1_000);
      expect(due()).toEqual([]);
      await vi.advanceTimersByTimeAsync(thirtyDays - 2_000);
      expect(due()).toEqual([]);
      await vi.advanceTimersByTimeAsync(2_000);
      expect(due()).toEqual(["far"]);
      expect(warnings).toEqual([]);
    } finally {
      process.off("warning", onWarning);
    }
  });
});
