import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { LiveStore } from "../src/index.js";
import { cookieSignature } from "./helpers/httpCookies.js";
import { HOSTILE_KEYS, type HostileServer, startHostileServer } from "./helpers/hostileServer.js";
import { frameTexts, maskedTextFrame, pollingConnect, rawExchange, rawGet, upgradeHeaderLines } from "./helpers/rawHttp.js";
import { closeAll, CookieJar, startServer } from "./helpers/server.js";

// The report of issue 11: a 27-character signature (a real one's length) with a byte >= 0x80.
const LATIN1_SIG = `\xe9${"x".repeat(26)}`;
const SOME_CLIENT_ID = "A".repeat(24);

type Transport = "http" | "polling" | "websocket";
const TRANSPORTS: Transport[] = ["http", "polling", "websocket"];

interface Outcome {
  /** HTTP status of the request or handshake. */
  status: number;
  /** The client id the server gave this client (route body or the handshake's Set-Cookie). */
  clientId: string | undefined;
  /** The socket.io namespace's reply: `40` connected, `44` refused. */
  reply: string | undefined;
}

const setCookieValue = (head: string, name: string): string | undefined =>
  new RegExp(`\\r\\nset-cookie: ${name.replace(/\./g, "\\.")}=([^;\\r]*)`, "i").exec(head)?.[1];

/** Sends `cookie` (exact latin1 bytes) over one transport and reports what came back. */
async function send(server: HostileServer, transport: Transport, cookie: string): Promise<Outcome> {
  const lines = [`Cookie: ${cookie}`];
  if (transport === "http") {
    const res = await rawExchange(server.port, rawGet("/session", ["Connection: close", ...lines]));
    const body = res.status === 200 ? (JSON.parse(res.body.toString()) as { clientId: string }) : undefined;
    return { status: res.status, clientId: body?.clientId, reply: undefined };
  }
  if (transport === "polling") {
    const { handshake, reply } = await pollingConnect(server.port, "EIO=4&transport=polling", lines);
    return { status: handshake.status, clientId: setCookieValue(handshake.head, "app.sid.cid"), reply: reply?.slice(0, 2) };
  }
  const res = await rawExchange(
    server.port,
    rawGet("/socket.io/?EIO=4&transport=websocket", [...upgradeHeaderLines(), ...lines]),
    maskedTextFrame("40"),
  );
  // engine.io's open packet comes first; the namespace's reply is the frame after it.
  return { status: res.status, clientId: setCookieValue(res.head, "app.sid.cid"), reply: frameTexts(res.body)[1]?.slice(0, 2) };
}

