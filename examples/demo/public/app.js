// The demo page: reads the session over HTTP (fetch) and over the socket, side by side.
"use strict";

const $ = (selector, root = document) => root.querySelector(selector);
const delay = (ms) => new Promise((done) => setTimeout(done, ms));
const short = (id) => (id ? `${id.slice(0, 8)}…` : "—");

// WebSocket only by default, so the socket's upgrade response is what sets the
// client cookie on a first visit; ?transport=polling starts with long-polling.
const polling = new URLSearchParams(location.search).get("transport") === "polling";
const socket = io({ transports: polling ? ["polling", "websocket"] : ["websocket"] });

// Long-polling upgrades to a websocket after connecting: keep the pill current.
socket.io.on("open", () => socket.io.engine.on("upgrade", showConnection));

let started = false;
let lostSession = false;

socket.on("connect", () => {
  showConnection();
  if (started) {
    note(`socket reconnected over ${socket.io.engine.transport.name}`);
    void refresh();
  }
});
socket.on("disconnect", (reason) => {
  showConnection();
  note(`socket disconnected (${reason})`, "warn");
  void refresh();
});
socket.on("bridge:event", (event) => {
  logEvent(event);
  void refresh();
});
socket.on("session:destroyed", ({ sessionId }) => {
  lostSession = true;
  note(`socket received session:destroyed for ${short(sessionId)}`, "warn");
  void refresh();
});

start();

async function start() {
  // The socket goes first: its handshake gives this browser a client id before any HTTP call.
  await Promise.race([new Promise((done) => socket.once("connect", done)), delay(3000)]);
  const first = await socketView();
  if (first) {
    const session = first.sessionId ? `session ${short(first.sessionId)}` : "no session yet";
    note(`socket connected over ${socket.io.engine.transport.name}: client ${short(first.clientId)}, ${session} (before this page's first HTTP call)`);
  }
  try {
    await http("POST", "/api/visit");
  } catch (error) {
    note(error.message, "error");
  }
  started = true;
  await refresh();
}

// ---- reading both channels ----

let refreshing = null;
let again = false;

/** Re-reads both channels; calls made while a read runs are folded into one more read. */
function refresh() {
  if (refreshing) {
    again = true;
    return refreshing;
  }
  refreshing = (async () => {
    do {
      again = false;
      const [httpSide, socketSide, mine] = await Promise.all([
        httpView().catch(() => null),
        socketView(),
        http("GET", "/api/sessions").catch(() => null),
      ]);
      render(httpSide, socketSide);
      renderSessions(mine);
      await keepAlive();
    } while (again);
  })().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

async function httpView() {
  const response = await fetch("/api/session", { cache: "no-store" });
  if (!response.ok) throw new Error(`GET /api/session: ${response.status}`);
  return response.json();
}

async function socketView() {
  if (!socket.connected) return null;
  try {
    const reply = await socket.timeout(5000).emitWithAck("session:get");
    return reply.ok ?? null;
  } catch {
    return null;
  }
}

function render(httpSide, socketSide) {
  fill($("#http"), httpSide, "unreachable");
  fill($("#ws"), socketSide, socket.connected ? "no answer" : "disconnected");
  if (socketSide?.sessionId) lostSession = false;
  $("#ws-lost").hidden = !lostSession;

  const banner = $("#same");
  let state;
  let text;
  if (!httpSide || !socketSide) {
    [state, text] = ["offline", "Cannot compare: one channel is not answering."];
  } else if (httpSide.clientId !== socketSide.clientId || httpSide.sessionId !== socketSide.sessionId) {
    [state, text] = ["different", "✗ The channels disagree."];
  } else if (httpSide.sessionId) {
    [state, text] = ["same", `✓ Same session on both channels · ${short(httpSide.sessionId)}`];
  } else {
    [state, text] = ["none", "No session right now, on either channel. +1 via HTTP or Log in creates one."];
  }
  banner.dataset.state = state;
  banner.textContent = text;
}

function fill(panel, view, missing) {
  const set = (field, text) => {
    $(`[data-field="${field}"]`, panel).textContent = text;
  };
  set("clientId", view ? view.clientId : missing);
  set("sessionId", view ? view.sessionId ?? "none" : "—");
  const session = view?.session;
  set("count", session ? String(session.count ?? 0) : "—");
  set("split", session ? `(${session.byHttp ?? 0} via HTTP, ${session.bySocket ?? 0} via socket)` : "");
  set("name", session?.name || "—");
  set("user", session?.user || "—");
  set("visits", session ? String(session.visits ?? 0) : "—");
  panel.dataset.session = view?.sessionId ? "yes" : "no";
}

function showConnection() {
  const pill = $("#conn");
  pill.dataset.state = socket.connected ? "connected" : "disconnected";
  pill.textContent = socket.connected ? `socket: ${socket.io.engine.transport.name}` : "socket: disconnected";
}

// ---- actions ----

async function http(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const reply = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(`${method} ${path}: ${reply.error ?? response.status}`);
  return reply;
}

async function emit(event, ...args) {
  if (!socket.connected) throw new Error(`${event}: the socket is disconnected`);
  const reply = await socket.timeout(5000).emitWithAck(event, ...args);
  if (reply.error) throw new Error(`${event}: ${reply.error}`);
  return reply.ok;
}

const actions = {
  "inc-http": () => http("POST", "/api/count"),
  "inc-ws": () => emit("count:inc"),
  "name-http": () => http("POST", "/api/name", { name: $("#name").value }),
  "name-ws": () => emit("name:set", $("#name").value),
  login: () => http("POST", "/api/login"),
  logout: () => http("POST", "/api/logout"),
  "logout-all": async () => {
    const { ended } = await http("POST", "/api/logout-everywhere");
    note(`logged out everywhere else: ${ended} session(s) ended`);
  },
  cleanup: () => emit("cleanup"), // the bridge's "cleanup" event shows in the log
};

for (const [id, action] of Object.entries(actions)) {
  const button = document.getElementById(id);
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await action();
    } catch (error) {
      note(error.message, "error");
    } finally {
      await refresh();
      button.disabled = false;
    }
  });
}
$("#clear-log").addEventListener("click", () => $("#log").replaceChildren());

