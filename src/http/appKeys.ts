import type Koa from "koa";
import { message } from "../errors.js";
import { generateUid } from "../uid.js";

let warned = false;

/** Signed cookies need `app.keys`: without them, set strong random ones and warn once. */
export function ensureAppKeys(app: Koa): void {
  if (Array.isArray(app.keys) ? app.keys.length > 0 : app.keys) return;
  app.keys = [generateUid(48), generateUid(48)];
  if (warned) return;
  warned = true;
  process.emitWarning(
    message(
      "app.keys was not set, so random keys were generated: sessions will not survive a restart. " +
        "Set stable secrets before bridgeSession(), e.g. app.keys = [process.env.SESSION_KEY].",
    ),
    { code: "KOA_IO_SESSION_NO_KEYS" },
  );
}
