import type Cookies from "cookies";
import { MAX_COOKIE_LENGTH } from "./signatureCache.js";

/**
 * The value of cookie `name` (verified when `signed`), or `undefined` when it
 * is missing, fails verification or is longer than a browser would keep.
 */
export function readCookie(cookies: Cookies, name: string, signed: boolean): string | undefined {
  const value = cookies.get(name, { signed });
  return value === undefined || name.length + 1 + value.length > MAX_COOKIE_LENGTH ? undefined : value;
}
