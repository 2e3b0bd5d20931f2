import type Cookies from "cookies";
import type { ResolvedOptions } from "../options.js";
import { generateUid } from "../uid.js";

const CLIENT_ID_LENGTH = 24;
const CLIENT_ID_SHAPE = /^[A-Za-z0-9_-]{24}$/;

/** A fresh random client id. */
export function newClientId(): string {
  return generateUid(CLIENT_ID_LENGTH);
}

/** The client id carried by the request's (verified, when signed) client cookie, if well-formed. */
export function readClientId(cookies: Cookies, config: ResolvedOptions): string | undefined {
  const value = cookies.get(config.clientKey, { signed: config.signed });
  return value !== undefined && CLIENT_ID_SHAPE.test(value) ? value : undefined;
}
