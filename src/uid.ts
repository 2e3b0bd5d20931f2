import { randomFillSync } from "node:crypto";
import { invalidType } from "./errors.js";

// One getrandom call per pool instead of one per id: ids are made on every new client's request.
const POOL_SIZE = 4096;
const pool = Buffer.allocUnsafe(POOL_SIZE);
let offset = POOL_SIZE;

function randomBytesFromPool(size: number): Buffer {
  if (size > POOL_SIZE) return randomFillSync(Buffer.allocUnsafe(size));
  if (offset + size > POOL_SIZE) {
    randomFillSync(pool);
    offset = 0;
  }
  const bytes = pool.subarray(offset, offset + size);
  offset += size;
  return bytes;
}

/** `len` characters of URL-safe base64 drawn from a cryptographic random source. */
export function generateUid(len = 16): string {
  if (!Number.isInteger(len) || len < 1) throw invalidType("len", "a positive integer", len);
  return randomBytesFromPool(Math.ceil((len * 3) / 4)).toString("base64url").slice(0, len);
}
