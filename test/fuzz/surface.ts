import fc from "fast-check";
import type { HostileServer } from "../helpers/hostileServer.js";
import { maskedTextFrame, pollingConnect, rawExchange, rawGet, upgradeHeaderLines } from "../helpers/rawHttp.js";

/** The child's cookie names (`key: "app.sid"`) and their signature companions. */
const COOKIE_NAMES = ["app.sid", "app.sid.sig", "app.sid.cid", "app.sid.cid.sig"];

/**
 * Latin-1 text of bytes 0x20–0xFF but DEL (half of them >= 0x80), written to
 * the socket byte for byte. DEL (0x7F) comes as a value of its own, rarely:
 * Node's parser answers 400 to it before any of our code runs.
 */
const byte = fc.oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0x80, max: 0xff }));
const bytes = (maxLength: number, minLength = 0) =>
  fc.array(byte, { minLength, maxLength }).map((codes) => String.fromCharCode(...codes));

/** Up to 8 KiB: a random chunk repeated, so long values stay cheap to generate. */
const longBytes = fc.tuple(bytes(16, 1), fc.integer({ min: 1000, max: 8192 })).map(([chunk, length]) => chunk.repeat(Math.ceil(length / chunk.length)).slice(0, length));

/** A cookie value: random bytes of every length up to 8 KiB, the length of a real signature, shapes that look valid, quoting and %-garbage. */
function cookieValue(victim: HostileServer["victim"]) {
  return fc.oneof(
    { arbitrary: bytes(40), weight: 6 },
    { arbitrary: bytes(27, 27), weight: 3 },
    { arbitrary: fc.stringMatching(/^[A-Za-z0-9_-]{24}$/), weight: 2 },
    { arbitrary: fc.stringMatching(/^[A-Za-z0-9_-]{27}$/), weight: 2 },
    { arbitrary: fc.constantFrom(victim.clientId, victim.sessionId, "", '"', '""'), weight: 2 },
    { arbitrary: bytes(30).map((text) => `"${text}"`), weight: 1 },
    { arbitrary: fc.array(fc.constantFrom("%", "%E9", "%ZZ", "%00", "%C3%28", "%%", "%u00e9", "%2")).map((parts) => parts.join("")), weight: 1 },
    { arbitrary: longBytes, weight: 1 },
    { arbitrary: fc.constant("\x7f"), weight: 1 },
  );
}

/** A Cookie header value: the bridge's names (duplicates likely) and random ones, joined with several separators. */
function cookieHeader(victim: HostileServer["victim"]) {
  const name = fc.oneof({ arbitrary: fc.constantFrom(...COOKIE_NAMES), weight: 4 }, { arbitrary: bytes(12, 1), weight: 1 });
  const pair = fc.tuple(name, fc.constantFrom("=", "=", "=", ""), cookieValue(victim)).map(([n, eq, v]) => `${n}${eq}${v}`);
  return fc.tuple(fc.array(pair, { maxLength: 8 }), fc.constantFrom("; ", ";", " ; ", ";;"))
    .map(([pairs, separator]) => pairs.join(separator));
}

/** Extra request headers: more Cookie lines, proxies' and browsers' headers, framing headers (rarer: Node or engine.io refuse most values), random names. */
function extraHeaders(victim: HostileServer["victim"]) {
  const named = (names: string[]) => fc.tuple(fc.constantFrom(...names), bytes(60)).map(([n, v]) => `${n}: ${v}`);
  const header = fc.oneof(
    { arbitrary: cookieHeader(victim).map((value) => `Cookie: ${value}`), weight: 3 },
    { arbitrary: named(["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Origin", "Referer", "Accept-Language", "Content-Type", "User-Agent"]), weight: 3 },
    {
      arbitrary: named(["Transfer-Encoding", "Connection", "Upgrade", "Content-Length", "Host", "Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Protocol", "Sec-WebSocket-Extensions"]),
      weight: 1,
    },
    { arbitrary: fc.tuple(fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,20}$/), bytes(60)).map(([n, v]) => `${n}: ${v}`), weight: 1 },
  );
  return fc.array(header, { maxLength: 4 });
}

/** URL-safe ASCII, so the request line parses and the value reaches the server. */
const urlText = fc.stringMatching(/^[!$&'()*+,\-./0-9:;=?@A-Z_a-z~%[\]^`{|}"<>\\]{0,20}$/);

/**
 * Query parameters after engine.io's own: harmless names with raw or
 * percent-encoded values; engine.io's own names (which it mostly refuses)
 * and raw bytes >= 0x80 in the URL (Node refuses) less often.
 */
const queryTail = fc.array(
  fc.oneof(
    { arbitrary: fc.tuple(fc.constantFrom("t", "x", "j", "__proto__", "constructor", "a[b]"), urlText).map(([k, v]) => `${k}=${v}`), weight: 4 },
    { arbitrary: fc.tuple(fc.constantFrom("t", "x", "j", "__proto__"), bytes(20)).map(([k, v]) => `${k}=${encodeURIComponent(v)}`), weight: 4 },
    { arbitrary: fc.tuple(fc.constantFrom("EIO", "transport", "sid", "b64"), urlText).map(([k, v]) => `${k}=${v}`), weight: 1 },
    { arbitrary: bytes(10).map((v) => `x=${v.replace(/[\s#]/g, "")}`), weight: 1 },
  ),
  { maxLength: 3 },
).map((params) => params.map((param) => `&${param}`).join(""));

export type Surface = "http" | "polling" | "websocket";

/** One hostile input: where it goes and its bytes. */
export interface HostileCase {
  surface: Surface;
  method: string;
  path: string;
  cookie: string;
  headers: string[];
  query: string;
  wsKey: Uint8Array;
}

/** Every input a stranger can send: raw HTTP requests, polling handshakes (+ CONNECT) and websocket upgrades (+ CONNECT). */
export function hostileCase(victim: HostileServer["victim"]): fc.Arbitrary<HostileCase> {
  return fc.record({
    surface: fc.constantFrom<Surface>("http", "polling", "websocket"),
    method: fc.constantFrom("GET", "GET", "POST", "HEAD", "OPTIONS", "PUT"),
    path: fc.constantFrom("/session", "/inc", "/login", "/logout", "/", "/nope", "/socket.io/"),
    cookie: cookieHeader(victim),
    headers: extraHeaders(victim),
    query: queryTail,
    wsKey: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  });
}

/** The status of the answer, and of each further request the case made (0: no answer at all). */
export async function send(port: number, input: HostileCase): Promise<number[]> {
  const lines = [`Cookie: ${input.cookie}`, ...input.headers];
  if (input.surface === "http") {
    const body = input.method === "POST" || input.method === "PUT" ? "{}" : undefined;
    const res = await rawExchange(port, rawGet(`${input.path}?a=1${input.query}`, ["Connection: close", ...lines], { method: input.method, body }));
    return [res.status];
  }
  if (input.surface === "polling") {
    const { handshake, replyStatus } = await pollingConnect(port, `EIO=4&transport=polling${input.query}`, lines);
    return replyStatus === undefined ? [handshake.status] : [handshake.status, replyStatus];
  }
  const res = await rawExchange(
    port,
    rawGet(`/socket.io/?EIO=4&transport=websocket${input.query}`, [...upgradeHeaderLines(input.wsKey), ...lines]),
    maskedTextFrame("40"),
  );
  return [res.status];
}
