import { createHmac } from "node:crypto";
import { LiveStore, type StoreState } from "../../src/index.js";
import { KEYS } from "./server.js";

/** One parsed `Set-Cookie` line: attribute names lower-cased, flags as `true`. */
export interface SetCookie {
  name: string;
  value: string;
  attributes: Record<string, string | true>;
}

/** Parses the `Set-Cookie` header(s) of a response, in order. */
export function parseSetCookies(header: string | string[] | undefined): SetCookie[] {
  return [header ?? []].flat().map((line) => {
    const [pair, ...parts] = line.split(";");
    const at = pair.indexOf("=");
    const attributes: Record<string, string | true> = {};
    for (const part of parts) {
      const eq = part.indexOf("=");
      if (eq === -1) attributes[part.trim().toLowerCase()] = true;
      else attributes[part.slice(0, eq).trim().toLowerCase()] = part.slice(eq + 1).trim();
    }
    return { name: pair.slice(0, at).trim(), value: pair.slice(at + 1).trim(), attributes };
  });
}

/** The `Set-Cookie` lines of a response that set the cookie `name` (expired ones included). */
export function setCookiesNamed(header: string | string[] | undefined, name: string): SetCookie[] {
  return parseSetCookies(header).filter((cookie) => cookie.name === name);
}

/** The signature the `cookies` package (keygrip, sha1, URL-safe base64) gives `name=value` with the first key. */
export function cookieSignature(name: string, value: string, keys: string[] = KEYS): string {
  return createHmac("sha1", keys[0]!)
    .update(`${name}=${value}`)
    .digest("base64")
    .replace(/\/|\+|=/g, (c) => ({ "/": "_", "+": "-", "=": "" })[c]!);
}

/** A `LiveStore` that records every `set` and `destroy` call it receives. */
export class RecordingStore extends LiveStore {
  readonly sets: { sessionId: string; state: StoreState }[] = [];
  readonly destroys: string[] = [];

  override set(sessionId: string, state: StoreState): boolean {
    this.sets.push({ sessionId, state });
    return super.set(sessionId, state);
  }

  override destroy(sessionId: string): boolean {
    this.destroys.push(sessionId);
    return super.destroy(sessionId);
  }
}
