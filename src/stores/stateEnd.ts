import { bookkeepingOf, tailStart } from "../gateway/recordJson.js";

/** koa-session's `_expire` and `_maxAge` at the end of a stored JSON record, as koa-session lays it out; or `undefined`. */
export function koaTail(json: string): { _expire: number; _maxAge: number } | undefined {
  // Anchored at the end: the top-level fields, never ones nested in user data.
  const at = tailStart(json);
  if (at === -1) return undefined;
  const tail = bookkeepingOf(json, at);
  return tail._expire === undefined ? undefined : (tail as { _expire: number; _maxAge: number });
}

/** koa-session's `_expire` in a stored JSON record, or `undefined`. */
function expireOf(json: string): number | undefined {
  const tail = koaTail(json);
  if (tail !== undefined) return tail._expire;
  if (!json.includes('"_expire"')) return undefined;
  // Written in another layout (by hand, another tool): parse it.
  try {
    const expire: unknown = (JSON.parse(json) as { _expire?: unknown } | null)?._expire;
    return typeof expire === "number" ? expire : undefined;
  } catch {
    return undefined;
  }
}

/**
 * When a stored record dies, as the bridge's gateway decides it: its
 * `expiresAt`, or koa-session's `_expire` in its JSON when that comes first.
 */
export function recordEnd(json: unknown, expiresAt: number): number {
  const expire = typeof json === "string" ? expireOf(json) : undefined;
  return expire !== undefined && expire < expiresAt ? expire : expiresAt;
}
