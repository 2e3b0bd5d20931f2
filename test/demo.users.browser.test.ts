import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { chromiumPath, launchChromium, runBrowserTests } from "./helpers/browser.js";
import { ensureBuilt, ROOT } from "./helpers/build.js";
import { startProcess } from "./helpers/process.js";

const SERVER = join(ROOT, "examples", "demo", "server.mjs");
const KEYS = "demo-test-key-one-0123456789,demo-test-key-two-0123456789";
const WAIT = { timeout: 10_000, interval: 50 };

/** A browser context (its own cookies) on the demo page, logged in as `name`. */
async function signIn(browser: Browser, url: string, name: string): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(url);
  await expect.poll(() => page.locator("#same").getAttribute("data-state"), WAIT).toBe("same");
  await page.fill("#name", name);
  await page.click("#name-http");
  await page.click("#login");
  await expect.poll(() => page.locator('#http [data-field="user"]').innerText(), WAIT).toBe(name);
  return page;
}

const listed = (page: Page) => page.locator("#sessions li").count();

describe.skipIf(!runBrowserTests)(`demo: log out everywhere and keep-alive in Chromium (${chromiumPath ?? "no browser"})`, () => {
  let browser: Browser | undefined;
  let demo: Awaited<ReturnType<typeof startProcess>> | undefined;
  let url: string;
  let dataDir: string;

  beforeAll(async () => {
    browser = await launchChromium();
    ensureBuilt();
    dataDir = mkdtempSync(join(tmpdir(), "koa-io-session-demo-users-"));
    demo = await startProcess([SERVER], /demo running at (http:\/\/localhost:\d+)/, {
      PORT: "0", STORE: "file", DATA_DIR: dataDir, SESSION_KEYS: KEYS,
    });
    url = demo.match[1];
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await demo?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  test("two browsers signed in with one name see both sessions; log out everywhere ends the other", async () => {
    const first = await signIn(browser!, url, "Ada");
    const second = await signIn(browser!, url, "Ada");
    const other = await signIn(browser!, url, "Grace");
    await first.reload();
    await expect.poll(() => listed(first), WAIT).toBe(2);
    await expect.poll(() => first.locator('#sessions li[data-current="true"]').count(), WAIT).toBe(1);
    await expect.poll(() => listed(other), WAIT).toBe(1);

    await first.click("#logout-all");
    // The other browser's socket is told, and its page has no session any more.
    await expect.poll(() => second.locator("#ws-lost").isVisible(), WAIT).toBe(true);
    await expect.poll(() => second.locator('#http [data-field="user"]').innerText(), WAIT).toBe("—");
    await expect.poll(() => listed(first), WAIT).toBe(1);
    await expect.poll(() => first.locator("#log").innerText(), WAIT).toContain("logged out everywhere else: 1 session(s) ended");
    // The one who asked, and another user, keep theirs.
    await first.reload();
    await expect.poll(() => first.locator('#http [data-field="user"]').innerText(), WAIT).toBe("Ada");
    await other.reload();
    await expect.poll(() => other.locator('#http [data-field="user"]').innerText(), WAIT).toBe("Grace");
    for (const page of [first, second, other]) await page.context().close();
  });

  test("the keep-alive indicator shows the expiry the store holds, and no session after a logout", async () => {
    const page = await signIn(browser!, url, "Lin");
    const pill = page.locator("#keepalive");
    await expect.poll(() => pill.getAttribute("data-state"), WAIT).toBe("alive");
    const expiresAt = Number(await pill.getAttribute("data-expires-at"));
    // The demo's sessions live a day; the indicator reads the store's own expiry.
    expect(expiresAt).toBeGreaterThan(Date.now() + 23 * 60 * 60 * 1000);
    await expect.poll(() => pill.innerText(), WAIT).toMatch(/^keep-alive: expires \d\d:\d\d:\d\d$/);
    await page.click("#logout");
    await expect.poll(() => pill.getAttribute("data-state"), WAIT).toBe("none");
    await page.context().close();
  });
});
