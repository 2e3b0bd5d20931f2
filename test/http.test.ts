import Keygrip from "keygrip";
import request from "supertest";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ms, type SessionBridge } from "../src/index.js";
import { cookieSignature, RecordingStore, type SetCookie, setCookiesNamed } from "./helpers/httpCookies.js";
import { closeAll, CookieJar, KEYS, startServer, type TestServer } from "./helpers/server.js";
import { storedRecord, storeState } from "./helpers/storeFixtures.js";

afterEach(closeAll);

const KEY = "test.sid";
const CID = "test.sid.cid";
const CLIENT_ID_SHAPE = /^[A-Za-z0-9_-]{24}$/;
const EPOCH = /^thu, 01 jan 1970/i;

type BridgeEvent =
  | { type: "set"; clientId: string; sessionId: string; isNew: boolean; isInit: boolean }
  | { type: "destroy"; clientId: string; sessionId: string };

/** Every sessionSet / sessionDestroy of `bridge`, in one ordered list. */
function recordOrdered(bridge: SessionBridge): BridgeEvent[] {
  const events: BridgeEvent[] = [];
  bridge.on("sessionSet", (e) => events.push({ type: "set", ...e }));
  bridge.on("sessionDestroy", (e) => events.push({ type: "destroy", ...e }));
  return events;
}

const set = (clientId: string, sessionId: string, isNew: boolean, isInit: boolean): BridgeEvent =>
  ({ type: "set", clientId, sessionId, isNew, isInit });
const destroyed = (clientId: string, sessionId: string): BridgeEvent => ({ type: "destroy", clientId, sessionId });

/** The single Set-Cookie line of `name` in a response (fails when there is not exactly one). */
function only(res: request.Response, name: string): SetCookie {
  const lines = setCookiesNamed(res.headers["set-cookie"], name);
  expect(lines.map((c) => c.name)).toStrictEqual([name]);
  return lines[0]!;
}

/** A client with a session written over HTTP (`{ count: 1 }`). */
async function client(server: TestServer, jar = new CookieJar()) {
  const res = await server.get("/inc", jar);
  expect(res.status).toBe(200);
  const clientId = jar.get(CID)!;
  const sessionId = jar.get(KEY)!;
  expect(clientId).toMatch(CLIENT_ID_SHAPE);
  expect(server.bridge.getSessionId(clientId)).toBe(sessionId);
  return { jar, clientId, sessionId };
}

/** Asserts that a cookie's `expires` is `lifetime` ms after a moment between `before` and `after`. */
function expectExpiry(cookie: SetCookie, lifetime: number, before: number, after: number): void {
  const expires = Date.parse(cookie.attributes.expires as string);
  // The header has one-second precision.
  expect(expires).toBeGreaterThanOrEqual(before + lifetime - 1000);
  expect(expires).toBeLessThanOrEqual(after + lifetime + 1000);
}

/** Names of every cookie a response sets. */
function setCookiesNamedAll(res: request.Response): string[] {
  return [res.headers["set-cookie"] ?? []].flat().map((line: string) => line.slice(0, line.indexOf("=")));
}

const sleep = (delay: number) => new Promise((resolve) => setTimeout(resolve, delay));

