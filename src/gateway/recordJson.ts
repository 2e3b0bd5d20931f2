import type { SessionRecord } from "./record.js";

// koa-session (and this package) serialize `{ ...userData, _expire, _maxAge }`
// or `{ ...userData, _session: true }`: the bookkeeping always comes last, so
// it can be cut off the string instead of parsing and re-serializing.
// Numbers as JSON.stringify writes them, so what matches is valid JSON.
const EXPIRING_TAIL = /"_expire":-?(?:0|[1-9]\d*)(?:\.\d+)?,"_maxAge":-?(?:0|[1-9]\d*)(?:\.\d+)?\}$/y;
const SESSION_TAIL = '"_session":true}';
const EXPIRE = '"_expire":';
const MAX_AGE = ',"_maxAge":';

/** Where the run of digits that ends at `end` in `json` starts (`end` when there is none). */
function digitsFrom(json: string, end: number): number {
  let at = end;
  while (at > 0) {
    const code = json.charCodeAt(at - 1);
    if (code < 0x30 || code > 0x39) break;
    at--;
  }
  return at;
}

/** Whether the digits `json[from, to)` are an integer as JSON writes it (no leading zero). */
function isInteger(json: string, from: number, to: number): boolean {
  return to > from && (to - from === 1 || json.charCodeAt(from) !== 0x30);
}

/**
 * `tailStart` for what nearly every record ends with, read backwards
 * without a search or a regex: `"_expire":<integer>,"_maxAge":<integer>}`.
 */
function integerTailStart(json: string): number {
  const end = json.length - 1;
  if (json.charCodeAt(end) !== 0x7d) return -1;
  const maxAge = digitsFrom(json, end);
  const key = maxAge - MAX_AGE.length;
  // Compared as slices: much quicker in V8 than startsWith at a position.
  if (key < 0 || !isInteger(json, maxAge, end) || json.slice(key, maxAge) !== MAX_AGE) return -1;
  const expire = digitsFrom(json, key);
  const at = expire - EXPIRE.length;
  return at >= 0 && isInteger(json, expire, key) && json.slice(at, expire) === EXPIRE ? at : -1;
}

/** The number written in `json[from, to)`: plain digits summed, anything else (sign, fraction, too long to be exact) left to `Number`. */
function numberAt(json: string, from: number, to: number): number {
  if (to - from > 15) return Number(json.slice(from, to));
  let value = 0;
  for (let at = from; at < to; at++) {
    const digit = json.charCodeAt(at) - 0x30;
    if (digit < 0 || digit > 9) return Number(json.slice(from, to));
    value = value * 10 + digit;
  }
  return value;
}

/**
 * Where the bookkeeping starts in `json` (the index of its first quote), or
 * -1 when `json` is not laid out as koa-session writes it.
 */
export function tailStart(json: string): number {
  let at = integerTailStart(json);
  if (at === -1) {
    // Negative or fractional numbers: rare enough for a search and a regex.
    at = json.lastIndexOf(EXPIRE);
    EXPIRING_TAIL.lastIndex = at;
    if (at !== -1 && !EXPIRING_TAIL.test(json)) at = -1;
  }
  if (at === -1 && json.endsWith(SESSION_TAIL)) at = json.length - SESSION_TAIL.length;
  if (at < 1) return -1;
  const before = json.charCodeAt(at - 1);
  // "{" only for empty user data, "," after the user's last field.
  if (before === 0x7b ? at !== 1 : before !== 0x2c) return -1;
  return at;
}

/** Whether the bookkeeping starting at `at` is `"_session":true` (the only tail that short). */
function isSessionTail(json: string, at: number): boolean {
  return json.length - at === SESSION_TAIL.length;
}

/** The user data's JSON of a record laid out as koa-session writes it, its bookkeeping starting at `at`. */
export function userJsonOf(json: string, at: number): string {
  return at === 1 ? "{}" : `${json.slice(0, at - 1)}}`;
}

/** koa-session's fields of a record laid out as koa-session writes it, its bookkeeping starting at `at`. */
export function bookkeepingOf(json: string, at: number): SessionRecord {
  if (isSessionTail(json, at)) return { _session: true };
  const maxAgeAt = json.indexOf(MAX_AGE, at);
  return {
    _expire: numberAt(json, at + EXPIRE.length, maxAgeAt),
    _maxAge: numberAt(json, maxAgeAt + MAX_AGE.length, json.length - 1),
  };
}

/** The stored JSON of user data (serialized) followed by its bookkeeping fields. */
export function joinRecordJson(user: string, tail: string): string {
  return user === "{}" ? `{${tail}}` : `${user.slice(0, -1)},${tail}}`;
}

/** What stays of a record's bookkeeping (starting at `at`) when its `_expire` stamp is left out. */
function keptTail(json: string, at: number): string {
  return isSessionTail(json, at) ? SESSION_TAIL : json.slice(json.indexOf(MAX_AGE, at));
}

/** Whether two stored JSON records are equal apart from koa-session's `_expire` stamp. */
export function sameContentJson(a: string, b: string): boolean {
  if (a === b) return true;
  const left = tailStart(a);
  const right = tailStart(b);
  // Cut where the bookkeeping starts: equal user data ends at the same index with the same text.
  if (left !== -1 && right !== -1) {
    return left === right && a.slice(0, left) === b.slice(0, right) && keptTail(a, left) === keptTail(b, right);
  }
  // Written in another layout (by hand, another tool): compare the parsed records.
  try {
    const { _expire: _a, ...first } = JSON.parse(a) as SessionRecord;
    const { _expire: _b, ...second } = JSON.parse(b) as SessionRecord;
    return JSON.stringify(first) === JSON.stringify(second);
  } catch {
    return false;
  }
}

