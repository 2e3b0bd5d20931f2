import { randomBytes } from "node:crypto";
import { connect } from "node:net";

/** A response read off a raw socket. */
export interface RawAnswer {
  status: number;
  head: string;
  body: Buffer;
}

const HEAD_END = Buffer.from("\r\n\r\n");

/** Splits what the server sent into status, head and body. */
function parse(data: Buffer): RawAnswer {
  const end = data.indexOf(HEAD_END);
  const head = data.subarray(0, end === -1 ? data.length : end).toString("latin1");
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
  return { status, head, body: end === -1 ? Buffer.alloc(0) : data.subarray(end + 4) };
}

/**
 * Writes `request` (exact bytes) to a new connection and resolves what came
 * back once the server closes it — or, for a 101, once `afterUpgrade`'s
 * bytes were sent and two frames (engine.io's open packet and the reply) came
 * back; then the socket is destroyed.
 */
export function rawExchange(port: number, request: Buffer, afterUpgrade?: Buffer, timeoutMs = 10_000): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    let upgraded = false;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete answer within ${timeoutMs} ms; received: ${Buffer.concat(chunks).toString("latin1").slice(0, 500)}`));
    }, timeoutMs);
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(parse(Buffer.concat(chunks)));
    };
    socket.on("data", (chunk) => {
      chunks.push(chunk);
      const data = Buffer.concat(chunks);
      const end = data.indexOf(HEAD_END);
      if (end === -1 || parse(data).status !== 101) return;
      if (!upgraded) {
        upgraded = true;
        if (!afterUpgrade) return finish();
        socket.write(afterUpgrade);
      }
      if (frameTexts(data.subarray(end + 4)).length >= 2) finish();
    });
    socket.once("error", () => {}); // a reset after the answer is fine; the close settles.
    socket.once("close", finish);
    socket.write(request);
  });
}

/** Request bytes (`GET` unless `extra.method`) with the header lines given exactly, as latin1. */
export function rawGet(path: string, headerLines: string[], extra: { method?: string; body?: string } = {}): Buffer {
  const method = extra.method ?? "GET";
  const lines = [`${method} ${path} HTTP/1.1`, "Host: 127.0.0.1", ...headerLines];
  if (extra.body !== undefined) lines.push(`Content-Length: ${Buffer.byteLength(extra.body, "latin1")}`, "Content-Type: text/plain;charset=UTF-8");
  return Buffer.from(`${lines.join("\r\n")}\r\n\r\n${extra.body ?? ""}`, "latin1");
}

/** The header lines of a websocket upgrade (`key`: 16 bytes, random by default). */
export function upgradeHeaderLines(key: Uint8Array = randomBytes(16)): string[] {
  return ["Connection: Upgrade", "Upgrade: websocket", `Sec-WebSocket-Key: ${Buffer.from(key).toString("base64")}`, "Sec-WebSocket-Version: 13"];
}

/** A masked websocket text frame (what a client sends), for short payloads. */
export function maskedTextFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const mask = Buffer.from([1, 2, 3, 4]);
  const masked = Buffer.from(payload.map((byte, at) => byte ^ mask[at % 4]!));
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]);
}

/** The texts of the complete unmasked websocket frames at the start of `data`. */
export function frameTexts(data: Buffer): string[] {
  const texts: string[] = [];
  let at = 0;
  while (at + 2 <= data.length) {
    let length = data[at + 1]! & 0x7f;
    let start = at + 2;
    if (length === 126) {
      if (at + 4 > data.length) break;
      length = data.readUInt16BE(at + 2);
      start = at + 4;
    }
    if (start + length > data.length) break;
    texts.push(data.subarray(start, start + length).toString());
    at = start + length;
  }
  return texts;
}

/**
 * An engine.io polling handshake with `headerLines`, then a socket.io CONNECT
 * to the main namespace: resolves the handshake answer and the namespace's
 * reply packet (`40…` connected, `44…` connect_error), or `undefined` when
 * the handshake did not open a session.
 */
export async function pollingConnect(port: number, query: string, headerLines: string[]): Promise<{ handshake: RawAnswer; reply?: string; replyStatus?: number }> {
  const handshake = await rawExchange(port, rawGet(`/socket.io/?${query}`, ["Connection: close", ...headerLines]));
  const sid = /"sid":"([^"]+)"/.exec(handshake.body.toString("latin1"))?.[1];
  if (handshake.status !== 200 || sid === undefined) return { handshake };
  const path = `/socket.io/?EIO=4&transport=polling&sid=${encodeURIComponent(sid)}`;
  const posted = await rawExchange(port, rawGet(path, ["Connection: close"], { method: "POST", body: "40" }));
  if (posted.status !== 200) return { handshake, replyStatus: posted.status };
  const polled = await rawExchange(port, rawGet(path, ["Connection: close"]));
  await rawExchange(port, rawGet(path, ["Connection: close"], { method: "POST", body: "1" })); // engine.io close
  return { handshake, reply: polled.body.toString(), replyStatus: polled.status };
}
