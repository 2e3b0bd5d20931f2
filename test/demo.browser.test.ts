import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { chromiumPath, launchChromium, runBrowserTests } from "./helpers/browser.js";
import { ensureBuilt, ROOT } from "./helpers/build.js";
import { startProcess } from "./helpers/process.js";

const SERVER = join(ROOT, "examples", "demo", "server.mjs");
const ARTIFACTS = join(ROOT, "test", ".artifacts");
const KEYS = "demo-test-key-one-0123456789,demo-test-key-two-0123456789";
const WAIT = { timeout: 10_000, interval: 50 };

type Demo = Awaited<ReturnType<typeof startProcess>> & { url: string; port: number };

/** Runs the demo as `npm start` would (minus the build), on `port` (0: a free one). */
async function startDemo(dataDir: string, port = 0): Promise<Demo> {
  const app = await startProcess([SERVER], /demo running at (http:\/\/localhost:(\d+))/, {
    PORT: String(port),
    STORE: "file",
    DATA_DIR: dataDir,
    SESSION_KEYS: KEYS,
  });
  return { ...app, url: app.match[1], port: Number(app.match[2]) };
}

/** The text of one field of a view (`http` or `ws`). */
function field(page: Page, view: "http" | "ws", name: string): Promise<string> {
  return page.locator(`#${view} [data-field="${name}"]`).innerText();
}

/** Both views' ids and counter, read from the page. */
async function views(page: Page) {
  const read = async (view: "http" | "ws") => ({
    clientId: await field(page, view, "clientId"),
    sessionId: await field(page, view, "sessionId"),
    count: await field(page, view, "count"),
    name: await field(page, view, "name"),
  });
  return { http: await read("http"), ws: await read("ws"), same: await page.locator("#same").getAttribute("data-state") };
}

const logText = (page: Page) => page.locator("#log").innerText();