describe("client cookie", () => {
  it("is created on the first response as a signed 24-character id", async () => {
    const server = await startServer();
    const jar = new CookieJar();
    const res = await server.get("/session", jar);
    const cookie = only(res, CID);
    expect(cookie.value).toMatch(CLIENT_ID_SHAPE);
    expect(only(res, `${CID}.sig`).value).toBe(cookieSignature(CID, cookie.value));
    expect(res.body.clientId).toBe(cookie.value);
    // A read-only request creates no session cookie.
    expect(setCookiesNamed(res.headers["set-cookie"], KEY)).toStrictEqual([]);
  });

  it("has path /, HttpOnly and an expiry of clientMaxAge by default", async () => {
    const server = await startServer();
    const before = Date.now();
    const res = await server.get("/session", new CookieJar());
    const after = Date.now();
    const { attributes } = only(res, CID);
    expect(attributes.path).toBe("/");
    expect(attributes.httponly).toBe(true);
    expect(attributes.samesite).toBeUndefined();
    expect(attributes.domain).toBeUndefined();
    expect(attributes.secure).toBeUndefined();
    expectExpiry(only(res, CID), ms.y(), before, after);
  });

  it("expires after a custom clientMaxAge", async () => {
    const server = await startServer({ clientMaxAge: ms.d(3) });
    const before = Date.now();
    const res = await server.get("/session", new CookieJar());
    expectExpiry(only(res, CID), ms.d(3), before, Date.now());
  });

  it("copies sameSite, domain and path from the session options", async () => {
    const server = await startServer({ sameSite: "strict", domain: "example.test", path: "/app" });
    const res = await server.get("/inc", new CookieJar());
    const client = only(res, CID).attributes;
    const session = only(res, KEY).attributes;
    expect(client.samesite).toBe("strict");
    expect(client.domain).toBe("example.test");
    expect(client.path).toBe("/app");
    expect(client.httponly).toBe(true);
    expect(session.samesite).toBe("strict");
    expect(session.domain).toBe("example.test");
    expect(session.path).toBe("/app");
  });

  it("follows httpOnly: false and secure: true of the session options", async () => {
    const server = await startServer({ httpOnly: false, secure: true }, ({ app }) => {
      app.proxy = true;
    });
    const res = await request(server.http).get("/inc").set("X-Forwarded-Proto", "https");
    expect(res.status).toBe(200);
    const client = only(res, CID).attributes;
    expect(client.httponly).toBeUndefined();
    expect(client.secure).toBe(true);
    expect(only(res, KEY).attributes.secure).toBe(true);
  });

  it("is not signed when signed is false", async () => {
    const server = await startServer({ signed: false });
    const jar = new CookieJar();
    const res = await server.get("/inc", jar);
    const names = setCookiesNamedAll(res);
    expect(names).toContain(CID);
    expect(names).toContain(KEY);
    expect(names.filter((name) => name.endsWith(".sig"))).toStrictEqual([]);
    expect(res.body.clientId).toBe(jar.get(CID));
    // The unsigned cookies alone identify the client on the next request.
    const next = await server.get("/inc", jar);
    expect(next.body.clientId).toBe(res.body.clientId);
    expect(next.body.session).toStrictEqual({ count: 2 });
  });

  it("is named `${key}.cid` by default and clientKey when given", async () => {
    const server = await startServer({ key: "my.sid" });
    const res = await server.get("/session", new CookieJar());
    expect(only(res, "my.sid.cid").value).toBe(res.body.clientId);

    const custom = await startServer({ clientKey: "my.client" });
    const jar = new CookieJar();
    const customRes = await custom.get("/inc", jar);
    expect(only(customRes, "my.client").value).toBe(customRes.body.clientId);
    expect(setCookiesNamed(customRes.headers["set-cookie"], CID)).toStrictEqual([]);
    const next = await custom.get("/session", jar);
    expect(next.body.clientId).toBe(customRes.body.clientId);
    expect(next.body.session).toStrictEqual({ count: 1 });
  });

  it("is re-sent on every response when clientAlwaysRoll is true (the default)", async () => {
    const server = await startServer();
    const jar = new CookieJar();
    const first = await server.get("/session", jar);
    const clientId = only(first, CID).value;
    const second = await server.get("/session", jar);
    expect(only(second, CID).value).toBe(clientId);
    expect(only(second, `${CID}.sig`).value).toBe(cookieSignature(CID, clientId));
  });

  it("is sent only when created when clientAlwaysRoll is false", async () => {
    const server = await startServer({ clientAlwaysRoll: false });
    const jar = new CookieJar();
    const first = await server.get("/session", jar);
    const clientId = only(first, CID).value;
    const second = await server.get("/inc", jar);
    expect(setCookiesNamed(second.headers["set-cookie"], CID)).toStrictEqual([]);
    expect(setCookiesNamed(second.headers["set-cookie"], `${CID}.sig`)).toStrictEqual([]);
    expect(second.body.clientId).toBe(clientId);
  });
});

