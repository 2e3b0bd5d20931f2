import { createHmac, createSecretKey, type KeyObject, timingSafeEqual } from "node:crypto";
import type Cookies from "cookies";

interface Keygrip {
  sign(data: string): string;
  verify(data: string, digest: string): boolean;
  index(data: string, digest: string): number;
}

/** Signatures kept per generation: enough for the cookies of the clients active at once. */
const GENERATION_SIZE = 25_000;

/**
 * Browsers keep at most 4096 bytes per cookie (`name=value`); a longer one
 * reads as absent, before any HMAC is computed over it.
 */
export const MAX_COOKIE_LENGTH = 4096;

/**
 * Constant-time comparison of our signature with a received one. Equal
 * string lengths are not equal byte lengths (`"é"` is one character, two
 * bytes), and `timingSafeEqual` throws on unequal byte lengths.
 */
function sameDigest(expected: string, received: string): boolean {
  if (expected.length !== received.length) return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(received);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * For `app.keys` given as an array, the signer `cookies` would build (Keygrip:
 * HMAC-SHA1 with the first key, URL-safe base64) over a key prepared once
 * instead of on every call. `undefined` when its output would differ.
 */
function arrayKeySigner(appKeys: unknown, keygrip: Keygrip): ((data: string) => string) | undefined {
  const first: unknown = Array.isArray(appKeys) ? appKeys[0] : undefined;
  if (typeof first !== "string" && !Buffer.isBuffer(first)) return undefined;
  const key: KeyObject = createSecretKey(Buffer.from(first));
  const sign = (data: string): string => createHmac("sha1", key).update(data).digest("base64url");
  return sign("koa-io-session") === keygrip.sign("koa-io-session") ? sign : undefined;
}

/**
 * Keygrip signs with an HMAC and verifies with two more HMACs plus random
 * bytes, for every signed cookie of every request, though a client sends
 * the same cookies again and again. This keeps the signatures of values it
 * has verified with the current keys, and verifies a known value with one
 * constant-time comparison. Signatures are exactly Keygrip's.
 */
export class SignatureCache {
  #appKeys: unknown;
  #keygrip: Keygrip | undefined;
  #signer!: (data: string) => string;
  // Two generations instead of an LRU: a full one becomes the old one, dropped at the next turn,
  // so eviction never walks a Map (iterating a Map with many deletions is slow in V8).
  #digests = new Map<string, string>();
  #previous = new Map<string, string>();
  readonly #cached: Keygrip = {
    // Only verified values are kept: a value signed for a new cookie may never come back.
    sign: (data) => this.#lookup(data) ?? this.#signer(data),
    verify: (data, digest) => this.#index(data, digest) > -1,
    index: (data, digest) => this.#index(data, digest),
  };

  /** Makes a request's cookie jar sign and verify through the cache. */
  install(cookies: Cookies, appKeys: unknown): void {
    const keygrip = (cookies as unknown as { keys?: Keygrip }).keys;
    if (!keygrip) return;
    if (appKeys !== this.#appKeys) {
      this.#appKeys = appKeys;
      this.#keygrip = keygrip;
      this.#signer = arrayKeySigner(appKeys, keygrip) ?? ((data) => keygrip.sign(data));
      this.#digests = new Map();
      this.#previous = new Map();
    }
    (cookies as unknown as { keys: Keygrip }).keys = this.#cached;
  }

  #index(data: string, digest: string): number {
    if (data.length > MAX_COOKIE_LENGTH || digest.length > MAX_COOKIE_LENGTH) return -1;
    const expected = this.#lookup(data) ?? this.#signer(data);
    if (sameDigest(expected, digest)) {
      this.#remember(data, expected);
      return 0;
    }
    // A bad signature, or one made with an older key during key rotation.
    return this.#keygrip!.index(data, digest);
  }

  #lookup(data: string): string | undefined {
    return this.#digests.get(data) ?? this.#previous.get(data);
  }

  #remember(data: string, digest: string): void {
    if (this.#digests.has(data)) return;
    if (this.#digests.size >= GENERATION_SIZE) {
      this.#previous = this.#digests;
      this.#digests = new Map();
    }
    this.#digests.set(data, digest);
  }
}
