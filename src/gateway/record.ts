/** A session as koa-session stores it: the user's data plus its bookkeeping fields. */
export interface SessionRecord {
  [key: string]: unknown;
  _expire?: number;
  _maxAge?: number;
  _session?: boolean;
}

/** koa-session keeps its store 10 s longer than the cookie, so a live cookie never meets a missing record. */
export const STORE_GRACE_MS = 10_000;

/** The session as users see it: koa-session's bookkeeping fields removed. */
export function userView(record: SessionRecord): Record<string, unknown> {
  const { _expire, _maxAge, _session, ...data } = record;
  return data;
}

/** Whether koa-session itself would reject the record as expired. */
export function isRecordExpired(record: SessionRecord, now: number): boolean {
  return typeof record._expire === "number" && record._expire < now;
}

/** When a stored record dies: its store expiry, or koa-session's `_expire` when that comes first. */
export function endOf(expiresAt: number, record: SessionRecord): number {
  return typeof record._expire === "number" && record._expire < expiresAt ? record._expire : expiresAt;
}

/**
 * koa-session's fields for a save of edited user data, set the way koa-session
 * saves a session over HTTP, so both channels agree on when the session dies.
 * `tail` is the same fields as JSON (see `joinRecordJson`).
 */
export function nextBookkeeping(
  previous: SessionRecord,
  defaultMaxAge: number,
  maxAge: number | undefined,
  now: number,
): { bookkeeping: SessionRecord; ttl: number; tail: string } {
  if (maxAge === undefined && previous._session) {
    return { bookkeeping: { _session: true }, ttl: defaultMaxAge, tail: '"_session":true' };
  }
  const lifetime = maxAge ?? previous._maxAge ?? defaultMaxAge;
  const expire = now + lifetime;
  return {
    bookkeeping: { _expire: expire, _maxAge: lifetime },
    ttl: lifetime + STORE_GRACE_MS,
    tail: `"_expire":${expire},"_maxAge":${lifetime}`,
  };
}
