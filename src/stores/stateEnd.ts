// koa-session writes `{ ...userData, _expire, _maxAge }` with the bookkeeping last:
// anchored at the end, this finds the top-level fields and never ones nested in user data.
const EXPIRING_TAIL = /"_expire":(-?\d+(?:\.\d+)?),"_maxAge":(-?\d+(?:\.\d+)?)\}$/y;

/** koa-session's `_expire` and `_maxAge` at the end of a stored JSON record, as koa-session lays it out; or `undefined`. */
export function koaTail(json: string): { expire: number; maxAge: number } | undefined {
  const at = json.lastIndexOf('"_expire":');
  if (at === -1) return undefined;
  EXPIRING_TAIL.lastIndex = at;
  const match = EXPIRING_TAIL.exec(json);
  return match ? { expire: Number(match[1]), maxAge: Number(match[2]) } : undefined;
}

/** koa-session's `_expire` in a stored JSON record, or `undefined`. */
function expireOf(json: string): number | undefined {
  const tail = koaTail(json);
  if (tail !== undefined) return tail.expire;
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
