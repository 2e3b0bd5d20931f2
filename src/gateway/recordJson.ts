import type { SessionRecord } from "./record.js";

/** A stored record's JSON cut in two: the user's data, and koa-session's trailing bookkeeping fields. */
export interface RecordJson {
  /** The user's data as a JSON object (`"{}"` when empty). */
  user: string;
  /** The bookkeeping fields without braces: `"_expire":…,"_maxAge":…` or `"_session":true`. */
  tail: string;
}

// koa-session (and this package) serialize `{ ...userData, _expire, _maxAge }`
// or `{ ...userData, _session: true }`: the bookkeeping always comes last, so
// it can be cut off the string instead of parsing and re-serializing.
const EXPIRING_TAIL = /"_expire":-?\d+(?:\.\d+)?,"_maxAge":-?\d+(?:\.\d+)?\}$/y;
const SESSION_TAIL = '"_session":true}';

/** Splits `json` into user data and bookkeeping; `undefined` when it is not laid out as koa-session writes it. */
export function splitRecordJson(json: string): RecordJson | undefined {
  let at = json.lastIndexOf('"_expire":');
  if (at !== -1) {
    EXPIRING_TAIL.lastIndex = at;
    if (!EXPIRING_TAIL.test(json)) at = -1;
  }
  if (at === -1 && json.endsWith(SESSION_TAIL)) at = json.length - SESSION_TAIL.length;
  if (at < 1) return undefined;
  const before = json[at - 1];
  if (before === "{" && at === 1) return { user: "{}", tail: json.slice(at, -1) };
  if (before !== ",") return undefined;
  return { user: `${json.slice(0, at - 1)}}`, tail: json.slice(at, -1) };
}

/** The stored JSON of user data (serialized) followed by its bookkeeping fields. */
export function joinRecordJson(user: string, tail: string): string {
  return user === "{}" ? `{${tail}}` : `${user.slice(0, -1)},${tail}}`;
}

/** A record's bookkeeping without its `_expire` time, so two saves that only moved the expiry compare equal. */
function tailWithoutExpire(tail: string): string {
  return tail.replace(/^"_expire":[^,]*,/, "");
}

/** Whether two stored JSON records are equal apart from koa-session's `_expire` stamp. */
export function sameContentJson(a: string, b: string): boolean {
  if (a === b) return true;
  const left = splitRecordJson(a);
  const right = splitRecordJson(b);
  if (left && right) return left.user === right.user && tailWithoutExpire(left.tail) === tailWithoutExpire(right.tail);
  // Written in another layout (by hand, another tool): compare the parsed records.
  try {
    const { _expire: _a, ...first } = JSON.parse(a) as SessionRecord;
    const { _expire: _b, ...second } = JSON.parse(b) as SessionRecord;
    return JSON.stringify(first) === JSON.stringify(second);
  } catch {
    return false;
  }
}
