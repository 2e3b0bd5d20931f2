import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bookkeepingOf, joinRecordJson, sameContentJson, tailStart, userJsonOf } from "../src/gateway/recordJson.js";

const bookkeeping = ["_expire", "_maxAge", "_session"];
const userData = fc.dictionary(fc.string().filter((key) => !bookkeeping.includes(key) && key !== "__proto__"), fc.jsonValue());
const tails = fc.oneof(
  // Numbers JSON writes without an exponent: integers of any size and sign, and fractions.
  fc.tuple(fc.oneof(fc.integer({ min: 0 }), fc.integer().map((n) => n / 8), fc.maxSafeNat()), fc.oneof(fc.integer({ min: 1 }), fc.maxSafeNat()))
    .map(([expire, maxAge]) => ({ _expire: expire, _maxAge: maxAge })),
  fc.constant({ _session: true }),
);

describe("stored record JSON, cut instead of parsed", () => {
  it("cuts what koa-session writes into the user's data and the bookkeeping, and joins it back", () => {
    fc.assert(fc.property(userData, tails, (data, tail) => {
      const json = JSON.stringify({ ...data, ...tail });
      const at = tailStart(json);
      const user = userJsonOf(json, at);
      expect(user).toBe(JSON.stringify(data));
      expect(json.slice(at, -1)).toBe(JSON.stringify(tail).slice(1, -1));
      expect(joinRecordJson(user, json.slice(at, -1))).toBe(json);
    }));
  });

  it("reads the bookkeeping and the user's JSON where the bookkeeping starts, as parsing the whole record would", () => {
    fc.assert(fc.property(userData, tails, (data, tail) => {
      const json = JSON.stringify({ ...data, ...tail });
      const at = tailStart(json);
      expect(bookkeepingOf(json, at)).toEqual(tail);
      expect(JSON.parse(userJsonOf(json, at))).toEqual(JSON.parse(JSON.stringify(data)));
    }));
    for (const [expire, maxAge] of [[0, 1], [-5, 1.5], [2 ** 53 + 2, 10], [1e21, 7]]) {
      const json = JSON.stringify({ a: 1, _expire: expire, _maxAge: maxAge });
      const at = tailStart(json);
      expect(at === -1 ? JSON.parse(json).a : bookkeepingOf(json, at)).toEqual(at === -1 ? 1 : { _expire: expire, _maxAge: maxAge });
    }
    expect(tailStart('{"a":1}')).toBe(-1);
    expect(tailStart('{"a":1,"_expire":00,"_maxAge":2}')).toBe(-1);
    expect(tailStart('{"a":1,"_expire":1,"_maxAge":02}')).toBe(-1);
    // Not numbers as JSON writes them (so not valid JSON): left to the whole parse, which refuses them.
    expect(tailStart('{"a":1,"_expire":01,"_maxAge":2}')).toBe(-1);
  });

  it("does not cut other layouts", () => {
    expect(tailStart('{"a":1}')).toBe(-1);
    expect(tailStart('{"a":{"_expire":1,"_maxAge":2}}')).toBe(-1);
    expect(tailStart('{"_expire":1,"a":2,"_maxAge":3}')).toBe(-1);
    expect(tailStart('{"a":{"_session":true}}')).toBe(-1);
    expect(tailStart('"_session":true}')).toBe(-1);
  });

  it("compares records apart from _expire exactly like parsing them would", () => {
    fc.assert(fc.property(userData, userData, tails, tails, fc.boolean(), (a, b, tailA, tailB, same) => {
      const first = JSON.stringify({ ...a, ...tailA });
      const second = JSON.stringify({ ...(same ? a : b), ...tailB });
      const { _expire: _x, ...left } = JSON.parse(first);
      const { _expire: _y, ...right } = JSON.parse(second);
      expect(sameContentJson(first, second)).toBe(JSON.stringify(left) === JSON.stringify(right));
    }));
    expect(sameContentJson('{"a":1,"_expire":5,"_maxAge":9}', '{"a":1,"_expire":7,"_maxAge":9}')).toBe(true);
    expect(sameContentJson('{"a":1,"_expire":5,"_maxAge":9}', '{"a":1,"_expire":7,"_maxAge":8}')).toBe(false);
    expect(sameContentJson('{"_expire":5,"a":1}', '{"a":2}')).toBe(false);
    expect(sameContentJson('{"_expire":5,"a":1}', '{"_expire":6,"a":1}')).toBe(true);
  });
});
