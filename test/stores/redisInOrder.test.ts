import { afterEach, describe, expect, it, vi } from "vitest";
import { InOrder } from "../../src/stores/redis/inOrder.js";

function setup() {
  const delivered: string[] = [];
  let late = 0;
  const inOrder = new InOrder<string>((item) => delivered.push(item), () => late++);
  return { inOrder, delivered, late: () => late };
}

describe("announcements put back in their publisher's order", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("delivers a publisher's messages in sequence even when they arrive swapped", () => {
    const { inOrder, delivered, late } = setup();
    inOrder.push("a", 0, "set s1");
    inOrder.push("a", 2, "set s2");
    inOrder.push("a", 1, "destroy s1");
    expect(delivered).toEqual(["set s1", "destroy s1", "set s2"]);
    expect(late()).toBe(0);
    inOrder.clear();
  });

  it("keeps publishers apart", () => {
    const { inOrder, delivered } = setup();
    inOrder.push("a", 0, "a0");
    inOrder.push("b", 0, "b0");
    inOrder.push("b", 1, "b1");
    inOrder.push("a", 1, "a1");
    expect(delivered).toEqual(["a0", "b0", "b1", "a1"]);
    inOrder.clear();
  });

  it("waits for a new publisher's earlier messages, then starts at the lowest it has", () => {
    vi.useFakeTimers();
    const { inOrder, delivered, late } = setup();
    inOrder.push("a", 8, "second");
    inOrder.push("a", 7, "first");
    expect(delivered).toEqual([]);
    vi.advanceTimersByTime(300);
    expect(delivered).toEqual(["first", "second"]);
    expect(late()).toBe(0);
    inOrder.push("a", 9, "third");
    expect(delivered).toEqual(["first", "second", "third"]);
    inOrder.clear();
  });

  it("gives up a gap after a moment, delivers what follows, and reports a message that comes after that as late", () => {
    vi.useFakeTimers();
    const { inOrder, delivered, late } = setup();
    inOrder.push("a", 0, "m0");
    inOrder.push("a", 2, "m2");
    expect(delivered).toEqual(["m0"]);
    vi.advanceTimersByTime(300);
    expect(delivered).toEqual(["m0", "m2"]);
    expect(late()).toBe(1);
    inOrder.push("a", 1, "m1");
    expect(delivered).toEqual(["m0", "m2"]);
    expect(late()).toBe(2);
    inOrder.clear();
  });
});
