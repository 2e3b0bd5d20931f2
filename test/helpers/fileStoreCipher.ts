import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";

/** The key the encrypted fixture (`test/fixtures/fdb/sessions-encrypted.fdb`) was written with. */
export const FIXTURE_KEY = "fixture-secret";

function keyBytes(key: unknown): Buffer {
  return createHash("sha256").update(String(key)).digest();
}

/** An `fdbOpt.encrypt` hook: AES-256-CTR, a fresh IV per line, `<iv hex>:<ciphertext base64>`. */
export function encrypt(json: string, key: unknown): string {
  const iv = randomBytes(16);
  const cipher = createCipheriv("aes-256-ctr", keyBytes(key), iv);
  return `${iv.toString("hex")}:${Buffer.concat([cipher.update(json, "utf8"), cipher.final()]).toString("base64")}`;
}

/** The `fdbOpt.decrypt` hook matching {@link encrypt}. */
export function decrypt(line: string, key: unknown): string {
  const [iv, data] = line.split(":");
  if (iv === undefined || data === undefined || iv.length !== 32) throw new Error("not an encrypted line");
  const decipher = createDecipheriv("aes-256-ctr", keyBytes(key), Buffer.from(iv, "hex"));
  return Buffer.concat([decipher.update(Buffer.from(data, "base64")), decipher.final()]).toString("utf8");
}
