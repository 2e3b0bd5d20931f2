import type Cookies from "cookies";
import type { ResolvedOptions } from "../options.js";
import { generateUid } from "../uid.js";
import { readCookie } from "./readCookie.js";
import type { SignatureCache } from "./signatureCache.js";

const CLIENT_ID_LENGTH = 24;
// Any id the client cookie verifiably carries, as the original accepts; the bound on length and
// alphabet is hardening (it keeps odd or huge values out of the maps and cookie headers).
const CLIENT_ID_SHAPE = /^[A-Za-z0-9_-]{1,128}$/;

/** A fresh random client id. */
export function newClientId(): string {
  return generateUid(CLIENT_ID_LENGTH);
}

/** The client id carried by the request's (verified, when signed) client cookie, if well-formed. */
function readClientId(cookies: Cookies, config: ResolvedOptions): string | undefined {
  const value = readCookie(cookies, config.clientKey, config.signed);
  return value !== undefined && CLIENT_ID_SHAPE.test(value) ? value : undefined;
}

/**
 * The client id of a request or handshake: from its client cookie when that
 * is valid, else a new one (`isFresh`). Installs the signature cache first.
 */
export function identifyClient(
  cookies: Cookies,
  appKeys: unknown,
  config: ResolvedOptions,
  signatures: SignatureCache,
): { clientId: string; isFresh: boolean } {
  signatures.install(cookies, appKeys);
  const fromCookie = readClientId(cookies, config);
  return fromCookie === undefined ? { clientId: newClientId(), isFresh: true } : { clientId: fromCookie, isFresh: false };
}
