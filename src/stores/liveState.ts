import { STORE_GRACE_MS } from "../gateway/record.js";
import { koaTail, recordEnd } from "./stateEnd.js";
import type { StoreState } from "./types.js";

// How LiveStore keeps a state in memory, and reads its end back without unpacking it.

/**
 * A state as kept, as one flat string (about 100 bytes less per session than
 * the state object, its two boxed numbers and the string `JSON.stringify`
 * built in pieces):
 * - what the bridge writes for koa-session (`ttl` = `_maxAge` + 10 s,
 *   `expiresAt` up to 255 ms past `_expire` + 10 s): `COMPACT`, one char for
 *   those milliseconds, the JSON; both numbers are read back from its tail;
 * - any other state: `"<expiresAt> <ttl> <json>"`;
 * - a state of another shape (no string, no numbers) is kept as given.
 */
export type Kept = string | StoreState;

const COMPACT = "\u0001";
const COMPACT_CODE = 1;
/** Latin-1 characters keep the string one byte per character. */
const MAX_LATE_MS = 255;

export function pack(state: StoreState): Kept {
  const { session, expiresAt, ttl } = state;
  if (typeof session !== "string" || typeof expiresAt !== "number" || typeof ttl !== "number") return state;
  const tail = koaTail(session);
  if (tail !== undefined && ttl === tail._maxAge + STORE_GRACE_MS) {
    const late = expiresAt - tail._expire - STORE_GRACE_MS;
    if (Number.isInteger(late) && late >= 0 && late <= MAX_LATE_MS && tail._expire + STORE_GRACE_MS + late === expiresAt) {
      return COMPACT + String.fromCharCode(late) + session;
    }
  }
  return `${expiresAt} ${ttl} ${session}`;
}

/** The number `kept` starts with; plain digits are read in place, being several times faster than `Number()` on a slice. */
function leadingNumber(kept: string): number {
  let value = 0;
  for (let at = 0; ; at++) {
    const digit = kept.charCodeAt(at) - 48;
    if (digit >= 0 && digit <= 9) value = value * 10 + digit;
    else if (digit === -16 && at > 0 && at < 16) return value;
    else return Number(kept.slice(0, kept.indexOf(" ")));
  }
}

export function unpack(kept: Kept): StoreState {
  if (typeof kept !== "string") return kept;
  if (kept.charCodeAt(0) === COMPACT_CODE) {
    const session = kept.slice(2);
    const { _expire, _maxAge } = koaTail(session)!;
    return { session, expiresAt: _expire + STORE_GRACE_MS + kept.charCodeAt(1), ttl: _maxAge + STORE_GRACE_MS };
  }
  const afterExpiry = kept.indexOf(" ");
  const afterTtl = kept.indexOf(" ", afterExpiry + 1);
  return {
    session: kept.slice(afterTtl + 1),
    expiresAt: leadingNumber(kept),
    ttl: Number(kept.slice(afterExpiry + 1, afterTtl)),
  };
}

/** The `_expire` of a compact state; plain digits are read in place, with no match to collect. */
function compactExpire(kept: string): number {
  const from = kept.lastIndexOf('"_expire":') + 10;
  let value = 0;
  for (let at = from; ; at++) {
    const digit = kept.charCodeAt(at) - 48;
    if (digit >= 0 && digit <= 9) value = value * 10 + digit;
    else if (digit === -4 && at > from && at - from < 16) return value;
    else return koaTail(kept.slice(2))!._expire;
  }
}

export function expiresAtOf(kept: Kept): number {
  if (typeof kept !== "string") return kept.expiresAt;
  if (kept.charCodeAt(0) === COMPACT_CODE) return compactExpire(kept) + STORE_GRACE_MS + kept.charCodeAt(1);
  return leadingNumber(kept);
}

/** When a kept state dies; reading it also flattens the string built in pieces. */
export function endOf(kept: Kept): number {
  if (typeof kept !== "string") return recordEnd(kept.session, kept.expiresAt);
  // A compact state ends at its _expire, 10 s before its expiresAt.
  if (kept.charCodeAt(0) === COMPACT_CODE) return compactExpire(kept);
  const afterTtl = kept.indexOf(" ", kept.indexOf(" ") + 1);
  return recordEnd(kept.slice(afterTtl + 1), leadingNumber(kept));
}