describe("ctx.clientId and ctx.sessionId", () => {
  it("keeps clientId across requests; sessionId is undefined until the session is written", async () => {
    const server = await startServer();
    const jar = new CookieJar();
    const first = await server.get("/session", jar);
    const second = await server.get("/session", jar);
    expect(first.body.clientId).toMatch(CLIENT_ID_SHAPE);
    expect(second.body.clientId).toBe(first.body.clientId);
    expect(first.body.sessionId).toBeUndefined();
    expect(second.body.sessionId).toBeUndefined();

    const write = await server.get("/inc", jar);
    const sessionId = only(write, KEY).value;
    expect(write.body.clientId).toBe(first.body.clientId);
    expect(server.bridge.getSessionId(first.body.clientId)).toBe(sessionId);
    const read = await server.get("/session", jar);
    expect(read.body).toStrictEqual({ clientId: first.body.clientId, sessionId, session: { count: 1 } });
  });

  it("shows the new session id within the request after regenerate()", async () => {
    const server = await startServer();
    const { jar, clientId, sessionId } = await client(server);
    const res = await server.get("/login?user=ann", jar);
    expect(res.body.sessionId).toBe(jar.get(KEY));
    expect(res.body.sessionId).not.toBe(sessionId);
    expect(res.body.sessionId).toBe(server.bridge.getSessionId(clientId));
    expect(res.body.session).toStrictEqual({ count: 1, user: "ann" });
  });
});

