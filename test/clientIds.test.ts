import { afterEach, describe, expect, it } from "vitest";
import { cookieSignature, setCookiesNamed } from "./helpers/httpCookies.js";
import { ask } from "./helpers/socketTools.js";
import { closeAll, CookieJar, startServer } from "./helpers/server.js";

afterEach(closeAll);

const CID = "test.sid.cid";
const NEW_ID = /^[A-Za-z0-9_-]{24}$/;

/** A jar carrying `clientId` as the client cookie, signed with the test keys unless `signed` is false. */
function jarWith(clientId: string, signed = true): CookieJar {
  const jar = new CookieJar();
  jar.set(CID, clientId);
  if (signed) jar.set(`${CID}.sig`, cookieSignature(CID, clientId));
  return jar;
}

const ACCEPTED = ["a", "Z", "0", "-", "_", "short-id", "A".repeat(23), "b".repeat(25), "x".repeat(128), "Mixed_Case-09"];
// Each reads as absent: over the bound, outside [A-Za-z0-9_-], or empty.
const REFUSED = ["y".repeat(129), "has.dot", "has%20space", "plus+sign", "equals=", "ünïcode", "slash/id", "'quoted'"];

describe("client ids read from the client cookie", () => {
  it("keeps every verified id of 1–128 characters from [A-Za-z0-9_-] (the original keeps any verified id)", async () => {
    const server = await startServer();
    for (const clientId of ACCEPTED) {
      const jar = jarWith(clientId);
      const res = await server.get("/inc", jar);
      expect(res.body.clientId).toBe(clientId);
      // The session is attached to that id and found again by it.
      const sessionId = jar.get("test.sid")!;
      expect(server.bridge.getSessionId(clientId)).toBe(sessionId);
      expect((await server.get("/inc", jar)).body).toStrictEqual({ clientId, sessionId, session: { count: 2 } });
      // clientAlwaysRoll re-sends the same id, not a new one.
      expect(jar.get(CID)).toBe(clientId);
    }
  });

  it("keeps such ids with signed: false too (the original keeps any value)", async () => {
    const server = await startServer({ signed: false });
    for (const clientId of ["a", "short-id", "x".repeat(128)]) {
      const res = await server.get("/session", jarWith(clientId, false));
      expect(res.body.clientId).toBe(clientId);
    }
  });

  it("treats a verified id outside that shape as absent and issues a new one (hardening beyond the original)", async () => {
    const server = await startServer();
    for (const clientId of REFUSED) {
      const jar = new CookieJar();
      jar.set(CID, clientId);
      jar.set(`${CID}.sig`, cookieSignature(CID, clientId));
      const res = await server.get("/session", jar);
      expect(res.status).toBe(200);
      expect(res.body.clientId).toMatch(NEW_ID);
      expect(res.body.clientId).not.toBe(clientId);
      const [sent] = setCookiesNamed(res.headers["set-cookie"], CID);
      expect(sent!.value).toBe(res.body.clientId);
    }
  });

  it("treats an id with a wrong signature as absent, whatever its shape", async () => {
    const server = await startServer();
    const jar = jarWith("short-id");
    jar.set(`${CID}.sig`, cookieSignature(CID, "short-id", ["an-attacker-key-0123456789abcdef"]));
    const res = await server.get("/session", jar);
    expect(res.body.clientId).toMatch(NEW_ID);
  });

  it("keeps a short verified id in a socket handshake, and the socket finds that client's session", async () => {
    const server = await startServer();
    const jar = jarWith("s");
    await server.get("/inc", jar);
    const sessionId = jar.get("test.sid")!;
    const socket = await server.connect(jar);
    expect(await ask(socket, "whoami")).toStrictEqual({ clientId: "s", sessionId });
    expect(await ask(socket, "session:get")).toStrictEqual({ sessionId, session: { count: 1 } });
  });

  it("treats a verified id over 128 characters in a socket handshake as absent", async () => {
    const server = await startServer();
    const socket = await server.connect(jarWith("y".repeat(129)));
    const who = await ask<{ clientId: string; sessionId?: string }>(socket, "whoami");
    expect(who.clientId).toMatch(NEW_ID);
    expect(who.sessionId).toBeUndefined();
  });
});
