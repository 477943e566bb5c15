// The wsgate demo page: a chat room, the echo route and the private route,
// each on its own WsgateClient. Message content only ever reaches the page
// through textContent (never innerHTML).
//
// A chat message the user sends is shown at once, as sending, and counts as
// delivered only when the room sends it back (the room worker broadcasts to
// every member, the sender too). If the connection closes first (1013 when
// the room has no worker) or nothing comes back in time, it is marked not
// delivered, with a Retry button.
import { connect, CloseCodes } from "/client/wsgate.js";

const ROOM_RE = /^[A-Za-z0-9_-]{1,64}$/;
const NAME_MAX = 32;
const BACKOFF = { baseDelay: 500, maxDelay: 10000 };
const clientId = Math.random().toString(36).slice(2, 10);
// Longer than the gateway's default GATEWAY_WORKER_TIMEOUT (5 s), after
// which it drops a frame without telling the client.
const DELIVERY_TIMEOUT = 10000;
const SLOW_SEND = 1000; // "Sending…" shows after this long
// Close codes with which the gateway discards the frame it was handling.
const DISCARDED = new Set([1007, 1008, 1009, 1013]);

const $ = (id) => document.getElementById(id);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function clock(date = new Date()) {
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function describeClose(code, reason) {
  const known = CloseCodes[code];
  let s = String(code);
  if (reason) s += ` ${reason}`;
  else if (known) s += ` ${known}`;
  return s;
}

// ---- connection state, shown as a coloured dot and a line of text ----

class StatusView {
  constructor(node) {
    this.node = node;
    this.text = node.querySelector(".status-text");
    this.timer = null;
    this.attempts = 0;
  }

  show(kind, text) {
    clearInterval(this.timer);
    this.timer = null;
    this.node.dataset.state = kind;
    this.text.textContent = text;
  }

  idle(text = "Not connected") {
    this.show("idle", text);
  }

  // update renders a client's "state" event.
  update(s, openText = "Connected") {
    this.node.dataset.attempts = String(s.attempt);
    switch (s.state) {
      case "connecting":
        this.show("connecting", s.attempt > 1 ? `Connecting (attempt ${s.attempt})…` : "Connecting…");
        break;
      case "open":
        this.show("open", openText);
        break;
      case "reconnecting": {
        const why = s.code ? ` (${describeClose(s.code, s.reason)})` : "";
        const tick = () => {
          const left = Math.max(0, s.retryAt - Date.now());
          this.text.textContent = `Reconnecting in ${(left / 1000).toFixed(1)} s${why}`;
        };
        this.show("reconnecting", "");
        tick();
        this.timer = setInterval(tick, 100);
        break;
      }
      case "closed":
        if (s.byClient) this.show("idle", "Disconnected");
        else this.show("closed", `Closed: ${describeClose(s.code, s.reason)}`);
        break;
    }
  }
}

// ---- the chat room ----

const chat = {
  client: null,
  room: "",
  name: "",
  wasOpen: false,
  lastOpen: false,
  open: false,
  status: new StatusView($("chat-status")),
  list: $("chat-messages"),
};

function scrollToEnd(list) {
  const near = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  return () => {
    if (near) list.scrollTop = list.scrollHeight;
  };
}

function addChatItem(node) {
  const empty = $("chat-empty");
  if (empty) empty.remove();
  const settle = scrollToEnd(chat.list);
  chat.list.append(node);
  while (chat.list.children.length > 500) {
    const old = chat.list.firstElementChild;
    forget(old.dataset.id);
    old.remove();
  }
  settle();
}

function systemLine(text, kind = "") {
  const li = el("li", `sys ${kind}`.trim());
  li.append(el("span", "sys-text", text), el("time", "time", clock()));
  addChatItem(li);
}

function hue(s) {
  let h = 0;
  for (const ch of s) h = (h * 31 + ch.codePointAt(0)) % 360;
  return h;
}

// parse turns a frame into {name, text, mine, id, kind}.
function parse(data, binary) {
  if (binary) {
    const bytes = new Uint8Array(data);
    return { name: "", text: `binary frame, ${bytes.length} bytes`, kind: "binary" };
  }
  if (data.startsWith("{")) {
    try {
      const m = JSON.parse(data);
      if (m && typeof m === "object" && typeof m.text === "string") {
        const name = typeof m.name === "string" && m.name.trim() ? m.name.trim().slice(0, NAME_MAX) : "anonymous";
        const id = typeof m.id === "string" ? m.id.slice(0, 64) : "";
        return { name, text: m.text, mine: m.client === clientId, id, kind: "chat" };
      }
    } catch {
      // not JSON after all: plain text
    }
  }
  return { name: "", text: data, kind: "plain" };
}

function messageItem(m) {
  const li = el("li", `msg m-${m.kind}${m.mine ? " mine" : ""}`);
  const meta = el("div", "meta");
  const who = el("span", "who", m.name || (m.kind === "binary" ? "binary" : "plain text"));
  if (m.name) who.dataset.hue = String(hue(m.name) % 12);
  meta.append(who);
  if (m.mine) meta.append(el("span", "you", "you"));
  meta.append(el("time", "time", clock()));
  li.append(meta, el("p", "text", m.text));
  return li;
}

function renderMessage(data, binary) {
  const m = parse(data, binary);
  if (m.mine && outbox.has(m.id)) {
    delivered(outbox.get(m.id));
    return;
  }
  addChatItem(messageItem(m));
}

// ---- my messages: sending, delivered (the room sent it back) or not ----

const outbox = new Map(); // message id -> {id, li, payload, room, timer}
let sentCount = 0;

function forget(id) {
  const entry = id && outbox.get(id);
  if (!entry) return;
  clearTimeout(entry.timer);
  outbox.delete(id);
}

// sendChat sends text to the room and shows it as sending; false when the
// client would not take it.
function sendChat(text) {
  const id = `${clientId}-${++sentCount}`;
  const payload = JSON.stringify({ name: chat.name, text, client: clientId, id });
  if (!chat.client || !chat.client.send(payload)) return false;
  const li = messageItem({ name: chat.name, text, mine: true, kind: "chat" });
  li.dataset.id = id;
  const status = el("span", "delivery-text");
  const retry = el("button", "retry", "Retry");
  retry.type = "button";
  retry.hidden = true;
  retry.addEventListener("click", () => resend(entry));
  const row = el("div", "delivery");
  row.append(status, retry);
  li.append(row);
  const entry = { id, li, payload, room: chat.room, status, retry, timer: null };
  outbox.set(id, entry);
  pending(entry);
  addChatItem(li);
  return true;
}

function pending(entry) {
  entry.li.classList.remove("failed");
  entry.li.classList.add("pending");
  entry.status.textContent = "";
  entry.retry.hidden = true;
  clearTimeout(entry.timer);
  entry.timer = setTimeout(() => {
    entry.status.textContent = "Sending…";
    entry.timer = setTimeout(() => failed(entry, `Not confirmed: no answer in ${DELIVERY_TIMEOUT / 1000} s`), DELIVERY_TIMEOUT - SLOW_SEND);
  }, SLOW_SEND);
}

function delivered(entry) {
  forget(entry.id);
  entry.li.classList.remove("pending", "failed");
  entry.li.querySelector(".delivery").remove();
  entry.li.querySelector(".time").textContent = clock();
}

function failed(entry, text) {
  clearTimeout(entry.timer);
  entry.timer = null;
  entry.li.classList.remove("pending");
  entry.li.classList.add("failed");
  entry.status.textContent = text;
  entry.retry.hidden = false;
  entry.retry.disabled = !canRetry(entry);
}

// failPending marks every message still sending as failed: the connection
// that carried it closed (s is the client's state event) before the room
// sent it back.
function failPending(s) {
  let text;
  if (s.byClient) text = `Not confirmed: you left #${chat.room}`;
  else if (DISCARDED.has(s.code)) text = `Not delivered: ${describeClose(s.code, s.reason)}`;
  else text = `Not confirmed: connection closed (${describeClose(s.code, s.reason)})`;
  for (const entry of outbox.values()) {
    if (entry.li.classList.contains("pending")) failed(entry, text);
  }
}

function canRetry(entry) {
  return chat.open && entry.room === chat.room;
}

function refreshRetry() {
  for (const entry of outbox.values()) entry.retry.disabled = !canRetry(entry);
}

function resend(entry) {
  if (!canRetry(entry) || !chat.client.send(entry.payload)) return;
  pending(entry);
}

function setChatJoined(joined) {
  $("chat-join").textContent = joined ? "Leave" : "Join";
  $("chat-join").classList.toggle("primary", !joined);
  $("chat-name").disabled = joined;
  $("chat-room").disabled = joined;
  if (!joined) setChatOpen(false);
}

function setChatOpen(open) {
  chat.open = open;
  $("chat-input").disabled = !open;
  $("chat-send").disabled = !open;
  refreshRetry();
  if (open && document.activeElement === document.body) $("chat-input").focus();
}

function joinError(text) {
  const p = $("join-error");
  p.textContent = text;
  p.hidden = !text;
}

function validate() {
  const name = $("chat-name").value.trim();
  const room = $("chat-room").value.trim();
  $("chat-name").classList.toggle("invalid", !name);
  $("chat-room").classList.toggle("invalid", !ROOM_RE.test(room));
  if (!name) return { error: "Enter a name." };
  if (name.length > NAME_MAX) return { error: `A name has at most ${NAME_MAX} characters.` };
  if (!ROOM_RE.test(room)) return { error: "A room name is 1–64 letters, digits, “_” or “-”." };
  return { name, room };
}

function leave() {
  if (!chat.client) return;
  chat.client.close();
  chat.client = null;
  systemLine(`Left #${chat.room}`);
  setChatJoined(false);
  chat.status.idle("Not connected");
}

function join() {
  const v = validate();
  if (v.error) {
    joinError(v.error);
    return;
  }
  joinError("");
  chat.name = v.name;
  chat.room = v.room;
  try {
    localStorage.setItem("wsgate-demo-name", v.name);
  } catch {
    // storage may be off: not needed
  }
  $("chat-route").textContent = `/ws/room/${v.room}`;
  history.replaceState(null, "", `?room=${encodeURIComponent(v.room)}`);
  chat.wasOpen = false;
  chat.lastOpen = false;
  setChatJoined(true);
  const client = connect(`/ws/room/${v.room}`, { ...BACKOFF, queueSize: 0 });
  chat.client = client;
  client.on("state", (s) => {
    if (chat.client !== client) return;
    chat.status.update(s, `Connected to #${v.room} as ${v.name}`);
    if (s.state !== "open") failPending(s);
    if (s.state === "open") {
      systemLine(chat.wasOpen ? `Reconnected to #${v.room}` : `Joined #${v.room} as ${v.name}`, "good");
      chat.wasOpen = true;
      setChatOpen(true);
    } else {
      setChatOpen(false);
    }
    if (s.state === "reconnecting" && chat.lastOpen) {
      // Only the drop of an open connection: failed retries show in the status line.
      systemLine(`Connection closed (${describeClose(s.code, s.reason)}), reconnecting…`, "warn");
    }
    if (s.state === "closed" && !s.byClient) {
      systemLine(`Disconnected: ${describeClose(s.code, s.reason)}`, "bad");
      setChatJoined(false);
      chat.client = null;
    }
    chat.lastOpen = s.state === "open";
  });
  client.on("message", ({ data, binary }) => {
    if (chat.client === client) renderMessage(data, binary);
  });
}

$("join-form").addEventListener("submit", (e) => {
  e.preventDefault();
  if (chat.client) leave();
  else join();
});

for (const id of ["chat-name", "chat-room"]) {
  $(id).addEventListener("input", () => {
    if (!$("join-error").hidden) {
      const v = validate();
      joinError(v.error || "");
    } else {
      $(id).classList.remove("invalid");
    }
  });
}

$("chat-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const input = $("chat-input");
  const text = input.value.trim();
  if (!text || !chat.client) return;
  if (sendChat(text)) input.value = "";
});