describe("events and the store over HTTP", () => {
  it("attaches the pair in the very first response, with the client id created in it", async () => {
    const store = new RecordingStore();
    const server = await startServer({ store });
    const events = recordOrdered(server.bridge);
    const jar = new CookieJar();
    const res = await server.get("/inc", jar);
    const clientId = only(res, CID).value;
    const sessionId = only(res, KEY).value;
    expect(only(res, `${KEY}.sig`).value).toBe(cookieSignature(KEY, sessionId));
    expect(events).toStrictEqual([set(clientId, sessionId, true, true)]);
    expect(server.bridge.getSessionId(clientId)).toBe(sessionId);
    expect(server.bridge.getClientId(sessionId)).toBe(clientId);
    expect(res.body.clientId).toBe(clientId);
    expect(res.body.session).toStrictEqual({ count: 1 });
    expect(store.sets.map((s) => s.sessionId)).toStrictEqual([sessionId]);
  });

  it("emits exactly one sessionSet {isNew:false,isInit:false} for a later change", async () => {
    const store = new RecordingStore();
    const server = await startServer({ store });
    const events = recordOrdered(server.bridge);
    const { jar, clientId, sessionId } = await client(server);
    const res = await server.get("/inc", jar);
    expect(res.body.session).toStrictEqual({ count: 2 });
    expect(events).toStrictEqual([set(clientId, sessionId, true, true), set(clientId, sessionId, false, false)]);
    expect(store.sets.length).toBe(2);
    expect(storedRecord(store, sessionId)).toMatchObject({ count: 2 });
  });

  it("neither emits nor writes the store on a read-only request", async () => {
    const store = new RecordingStore();
    const server = await startServer({ store });
    const { jar, sessionId } = await client(server);
    const events = recordOrdered(server.bridge);
    const before = store.get(sessionId);
    // LiveStore answers a new state object each time: a write shows as a set() call.
    const writes = vi.spyOn(store, "set");
    const res = await server.get("/session", jar);
    expect(res.body.session).toStrictEqual({ count: 1 });
    expect(events).toStrictEqual([]);
    expect(store.sets.length).toBe(1);
    expect(store.get(sessionId)).toStrictEqual(before);
    expect(writes).not.toHaveBeenCalled();
    expect(setCookiesNamed(res.headers["set-cookie"], KEY)).toStrictEqual([]);
  });

  it("skips a write whose value equals what is stored", async () => {
    const store = new RecordingStore();
    const server = await startServer({ store });
    const jar = new CookieJar();
    await server.get("/set?name=ann", jar);
    const events = recordOrdered(server.bridge);
    const res = await server.get("/set?name=ann", jar);
    expect(res.body.session).toStrictEqual({ name: "ann" });
    expect(events).toStrictEqual([]);
    expect(store.sets.length).toBe(1);
  });

  it("destroys the session on ctx.session = null: one sessionDestroy, record and pair gone, cookie cleared", async () => {
    const store = new RecordingStore();
    const server = await startServer({ store });
    const { jar, clientId, sessionId } = await client(server);
    const events = recordOrdered(server.bridge);
    const res = await server.get("/logout", jar);
    expect(events).toStrictEqual([destroyed(clientId, sessionId)]);
    expect(store.get(sessionId)).toBeUndefined();
    expect(store.destroys).toStrictEqual([sessionId]);
    expect(server.bridge.getSessionId(clientId)).toBeUndefined();
    expect(server.bridge.getClientId(sessionId)).toBeUndefined();
    const cleared = only(res, KEY);
    expect(cleared.value).toBe("");
    expect(cleared.attributes.expires).toMatch(EPOCH);
    expect(jar.get(KEY)).toBeUndefined();
    expect(res.body.clientId).toBe(clientId);
    expect(res.body.session).toBeNull();
    const after = await server.get("/session", jar);
    expect(after.body).toStrictEqual({ clientId, session: {} });

    // The client keeps its id and starts a fresh session on its next write.
    const next = await server.get("/inc", jar);
    const fresh = only(next, KEY).value;
    expect(next.body.clientId).toBe(clientId);
    expect(next.body.session).toStrictEqual({ count: 1 });
    expect(fresh).not.toBe(sessionId);
    expect(events).toStrictEqual([destroyed(clientId, sessionId), set(clientId, fresh, true, true)]);
  });

  it("regenerate() destroys the old pair and attaches the new session, with exactly those events", async () => {
    const store = new RecordingStore();
    const server = await startServer({ store });
    const events = recordOrdered(server.bridge);
    const { jar, clientId, sessionId: oldId } = await client(server);
    const res = await server.get("/login?user=ann", jar);
    const newId = only(res, KEY).value;
    expect(newId).not.toBe(oldId);
    expect(jar.get(KEY)).toBe(newId);
    expect(events).toStrictEqual([
      set(clientId, oldId, true, true),
      destroyed(clientId, oldId),
      set(clientId, newId, true, true),
    ]);
    expect(store.get(oldId)).toBeUndefined();
    expect(storedRecord(store, newId)).toMatchObject({ count: 1, user: "ann" });
    expect(server.bridge.getSessionId(clientId)).toBe(newId);
    expect(server.bridge.getClientId(newId)).toBe(clientId);
    expect(server.bridge.getClientId(oldId)).toBeUndefined();
    expect(res.body).toStrictEqual({ clientId, sessionId: newId, session: { count: 1, user: "ann" } });
  });

  it("sets the session cookie back to the attached session when the cookie names another existing one", async () => {
    const store = new RecordingStore();
    const server = await startServer({ store });
    const { jar, clientId, sessionId } = await client(server);
    const orphan = "orphan-session-id";
    store.set(orphan, storeState({ secret: "orphan", _expire: Date.now() + ms.h(), _maxAge: ms.h() }, ms.h()));
    jar.set(KEY, orphan);
    jar.set(`${KEY}.sig`, cookieSignature(KEY, orphan));
    const events = recordOrdered(server.bridge);

    const res = await server.get("/session", jar);
    const cookie = only(res, KEY);
    expect(cookie.value).toBe(sessionId);
    expect(only(res, `${KEY}.sig`).value).toBe(cookieSignature(KEY, sessionId));
    expect(res.body).toStrictEqual({ clientId, sessionId, session: { count: 1 } });
    expect(jar.get(KEY)).toBe(sessionId);
    expect(events).toStrictEqual([]);
    expect(server.bridge.getClientId(orphan)).toBeUndefined();
    expect(storedRecord(store, orphan)).toMatchObject({ secret: "orphan" });
  });
});

describe("restart", () => {
  it("re-attaches a stored session on the first request to a new server sharing the store and keys", async () => {
    const store = new RecordingStore();
    const first = await startServer({ store });
    const { jar, clientId, sessionId } = await client(first);
    await first.get("/inc", jar);
    await first.close();

    const second = await startServer({ store });
    const events = recordOrdered(second.bridge);
    const res = await second.get("/session", jar);
    expect(res.body).toStrictEqual({ clientId, sessionId, session: { count: 2 } });
    expect(events).toStrictEqual([set(clientId, sessionId, false, true)]);
    expect(second.bridge.getSessionId(clientId)).toBe(sessionId);
    expect(second.bridge.getClientId(sessionId)).toBe(clientId);

    const again = await second.get("/session", jar);
    expect(again.body.session).toStrictEqual({ count: 2 });
    expect(events.length).toBe(1);

    const change = await second.get("/inc", jar);
    expect(change.body.session).toStrictEqual({ count: 3 });
    expect(events).toStrictEqual([set(clientId, sessionId, false, true), set(clientId, sessionId, false, false)]);
    expect(storedRecord(store, sessionId)).toMatchObject({ count: 3 });
  });
});

