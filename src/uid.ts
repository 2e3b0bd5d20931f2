import { randomBytes } from "node:crypto";
import { invalidType } from "./errors.js";

/** `len` characters of URL-safe base64 drawn from a cryptographic random source. */
export function generateUid(len = 16): string {
  if (!Number.isInteger(len) || len < 1) throw invalidType("len", "a positive integer", len);
  return randomBytes(Math.ceil((len * 3) / 4)).toString("base64url").slice(0, len);
}