describe.skipIf(!runBrowserTests)(`demo app in Chromium (${chromiumPath ?? "no browser installed"})`, () => {
  let browser: Browser | undefined;
  let demo: Demo | undefined;
  let dataDir: string;
  let context: BrowserContext;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    browser = await launchChromium();
    ensureBuilt(); // the demo imports the built package
    dataDir = mkdtempSync(join(tmpdir(), "koa-io-session-demo-"));
    demo = await startDemo(dataDir);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await demo?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  test("a WebSocket-first page load gets its client id from the socket, and its first HTTP call carries it", async () => {
    const fresh = await browser!.newContext();
    try {
      const tab = await fresh.newPage();
      const order: string[] = [];
      const firstApiCookie = new Promise<string>((resolve) => {
        tab.on("request", (request) => {
          const path = new URL(request.url()).pathname;
          order.push(`request ${path}`);
          if (path.startsWith("/api/")) void request.allHeaders().then((headers) => resolve(headers.cookie ?? ""));
        });
      });
      tab.on("websocket", (ws) => order.push(`websocket ${new URL(ws.url()).searchParams.get("transport")}`));

      const page = await tab.goto(demo!.url);
      // The page itself sets no cookie: the socket is this browser's first contact with the bridge.
      expect(page!.status()).toBe(200);
      expect(await page!.headerValue("set-cookie")).toBeNull();

      await expect.poll(() => tab.locator("#same").getAttribute("data-state"), WAIT).toBe("same");
      const seen = await views(tab);
      expect(seen.ws.clientId).toMatch(/^[A-Za-z0-9_-]{24}$/);
      expect(seen.http.clientId).toBe(seen.ws.clientId);
      expect(seen.http.sessionId).toBe(seen.ws.sessionId);

      // The websocket opened before any /api call, and that first call already sent the socket's client id.
      const apiAt = order.findIndex((entry) => entry.startsWith("request /api/"));
      expect(order.indexOf("websocket websocket")).toBeGreaterThanOrEqual(0);
      expect(order.indexOf("websocket websocket")).toBeLessThan(apiAt);
      expect(order.filter((entry) => entry.startsWith("request /socket.io/") && !entry.endsWith("socket.io.js"))).toEqual([]);
      expect(await firstApiCookie).toContain(`demo.sid.cid=${seen.ws.clientId}`);
      expect(await logText(tab)).toContain(
        `socket connected over websocket: client ${seen.ws.clientId.slice(0, 8)}…, no session yet (before this page's first HTTP call)`,
      );
    } finally {
      await fresh.close();
    }
  });

  describe("one browser through a whole session", () => {
    let sessionId: string;
    let clientId: string;

    beforeAll(async () => {
      context = await browser!.newContext({ viewport: { width: 1100, height: 700 } });
      page = await context.newPage();
      page.on("pageerror", (error) => pageErrors.push(error.message));
    });

    afterAll(async () => {
      await context?.close();
    });

    test("shows the same client id and session id on the HTTP and the socket side", async () => {
      await page.goto(demo!.url);
      await expect.poll(() => page.locator("#same").getAttribute("data-state"), WAIT).toBe("same");
      const seen = await views(page);
      expect(seen.http.sessionId).toMatch(/^[0-9a-f-]{36}$/);
      expect(seen.ws).toEqual(seen.http);
      expect(await field(page, "http", "visits")).toBe("1");
      expect(await page.locator("#same").innerText()).toBe(`✓ Same session on both channels · ${seen.http.sessionId.slice(0, 8)}…`);
      // The bridge pushed the session's creation to this page's socket.
      await expect.poll(() => logText(page), WAIT).toMatch(new RegExp(`sessionSet\\s+${seen.http.sessionId.slice(0, 8)}… · isNew true · isInit true`));
      sessionId = seen.http.sessionId;
      clientId = seen.http.clientId;
    });

    test("HTTP +1 and socket +1 change one shared counter that both views show", async () => {
      await page.click("#inc-http");
      await expect.poll(() => field(page, "ws", "count"), WAIT).toBe("1");
      expect(await field(page, "http", "count")).toBe("1");

      await page.click("#inc-ws");
      await expect.poll(() => field(page, "http", "count"), WAIT).toBe("2");
      expect(await field(page, "ws", "count")).toBe("2");
      expect(await field(page, "http", "split")).toBe("(1 via HTTP, 1 via socket)");
      expect(await field(page, "ws", "split")).toBe("(1 via HTTP, 1 via socket)");
      expect((await views(page)).http.sessionId).toBe(sessionId);
    });

    test("a name saved over either channel shows on both", async () => {
      await page.fill("#name", "Ada");
      await page.click("#name-http");
      await expect.poll(() => field(page, "ws", "name"), WAIT).toBe("Ada");
      expect(await field(page, "http", "name")).toBe("Ada");

      await page.fill("#name", "  Grace  ");
      await page.click("#name-ws");
      await expect.poll(() => field(page, "http", "name"), WAIT).toBe("Grace");
      expect(await field(page, "ws", "name")).toBe("Grace");
    });

    test("a page reload keeps the session", async () => {
      await page.reload();
      await expect.poll(() => field(page, "http", "visits"), WAIT).toBe("2");
      const seen = await views(page);
      expect(seen.same).toBe("same");
      expect(seen.http).toEqual({ clientId, sessionId, count: "2", name: "Grace" });
      expect(seen.ws).toEqual(seen.http);
    });

    test("restarting the server process keeps the session (FileStore), and the open page's socket finds it again", async () => {
      const port = demo!.port;
      await demo!.stop();
      expect(demo!.child.exitCode).toBe(0);
      expect(demo!.output()).toContain("Stopped.");
      // Stopping flushed the session to the file.
      const file = readFileSync(join(dataDir, "sessions.fdb"), "utf8");
      expect(file).toContain(JSON.stringify(sessionId));
      await expect.poll(() => page.locator("#conn").getAttribute("data-state"), WAIT).toBe("disconnected");

      demo = await startDemo(dataDir, port);
      // socket.io reconnects by itself; the handshake re-attaches the stored session from the cookie.
      await expect.poll(() => page.locator("#conn").getAttribute("data-state"), WAIT).toBe("connected");
      await expect.poll(() => field(page, "ws", "sessionId"), WAIT).toBe(sessionId);
      await expect.poll(() => page.locator("#same").getAttribute("data-state"), WAIT).toBe("same");

      await page.reload();
      await expect.poll(() => field(page, "http", "visits"), WAIT).toBe("3");
      const seen = await views(page);
      expect(seen.http).toEqual({ clientId, sessionId, count: "2", name: "Grace" });
      expect(seen.ws).toEqual(seen.http);
    });

    test("log in gives a new session id on both channels without reloading the page", async () => {
      await page.evaluate("window.marker = 42");
      await page.click("#login");
      await expect.poll(() => field(page, "ws", "sessionId"), WAIT).not.toBe(sessionId);
      await expect.poll(() => page.locator("#same").getAttribute("data-state"), WAIT).toBe("same");
      const seen = await views(page);
      expect(seen.http.sessionId).toMatch(/^[0-9a-f-]{36}$/);
      expect(seen.http.sessionId).not.toBe(sessionId);
      // regenerate() keeps the data under the new id.
      expect(seen.http).toEqual({ clientId, sessionId: seen.http.sessionId, count: "2", name: "Grace" });
      expect(seen.ws).toEqual(seen.http);
      expect(await field(page, "ws", "user")).toBe("Grace");
      expect(await page.evaluate("window.marker")).toBe(42);
      // A login is a move: the socket was not told that its session died.
      expect(await page.locator("#ws-lost").isHidden()).toBe(true);
      expect(await logText(page)).not.toContain("session:destroyed");
      await expect.poll(() => logText(page), WAIT).toMatch(new RegExp(`sessionSet\\s+${seen.http.sessionId.slice(0, 8)}… · isNew true · isInit true`));
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, "demo-logged-in.png"), fullPage: true });
      sessionId = seen.http.sessionId;
    });

    test("log out shows the socket side losing its session", async () => {
      await page.click("#logout");
      await expect.poll(() => page.locator("#ws-lost").isVisible(), WAIT).toBe(true);
      await expect.poll(() => page.locator("#same").getAttribute("data-state"), WAIT).toBe("none");
      const seen = await views(page);
      expect(seen.ws).toEqual({ clientId, sessionId: "none", count: "—", name: "—" });
      expect(seen.http).toEqual(seen.ws);
      const log = await logText(page);
      expect(log).toContain(`socket received session:destroyed for ${sessionId.slice(0, 8)}…`);
      expect(log).toMatch(new RegExp(`sessionDestroy\\s+${sessionId.slice(0, 8)}…`));

      // A socket cannot create a session: its +1 is refused until an HTTP call makes one.
      await page.click("#inc-ws");
      await expect.poll(() => logText(page), WAIT).toContain("count:inc: This browser has no session");
      expect(await field(page, "ws", "count")).toBe("—");
    });

    test("Run cleanup shows the bridge's cleanup event in the log", async () => {
      await page.click("#cleanup");
      await expect.poll(() => logText(page), WAIT).toMatch(/cleanup\s+0 expired session\(s\) removed/);
    });

    test("saves screenshots of the final state (desktop and 375 px wide)", async () => {
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, "demo-final.png"), fullPage: true });
      await page.setViewportSize({ width: 375, height: 800 });
      // Nothing overflows sideways on a narrow screen.
      expect(await page.evaluate("document.documentElement.scrollWidth")).toBeLessThanOrEqual(375);
      await page.screenshot({ path: join(ARTIFACTS, "demo-narrow.png"), fullPage: true });
      expect(pageErrors).toEqual([]);
    });
  });
});