describe("signing keys", () => {
  const OLD_KEYS = ["an-older-key-0123456789abcdefghijklm"];

  it("accepts cookies signed with an older key after a key rotation and re-signs them with the new one", async () => {
    const store = new RecordingStore();
    const first = await startServer({ store }, undefined, OLD_KEYS);
    const { jar, clientId, sessionId } = await client(first);
    expect(jar.get(`${CID}.sig`)).toBe(cookieSignature(CID, clientId, OLD_KEYS));
    await first.close();

    const rotated = [...KEYS, ...OLD_KEYS];
    const second = await startServer({ store }, undefined, rotated);
    const res = await second.get("/session", jar);
    expect(res.body).toStrictEqual({ clientId, sessionId, session: { count: 1 } });
    expect(only(res, `${CID}.sig`).value).toBe(cookieSignature(CID, clientId, rotated));
    const again = await second.get("/inc", jar);
    expect(again.body.session).toStrictEqual({ count: 2 });
    expect(only(again, `${KEY}.sig`).value).toBe(cookieSignature(KEY, sessionId, rotated));
  });

  it("signs with app.keys given as a Keygrip instance (its own algorithm)", async () => {
    const keygrip = new Keygrip(KEYS, "sha256");
    const server = await startServer({}, undefined, keygrip);
    const { jar, clientId, sessionId } = await client(server);
    expect(jar.get(`${CID}.sig`)).toBe(keygrip.sign(`${CID}=${clientId}`));
    expect(jar.get(`${KEY}.sig`)).toBe(keygrip.sign(`${KEY}=${sessionId}`));
    expect(jar.get(`${CID}.sig`)).not.toBe(cookieSignature(CID, clientId));
    const res = await server.get("/inc", jar);
    expect(res.body).toStrictEqual({ clientId, sessionId, session: { count: 2 } });
  });
});