// ---- echo and private panels: a log of what went out and came in ----

function logLine(list, dir, text, kind = "") {
  const li = el("li", `${dir} ${kind}`.trim());
  li.append(el("span", "arrow", dir === "out" ? "→" : dir === "in" ? "←" : "·"), el("span", "text", text));
  const settle = scrollToEnd(list);
  list.append(li);
  while (list.children.length > 200) list.firstElementChild.remove();
  settle();
}

function showFrame(data, binary) {
  if (!binary) return data;
  const bytes = new Uint8Array(data);
  const text = new TextDecoder("utf-8", { fatal: false }).decode(bytes);
  return `binary ${bytes.length} B: ${text}`;
}

// panel wires a connect button, a status line, a composer and a log to one
// route. tokenInput, when given, supplies the token.
function panel(prefix, route, tokenInput) {
  const p = { client: null, status: new StatusView($(`${prefix}-status`)) };
  const log = $(`${prefix}-log`);
  const button = $(`${prefix}-connect`);
  const setOpen = (open) => {
    $(`${prefix}-input`).disabled = !open;
    $(`${prefix}-send`).disabled = !open;
  };
  const setActive = (active) => {
    button.textContent = active ? "Disconnect" : "Connect";
    if (tokenInput) tokenInput.disabled = active;
  };
  const start = () => {
    const options = { ...BACKOFF, queueSize: 0 };
    if (tokenInput) {
      const token = tokenInput.value.trim();
      options.token = token;
      logLine(log, "note", token ? "connecting with a token" : "connecting without a token");
    }
    const client = connect(route, options);
    p.client = client;
    setActive(true);
    client.on("state", (s) => {
      if (p.client !== client) return;
      p.status.update(s);
      setOpen(s.state === "open");
      if (s.state === "open") logLine(log, "note", `open (subprotocol ${client.protocol || "none"})`, "good");
      if (s.state === "reconnecting") logLine(log, "note", `closed ${describeClose(s.code, s.reason)}; retry in ${(s.delay / 1000).toFixed(1)} s`, "warn");
      if (s.state === "closed" && !s.byClient) {
        logLine(log, "note", `closed ${describeClose(s.code, s.reason)}; not retrying`, "bad");
        p.client = null;
        setActive(false);
      }
    });
    client.on("message", ({ data, binary }) => {
      if (p.client === client) logLine(log, "in", showFrame(data, binary));
    });
  };
  const stop = () => {
    const client = p.client;
    p.client = null;
    client.close();
    setActive(false);
    setOpen(false);
    p.status.idle("Disconnected");
    logLine(log, "note", "disconnected");
  };
  if (tokenInput) {
    $(`${prefix}-auth`).addEventListener("submit", (e) => {
      e.preventDefault();
      if (p.client) stop();
      else start();
    });
  } else {
    button.addEventListener("click", () => (p.client ? stop() : start()));
  }
  $(`${prefix}-form`).addEventListener("submit", (e) => {
    e.preventDefault();
    const input = $(`${prefix}-input`);
    const text = input.value;
    if (!text || !p.client) return;
    const binary = prefix === "echo" && $("echo-binary").checked;
    const data = binary ? new TextEncoder().encode(text) : text;
    if (p.client.send(data)) {
      logLine(log, "out", binary ? `binary ${data.length} B: ${text}` : text);
      input.value = "";
    }
  });
  return p;
}

panel("echo", "/ws");
panel("private", "/ws/private", $("private-token"));

// ---- start: name and room from the URL (?name=&room=) or the last visit ----

const params = new URLSearchParams(location.search);
let savedName = "";
try {
  savedName = localStorage.getItem("wsgate-demo-name") || "";
} catch {
  // storage may be off
}
$("chat-name").value = (params.get("name") || savedName).slice(0, NAME_MAX);
if (params.get("room")) $("chat-room").value = params.get("room").slice(0, 64);
document.documentElement.classList.add("ready");