describe("hostile cookies (server in a child process without error handlers)", () => {
  let server: HostileServer;
  let victim: { clientId: string | null; session: unknown };

  beforeAll(async () => {
    server = await startHostileServer();
    const state = await server.state();
    victim = { clientId: state.clientId, session: state.session };
    expect(victim).toEqual({ clientId: server.victim.clientId, session: { secret: "victim's" } });
  });
  afterAll(() => server.stop());
  afterEach(async () => {
    expect(server.alive()).toBe(true);
    const state = await server.state();
    expect({ clientId: state.clientId, session: state.session }).toEqual(victim);
    expect(state.counts).toEqual({ unhandledRejection: 0, uncaughtException: 0, warnings: 0 });
  });

  for (const transport of TRANSPORTS) {
    it(`(${transport}) a client cookie whose .sig has a Latin-1 byte reads as no cookie (the crash of issue 11)`, async () => {
      const outcome = await send(server, transport, `app.sid.cid=${SOME_CLIENT_ID}; app.sid.cid.sig=${LATIN1_SIG}`);
      expect(outcome.status).toBe(transport === "websocket" ? 101 : 200);
      expect(outcome.clientId).toMatch(/^[A-Za-z0-9_-]{24}$/);
      expect(outcome.clientId).not.toBe(SOME_CLIENT_ID);
      if (transport !== "http") expect(outcome.reply).toBe("40");
    });

    it(`(${transport}) a session cookie whose .sig has a Latin-1 byte reads as no session`, async () => {
      const outcome = await send(server, transport, `app.sid=${server.victim.sessionId}; app.sid.sig=${LATIN1_SIG}`);
      expect(outcome.status).toBe(transport === "websocket" ? 101 : 200);
      expect(outcome.clientId).toMatch(/^[A-Za-z0-9_-]{24}$/);
      expect(outcome.clientId).not.toBe(server.victim.clientId);
      if (transport !== "http") expect(outcome.reply).toBe("40");
    });
  }

  it("answers the route's 200, not 500, to an HTTP request carrying the byte 0xE9 in a signature", async () => {
    const request = Buffer.from(`GET /session HTTP/1.1\r\nHost: x\r\nConnection: close\r\nCookie: app.sid.cid=${SOME_CLIENT_ID}; app.sid.cid.sig=${LATIN1_SIG}; app.sid=abc; app.sid.sig=${LATIN1_SIG}\r\n\r\n`, "latin1");
    expect(request.includes(0xe9)).toBe(true);
    const res = await rawExchange(server.port, request);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body.toString())).toMatchObject({ sessionId: null });
  });

  const malformed: [string, string][] = [
    ["empty", ""],
    ["one character short", "x".repeat(26)],
    ["one character long", "x".repeat(28)],
    ["all non-ASCII", "\xff".repeat(27)],
    ["quoted", `"${"x".repeat(25)}"`],
    ["%-garbage", "%E9%ZZ%%00%C3%28".padEnd(27, "%")],
    ["huge", "x".repeat(8000)],
  ];
  for (const [name, signature] of malformed) {
    for (const transport of TRANSPORTS) {
      it(`(${transport}) a signature that is ${name}, on both cookies, reads as no cookie`, async () => {
        const cookie = `app.sid.cid=${SOME_CLIENT_ID}; app.sid.cid.sig=${signature}; app.sid=${server.victim.sessionId}; app.sid.sig=${signature}`;
        const outcome = await send(server, transport, cookie);
        expect(outcome.status).toBe(transport === "websocket" ? 101 : 200);
        expect(outcome.clientId).toMatch(/^[A-Za-z0-9_-]{24}$/);
        expect([SOME_CLIENT_ID, server.victim.clientId]).not.toContain(outcome.clientId);
      });
    }
  }

  it("takes the first of duplicated cookie names and never another client's identity", async () => {
    const sig = cookieSignature("app.sid.cid", server.victim.clientId, HOSTILE_KEYS);
    // The victim's real signature, but the first value is an attacker's: verification fails.
    const cookie = `app.sid.cid=${SOME_CLIENT_ID}; app.sid.cid=${server.victim.clientId}; app.sid.cid.sig=${sig}`;
    for (const transport of TRANSPORTS) {
      const outcome = await send(server, transport, cookie);
      expect(outcome.clientId).toMatch(/^[A-Za-z0-9_-]{24}$/);
      expect([SOME_CLIENT_ID, server.victim.clientId]).not.toContain(outcome.clientId);
    }
  });
});

describe("cookie length", () => {
  afterEach(() => closeAll());

  it("reads a session cookie longer than 4 KiB as absent, without asking the store", async () => {
    const asked: string[] = [];
    class AskedStore extends LiveStore {
      override get(sessionId: string) {
        asked.push(sessionId);
        return super.get(sessionId);
      }
    }
    const server = await startServer({ store: new AskedStore() });
    const long = "s".repeat(4096);
    const jar = new CookieJar();
    jar.set("test.sid", long);
    jar.set("test.sid.sig", cookieSignature("test.sid", long));
    const res = await server.get("/session", jar);
    expect(res.status).toBe(200);
    expect(res.body.sessionId).toBeUndefined();
    expect(asked).not.toContain(long);

    const unsigned = await startServer({ signed: false, store: new AskedStore() });
    const plain = new CookieJar();
    plain.set("test.sid", long);
    expect((await unsigned.get("/session", plain)).status).toBe(200);
    expect(asked).not.toContain(long);
  });
});