describe("tampered and foreign cookies (B8)", () => {
  it("ignores a session cookie with a bad signature", async () => {
    const store = new RecordingStore();
    const first = await startServer({ store });
    const { jar, clientId, sessionId } = await client(first);
    await first.close();

    // A fresh process: with a valid signature this request would re-attach the session.
    const second = await startServer({ store });
    const events = recordOrdered(second.bridge);
    jar.set(`${KEY}.sig`, cookieSignature(KEY, sessionId, ["an-attacker-key-0123456789abcdef"]));
    const res = await second.get("/session", jar);
    expect(res.body.clientId).toBe(clientId);
    expect(res.body.sessionId).toBeUndefined();
    expect(res.body.session).toStrictEqual({});
    expect(events).toStrictEqual([]);
    expect(second.bridge.getClientId(sessionId)).toBeUndefined();

    const write = await second.get("/inc", jar);
    const fresh = only(write, KEY).value;
    expect(fresh).not.toBe(sessionId);
    expect(write.body.session).toStrictEqual({ count: 1 });
    expect(events).toStrictEqual([set(clientId, fresh, true, true)]);
    expect(storedRecord(store, sessionId)).toMatchObject({ count: 1 });
    expect(second.bridge.getClientId(sessionId)).toBeUndefined();
  });

  it("keeps the attached session when the session cookie's signature is bad", async () => {
    const server = await startServer();
    const { jar, clientId, sessionId } = await client(server);
    jar.set(KEY, "forged-session-id");
    jar.set(`${KEY}.sig`, "not-a-valid-signature");
    const events = recordOrdered(server.bridge);
    const res = await server.get("/session", jar);
    expect(res.body).toStrictEqual({ clientId, sessionId, session: { count: 1 } });
    expect(only(res, KEY).value).toBe(sessionId);
    expect(events).toStrictEqual([]);
  });

  it("gives a client cookie with a bad signature a new client id that does not reach the old session", async () => {
    const store = new RecordingStore();
    const server = await startServer({ store });
    const a = await client(server);
    const events = recordOrdered(server.bridge);
    const forged = a.jar.clone();
    forged.set(`${CID}.sig`, cookieSignature(CID, a.clientId, ["an-attacker-key-0123456789abcdef"]));

    const res = await server.get("/session", forged);
    const newClientId = only(res, CID).value;
    expect(newClientId).toMatch(CLIENT_ID_SHAPE);
    expect(newClientId).not.toBe(a.clientId);
    expect(only(res, `${CID}.sig`).value).toBe(cookieSignature(CID, newClientId));
    expect(res.body).toStrictEqual({ clientId: newClientId, session: {} });
    expect(events).toStrictEqual([]);

    const write = await server.get("/inc", forged);
    expect(write.body.clientId).toBe(newClientId);
    expect(write.body.session).toStrictEqual({ count: 1 });
    const fresh = only(write, KEY).value;
    expect(fresh).not.toBe(a.sessionId);
    expect(events).toStrictEqual([set(newClientId, fresh, true, true)]);
    expect(server.bridge.getSessionId(newClientId)).toBe(fresh);
    expect(server.bridge.getSessionId(a.clientId)).toBe(a.sessionId);
    expect(server.bridge.getClientId(a.sessionId)).toBe(a.clientId);
    expect(storedRecord(store, a.sessionId)).toMatchObject({ count: 1 });
  });

  it("starts a fresh session for a signed cookie naming an unknown session id", async () => {
    const store = new RecordingStore();
    const server = await startServer({ store });
    const jar = new CookieJar();
    const { body } = await server.get("/session", jar);
    const unknown = "unknown-session-id";
    jar.set(KEY, unknown);
    jar.set(`${KEY}.sig`, cookieSignature(KEY, unknown));
    const events = recordOrdered(server.bridge);

    const read = await server.get("/session", jar);
    expect(read.body).toStrictEqual({ clientId: body.clientId, session: {} });
    expect(events).toStrictEqual([]);

    const write = await server.get("/inc", jar);
    const fresh = only(write, KEY).value;
    expect(fresh).not.toBe(unknown);
    expect(jar.get(KEY)).toBe(fresh);
    expect(events).toStrictEqual([set(body.clientId, fresh, true, true)]);
    expect(store.get(unknown)).toBeUndefined();
    expect(server.bridge.getClientId(unknown)).toBeUndefined();
  });

  it("never lets a client use another client's copied session cookie", async () => {
    const store = new RecordingStore();
    const server = await startServer({ store });
    const a = await client(server);
    const bJar = new CookieJar();
    const bClientId = (await server.get("/session", bJar)).body.clientId as string;
    bJar.set(KEY, a.jar.get(KEY)!);
    bJar.set(`${KEY}.sig`, a.jar.get(`${KEY}.sig`)!);
    const events = recordOrdered(server.bridge);

    const read = await server.get("/session", bJar);
    expect(read.body).toStrictEqual({ clientId: bClientId, session: {} });
    expect(server.bridge.getSessionId(a.clientId)).toBe(a.sessionId);
    expect(server.bridge.getClientId(a.sessionId)).toBe(a.clientId);

    const write = await server.get("/inc", bJar);
    const bSessionId = only(write, KEY).value;
    expect(write.body.clientId).toBe(bClientId);
    expect(write.body.session).toStrictEqual({ count: 1 });
    expect(bSessionId).not.toBe(a.sessionId);
    expect(bJar.get(KEY)).toBe(bSessionId);
    expect(events).toStrictEqual([set(bClientId, bSessionId, true, true)]);
    expect(server.bridge.getSessionId(a.clientId)).toBe(a.sessionId);
    expect(server.bridge.getClientId(a.sessionId)).toBe(a.clientId);
    expect(server.bridge.getSessionId(bClientId)).toBe(bSessionId);
    expect(storedRecord(store, a.sessionId)).toMatchObject({ count: 1 });

    const aRead = await server.get("/session", a.jar);
    expect(aRead.body).toStrictEqual({ clientId: a.clientId, sessionId: a.sessionId, session: { count: 1 } });
  });

  it("does not attach another client's session to a jar holding only that session cookie", async () => {
    const store = new RecordingStore();
    const server = await startServer({ store });
    const a = await client(server);
    const stolen = new CookieJar();
    stolen.set(KEY, a.jar.get(KEY)!);
    stolen.set(`${KEY}.sig`, a.jar.get(`${KEY}.sig`)!);
    const events = recordOrdered(server.bridge);

    const read = await server.get("/session", stolen);
    const clientId = only(read, CID).value;
    expect(clientId).not.toBe(a.clientId);
    expect(read.body).toStrictEqual({ clientId, session: {} });
    expect(events).toStrictEqual([]);
    expect(server.bridge.getSessionId(a.clientId)).toBe(a.sessionId);
    expect(server.bridge.getClientId(a.sessionId)).toBe(a.clientId);

    const write = await server.get("/inc", stolen);
    expect(write.body.session).toStrictEqual({ count: 1 });
    const fresh = only(write, KEY).value;
    expect(fresh).not.toBe(a.sessionId);
    expect(events).toStrictEqual([set(clientId, fresh, true, true)]);
    expect(server.bridge.getSessionId(clientId)).toBe(fresh);
    expect(server.bridge.getClientId(a.sessionId)).toBe(a.clientId);
    expect(storedRecord(store, a.sessionId)).toMatchObject({ count: 1 });
  });
});

