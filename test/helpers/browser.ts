import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";

/** CHROMIUM_PATH when set, else where Debian's `chromium` package puts the browser. */
const CANDIDATES = process.env.CHROMIUM_PATH ? [process.env.CHROMIUM_PATH] : ["/usr/bin/chromium", "/usr/bin/chromium-browser"];

/** Flags for a headless Chromium that makes no network calls of its own. */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

/** The installed Chromium, if any. */
export const chromiumPath: string | undefined = CANDIDATES.find((path) => existsSync(path));

/** Set (REQUIRE_BROWSER=1, as in CI): a missing browser fails the browser tests instead of skipping them. */
export const browserRequired = Boolean(process.env.REQUIRE_BROWSER) && process.env.REQUIRE_BROWSER !== "0";

/** Whether the browser tests should run: a browser exists, or one is required (and its absence must fail). */
export const runBrowserTests = chromiumPath !== undefined || browserRequired;

if (!runBrowserTests) {
  console.warn(
    `[browser tests] SKIPPED: no Chromium found (tried ${CANDIDATES.join(", ")}). ` +
      "Install it with `apt-get install -y chromium`; set REQUIRE_BROWSER=1 to make its absence a failure.",
  );
}

/** Launches headless Chromium; throws a clear error when none is installed. */
export async function launchChromium(): Promise<Browser> {
  if (chromiumPath === undefined) {
    throw new Error(`REQUIRE_BROWSER is set but no Chromium was found (tried ${CANDIDATES.join(", ")}): apt-get install -y chromium.`);
  }
  return chromium.launch({ executablePath: chromiumPath, args: CHROMIUM_ARGS });
}
