import type Koa from "koa";
import type { ResolvedOptions } from "../options.js";
import { message, stateError } from "../errors.js";
import { generateUid } from "../uid.js";

let warned = false;

function hasKeys(app: Koa): boolean {
  return Boolean(Array.isArray(app.keys) ? app.keys.length > 0 : app.keys);
}

/**
 * Gives an app without keys its keys: `appKeys` when given (an app that has
 * keys refuses them, as 3.1.x); else strong random ones, as the original,
 * with a warning once per process when the bridge's cookies are signed
 * (unsigned ones do not depend on the keys), unless `allowRndAppKeys`.
 */
export function ensureAppKeys(app: Koa, { appKeys, allowRndAppKeys, signed }: ResolvedOptions): void {
  if (appKeys !== undefined) {
    if (hasKeys(app)) throw stateError("app.keys is already set; pass 'appKeys' only for an app without keys.");
    app.keys = appKeys;
    return;
  }
  if (hasKeys(app)) return;
  app.keys = [generateUid(48), generateUid(48)];
  if (!signed || allowRndAppKeys || warned) return;
  warned = true;
  process.emitWarning(
    message(
      "app.keys was not set, so random keys were generated: sessions will not survive a restart. " +
        "Set stable secrets before bridgeSession(), e.g. app.keys = [process.env.SESSION_KEY].",
    ),
    { code: "KOA_IO_SESSION_NO_KEYS" },
  );
}