// ---- the user's sessions and the keep-alive ----

function renderSessions(mine) {
  const list = $("#sessions");
  $("#users [data-field=user]").textContent = mine?.user ? `of ${mine.user}` : "log in with a name to see them";
  list.replaceChildren(
    ...(mine?.sessions ?? []).map(({ sessionId, current }) => {
      const item = document.createElement("li");
      item.dataset.current = String(current);
      item.textContent = `${short(sessionId)}${current ? " (this browser)" : ""}`;
      return item;
    }),
  );
}

/** Socket activity keeps the session alive (socketTouch); show when it would expire now. */
async function keepAlive() {
  const pill = $("#keepalive");
  try {
    const { expiresAt } = await emit("keepalive");
    pill.dataset.state = expiresAt ? "alive" : "none";
    pill.dataset.expiresAt = expiresAt ?? "";
    pill.textContent = expiresAt
      ? `keep-alive: expires ${new Date(expiresAt).toLocaleTimeString([], { hour12: false })}`
      : "keep-alive: no session";
  } catch {
    pill.dataset.state = "none";
    pill.textContent = "keep-alive: offline";
  }
}
setInterval(keepAlive, 20_000);

// ---- the live log ----

function logEvent(event) {
  const details = {
    sessionSet: () => `${short(event.sessionId)} · isNew ${event.isNew} · isInit ${event.isInit}`,
    sessionDestroy: () => short(event.sessionId),
    cleanup: () => `${event.count} expired session(s) removed`,
  }[event.type];
  addEntry(event.at, event.type, details ? details() : "", `event ${event.type}`);
}

function note(text, kind = "info") {
  addEntry(Date.now(), kind === "info" ? "page" : kind, text, `note ${kind}`);
}

function addEntry(at, label, text, className) {
  const item = document.createElement("li");
  item.className = className;
  const time = document.createElement("time");
  time.textContent = new Date(at).toLocaleTimeString([], { hour12: false });
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = label;
  const body = document.createElement("span");
  body.className = "text";
  body.textContent = text;
  item.append(time, name, body);
  const log = $("#log");
  log.prepend(item);
  while (log.children.length > 60) log.lastElementChild.remove();
}