describe("koa-session options", () => {
  it("rolling: true refreshes the record's expiry on a read-only request without sessionSet", async () => {
    const store = new RecordingStore();
    const server = await startServer({ store, rolling: true });
    const { jar, sessionId } = await client(server);
    const events = recordOrdered(server.bridge);
    const before = store.get(sessionId)!;
    // koa-session stamps _expire in milliseconds: let the clock move.
    await sleep(20);

    const res = await server.get("/session", jar);
    expect(res.body.session).toStrictEqual({ count: 1 });
    expect(only(res, KEY).value).toBe(sessionId);
    expect(store.sets.map((s) => s.sessionId)).toStrictEqual([sessionId, sessionId]);
    const after = store.get(sessionId)!;
    expect(after.expiresAt).toBeGreaterThan(before.expiresAt);
    expect(after.ttl).toBe(before.ttl);
    expect(JSON.parse(after.session)._expire).toBeGreaterThan(JSON.parse(before.session)._expire);
    expect(JSON.parse(after.session).count).toBe(1);
    expect(events).toStrictEqual([]);
  });

  it("prefix shows in the generated session id", async () => {
    const store = new RecordingStore();
    const server = await startServer({ store, prefix: "app:" });
    const { sessionId } = await client(server);
    expect(sessionId.startsWith("app:")).toBe(true);
    expect(sessionId.length).toBeGreaterThan("app:".length);
    expect(storedRecord(store, sessionId)).toMatchObject({ count: 1 });
  });

  it("maxAge sets the session cookie expiry, the store ttl (maxAge + 10 s) and _maxAge", async () => {
    const store = new RecordingStore();
    const maxAge = ms.h(2);
    const server = await startServer({ store, maxAge });
    const started = Date.now();
    const res = await server.get("/inc", new CookieJar());
    const ended = Date.now();
    const sessionId = only(res, KEY).value;
    expectExpiry(only(res, KEY), maxAge, started, ended);
    // The client cookie keeps its own lifetime.
    expectExpiry(only(res, CID), ms.y(), started, ended);
    const state = store.get(sessionId)!;
    expect(state.ttl).toBe(maxAge + 10_000);
    expect(state.expiresAt).toBeGreaterThanOrEqual(started + maxAge + 10_000);
    expect(state.expiresAt).toBeLessThanOrEqual(ended + maxAge + 10_000);
    const record = JSON.parse(state.session);
    expect(record._maxAge).toBe(maxAge);
    expect(record._expire).toBeGreaterThanOrEqual(started + maxAge);
    expect(record._expire).toBeLessThanOrEqual(ended + maxAge);
  });

  it("keeps _expire and _maxAge in the store while the HTTP body shows only user data", async () => {
    const store = new RecordingStore();
    const server = await startServer({ store });
    const jar = new CookieJar();
    const res = await server.get("/set?name=ann", jar);
    const record = storedRecord(store, jar.get(KEY)!)!;
    expect(Object.keys(record).sort()).toStrictEqual(["_expire", "_maxAge", "name"]);
    expect(record._maxAge).toBe(ms.d(30));
    expect(store.get(jar.get(KEY)!)!.ttl).toBe(ms.d(30) + 10_000);
    expect(res.body.session).toStrictEqual({ name: "ann" });
  });
});
