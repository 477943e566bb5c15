// The wsgate demo page: a multi-room chat on ONE WebSocket to /ws/rooms
// (wsgate.js's RoomsClient), and the echo and private routes, each on its own
// raw WsgateClient. Message content only ever reaches the page through
// textContent (never innerHTML).
//
// A chat message the user sends is shown at once, as sending, and counts as
// delivered when the gateway answers its publish with broadcast: true (or
// when the room sends it back, whichever comes first). An error reply (503:
// the room has no worker), a connection lost before the reply, or no reply
// in 10 s marks it not delivered, with a Retry button.
//
// With room history on the gateway (the default), joining a room shows its
// last messages, and a reconnect resumes where the room was: wsgate.js
// rejoins with since, so what was said meanwhile arrives, once and in order,
// and a publish in flight is sent again with the same msg_id (the message's
// own id, also for Retry), so it is stored once.
import { connect, CloseCodes, ErrorCodes } from "/client/wsgate.js";

const ROOM_RE = /^[A-Za-z0-9_-]{1,64}$/;
const NAME_MAX = 32;
const BACKOFF = { baseDelay: 500, maxDelay: 10000 };
const clientId = Math.random().toString(36).slice(2, 10);
// No reply in this long: the page stops waiting (the gateway answers every
// command, with 503 after its GATEWAY_WORKER_TIMEOUT, 5 s by default).
const DELIVERY_TIMEOUT = 10000;
const SLOW_SEND = 1000; // "Sending…" shows after this long
const MAX_ITEMS = 500; // messages kept per room
const HISTORY = 20; // messages shown on joining a room (the gateway keeps up to 100)

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

// ---- the chat: one RoomsClient, a list of rooms, one pane per room ----

const chat = {
  client: null, // the RoomsClient, made at the first join; null after it closed for good
  views: new Map(), // room name -> view (see addView)
  active: null, // the view shown
  name: "",
  wasOpen: false,
  lastOpen: false,
  status: new StatusView($("chat-status")),
};

function scrollToEnd(list) {
  const near = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  return () => {
    if (near) list.scrollTop = list.scrollHeight;
  };
}

function addItem(view, node) {
  const settle = scrollToEnd(view.list);
  view.list.append(node);
  while (view.list.children.length > MAX_ITEMS) {
    const old = view.list.firstElementChild;
    forget(old.dataset.id);
    old.remove();
  }
  settle();
}

function systemLine(view, text, kind = "") {
  const li = el("li", `sys ${kind}`.trim());
  li.append(el("span", "sys-text", text), el("time", "time", clock()));
  addItem(view, li);
}

function hue(s) {
  let h = 0;
  for (const ch of s) h = (h * 31 + ch.codePointAt(0)) % 360;
  return h;
}

// parse turns a room message into {name, text, mine, id, kind, user, direct}.
// Chat clients send JSON {name, text, client, id}; raw members of the room
// (/ws/room/{room}) may send anything.
function parse(m) {
  const extra = { user: m.user, direct: m.direct };
  if (m.binary) {
    return { name: "", text: `binary frame, ${m.data.byteLength} bytes`, kind: "binary", ...extra };
  }
  if (m.data.startsWith("{")) {
    try {
      const j = JSON.parse(m.data);
      if (j && typeof j === "object" && typeof j.text === "string") {
        const name = typeof j.name === "string" && j.name.trim() ? j.name.trim().slice(0, NAME_MAX) : "anonymous";
        const id = typeof j.id === "string" ? j.id.slice(0, 64) : "";
        return { name, text: j.text, mine: j.client === clientId, id, kind: "chat", ...extra };
      }
    } catch {
      // not JSON after all: plain text
    }
  }
  return { name: "", text: m.data, kind: "plain", ...extra };
}

function messageItem(m) {
  const li = el("li", `msg m-${m.kind}${m.mine ? " mine" : ""}${m.direct ? " direct" : ""}`);
  const meta = el("div", "meta");
  const who = el("span", "who", m.name || (m.kind === "binary" ? "binary" : "plain text"));
  if (m.name) who.dataset.hue = String(hue(m.name) % 12);
  meta.append(who);
  if (m.user) meta.append(el("span", "user", `@${m.user}`));
  if (m.mine) meta.append(el("span", "you", "you"));
  if (m.direct) meta.append(el("span", "tag", "only you"));
  meta.append(el("time", "time", clock()));
  li.append(meta, el("p", "text", m.text));
  return li;
}

function renderMessage(view, msg) {
  const m = parse(msg);
  if (m.mine && m.id) {
    const entry = outbox.get(m.id);
    if (entry) {
      delivered(entry); // the room's copy came before the publish's reply
      return;
    }
    if (shown.has(m.id)) return; // already shown, confirmed by its reply
  }
  addItem(view, messageItem(m));
  if (m.mine) return;
  if (view !== chat.active) {
    view.unread++;
    renderRoomItem(view);
    updateTitle();
  }
}

// ---- my messages: sending, delivered (the gateway said so) or not ----

const outbox = new Map(); // message id -> entry, until delivered
const shown = new Set(); // ids of my messages shown as delivered
let sentCount = 0;

function forget(id) {
  if (!id) return;
  shown.delete(id);
  const entry = outbox.get(id);
  if (!entry) return;
  clearTimeout(entry.timer);
  outbox.delete(id);
}

// sendChat publishes text to the active room and shows it as sending.
function sendChat(text) {
  const view = chat.active;
  if (!view || !live(view)) return false;
  const id = `${clientId}-${++sentCount}`;
  const payload = JSON.stringify({ name: chat.name, text, client: clientId, id });
  const li = messageItem({ name: chat.name, text, mine: true, kind: "chat" });
  li.dataset.id = id;
  const status = el("span", "delivery-text");
  const retry = el("button", "retry", "Retry");
  retry.type = "button";
  retry.hidden = true;
  const row = el("div", "delivery");
  row.append(status, retry);
  li.append(row);
  const entry = { id, li, payload, view, status, retry, timer: null, tries: 0 };
  retry.addEventListener("click", () => publish(entry));
  outbox.set(id, entry);
  addItem(view, li);
  publish(entry);
  return true;
}

// publish sends (or sends again) an entry and settles it on the reply.
function publish(entry) {
  if (!canRetry(entry)) return;
  const attempt = ++entry.tries;
  pending(entry);
  entry.view.room.publish(entry.payload, { msgId: entry.id }).then(
    (ok) => {
      if (attempt !== entry.tries || !outbox.has(entry.id)) return;
      if (ok.broadcast) delivered(entry);
      else failed(entry, "Not delivered: the room declined it", false);
    },
    (err) => {
      if (attempt !== entry.tries || !outbox.has(entry.id)) return;
      failed(entry, describeError(err, entry.view.name), err.code !== ErrorCodes.LEFT);
    },
  );
}

function describeError(err, room) {
  switch (err.code) {
    case ErrorCodes.DISCONNECTED:
      return "Not confirmed: the connection closed first";
    case ErrorCodes.TIMEOUT:
      return `Not confirmed: no answer in ${DELIVERY_TIMEOUT / 1000} s`;
    case ErrorCodes.QUEUE_FULL:
      return "Not sent: too many messages waiting for the connection";
    case ErrorCodes.LEFT:
      return `Not sent: you left #${room}`;
    case ErrorCodes.CLOSED:
      return "Not sent: disconnected";
    case ErrorCodes.UNAVAILABLE:
      return "Not delivered: the room is unavailable (503)";
    default:
      return `Not delivered: ${err.code}${err.reason ? " " + err.reason : ""}`;
  }
}

function pending(entry) {
  entry.li.classList.remove("failed");
  entry.li.classList.add("pending");
  entry.status.textContent = "";
  entry.retry.hidden = true;
  clearTimeout(entry.timer);
  entry.timer = setTimeout(() => {
    entry.status.textContent = chat.client && chat.client.state === "open" ? "Sending…" : "Waiting for the connection…";
  }, SLOW_SEND);
}

function delivered(entry) {
  clearTimeout(entry.timer);
  outbox.delete(entry.id);
  shown.add(entry.id);
  entry.li.classList.remove("pending", "failed");
  entry.li.querySelector(".delivery").remove();
  entry.li.querySelector(".time").textContent = clock();
}

function failed(entry, text, retryable = true) {
  clearTimeout(entry.timer);
  entry.timer = null;
  entry.li.classList.remove("pending");
  entry.li.classList.add("failed");
  entry.status.textContent = text;
  entry.retry.hidden = !retryable;
  entry.retry.disabled = !canRetry(entry);
}

function live(view) {
  return !!view.room && view.room.state !== "left";
}

function canRetry(entry) {
  return live(entry.view) && entry.view === chat.views.get(entry.view.name);
}

function refreshRetry() {
  for (const entry of outbox.values()) entry.retry.disabled = !canRetry(entry);
}

// ---- rooms: the list, unread counts, switching ----

function addView(name) {
  const list = el("ol", "messages");
  list.dataset.room = name;
  list.setAttribute("aria-label", `Messages in #${name}`);
  list.setAttribute("aria-live", "polite");
  list.hidden = true;
  $("chat-panes").append(list);
  const item = el("li", "room-item");
  const button = el("button", "room-btn");
  button.type = "button";
  button.dataset.room = name;
  const label = el("span", "room-name", name);
  const badge = el("span", "unread");
  badge.hidden = true;
  button.append(el("span", "room-dot"), el("span", "hash", "#"), label, badge);
  button.addEventListener("click", () => activate(view));
  item.append(button);
  $("room-list").append(item);
  const view = { name, room: null, list, item, button, badge, unread: 0, state: "joining", detail: "", off: [] };
  chat.views.set(name, view);
  return view;
}

function renderRoomItem(view) {
  view.button.dataset.state = view.state;
  view.badge.hidden = view.unread === 0;
  view.badge.textContent = view.unread > 99 ? "99+" : String(view.unread);
  view.button.setAttribute("aria-label", `#${view.name}${view.unread ? `, ${view.unread} unread` : ""}${view.state === "failed" ? ", not joined" : ""}`);
  if (view === chat.active) renderHeader();
}

function updateTitle() {
  let n = 0;
  for (const v of chat.views.values()) n += v.unread;
  document.title = n ? `(${n}) wsgate demo` : "wsgate demo";
}

function renderHeader() {
  const view = chat.active;
  $("room-title").textContent = view ? `#${view.name}` : "No room yet";
  const text = !view ? "" : view.state === "joined" ? "" : view.state === "joining" ? "joining…" : view.detail;
  $("room-state").textContent = text;
  $("room-state").dataset.state = view ? view.state : "";
  $("room-leave").hidden = !view;
  $("room-who").textContent = view && view.state === "joined" ? view.who || "" : "";
  $("room-rejoin").hidden = !view || view.state !== "failed";
  const canSend = !!view && live(view);
  $("chat-input").disabled = !canSend;
  $("chat-send").disabled = !canSend;
}

// reveal scrolls the room list (vertical on wide screens, a row of chips on
// phones) so that item shows, centred, without scrolling the page.
function reveal(list, item) {
  const { offsetLeft: x, offsetTop: y, offsetWidth: w, offsetHeight: h } = item;
  if (x < list.scrollLeft || x + w > list.scrollLeft + list.clientWidth) list.scrollLeft = x - (list.clientWidth - w) / 2;
  if (y < list.scrollTop || y + h > list.scrollTop + list.clientHeight) list.scrollTop = y - (list.clientHeight - h) / 2;
}

function activate(view) {
  if (chat.active === view) return;
  if (chat.active) {
    chat.active.list.hidden = true;
    chat.active.button.removeAttribute("aria-current");
  }
  chat.active = view;
  $("chat-empty").hidden = !!view;
  if (view) {
    view.list.hidden = false;
    view.button.setAttribute("aria-current", "true");
    view.list.scrollTop = view.list.scrollHeight;
    view.unread = 0;
    renderRoomItem(view);
    if (view.state === "joined") refreshWho(view);
    reveal($("room-list"), view.item);
  }
  renderHeader();
  updateTitle();
}

// ensureClient gives the page's one RoomsClient, connecting at first use.
function ensureClient() {
  if (chat.client) return chat.client;
  chat.wasOpen = false;
  chat.lastOpen = false;
  const client = connect("/ws/rooms", { ...BACKOFF, queueSize: 16, replyTimeout: DELIVERY_TIMEOUT });
  chat.client = client;
  client.on("state", (s) => {
    if (chat.client !== client) return;
    chat.status.update(s, `Connected as ${chat.name}`);
    if (s.state === "open") chat.wasOpen = true;
    if (s.state === "reconnecting" && chat.lastOpen) {
      // Only the drop of an open connection: failed retries show in the status line.
      for (const v of chat.views.values()) if (live(v)) systemLine(v, `Connection closed (${describeClose(s.code, s.reason)}), reconnecting…`, "warn");
    }
    if (s.state === "closed") {
      chat.client = null;
      if (!s.byClient) for (const v of chat.views.values()) if (live(v)) systemLine(v, `Disconnected: ${describeClose(s.code, s.reason)}`, "bad");
    }
    chat.lastOpen = s.state === "open";
    refreshRetry();
  });
  client.on("push", ({ data, binary }) => {
    const view = chat.active;
    if (view) systemLine(view, `Push: ${binary ? `${data.byteLength} bytes` : data}`, "push");
  });
  return client;
}

// joinRoom joins name (or shows it, when joined already) and switches to it.
function joinRoom(name) {
  let view = chat.views.get(name);
  if (view && live(view)) {
    activate(view);
    return;
  }
  if (!view) view = addView(name);
  for (const off of view.off) off();
  const room = ensureClient().join(name, { ...joinOptions(view), presence: true });
  view.room = room;
  view.earlier = 0;
  view.joinedOnce = false;
  view.off = [
    room.on("state", (r) => roomState(view, room, r)),
    room.on("message", (m) => {
      if (view.room === room) renderMessage(view, m);
    }),
    ...historyHooks(view, room),
    room.on("presence", (e) => {
      if (view.room === room) presenceEvent(view, e);
    }),
  ];
  view.state = "joining";
  renderRoomItem(view);
  activate(view);
  renderHeader();
}

function roomState(view, room, r) {
  if (view.room !== room) return;
  switch (r.state) {
    case "joining":
      view.state = "joining";
      break;
    case "joined":
      view.state = "joined";
      if (r.rejoin && r.resumed) systemLine(view, `Rejoined #${view.name}: caught up on what was said meanwhile`, "good");
      else if (r.rejoin) systemLine(view, `Rejoined #${view.name}: messages sent while you were away are not shown`, "good");
      else systemLine(view, `Joined #${view.name} as ${chat.name}${earlierText(view)}`, "good");
      refreshWho(view);
      break;
    case "left":
      if (r.byClient && r.code === ErrorCodes.LEFT) return; // leave(): the view is gone
      view.state = "failed";
      view.detail = r.code === ErrorCodes.CLOSED ? "disconnected" : `not joined: ${r.code}${r.reason ? " " + r.reason : ""}`;
      if (r.code !== ErrorCodes.CLOSED) systemLine(view, `Could not join #${view.name}: ${r.code} ${r.reason}`.trim(), "bad");
      break;
  }
  renderRoomItem(view);
  refreshRetry();
  if (view === chat.active) renderHeader();
}

// ---- history: the last messages on joining, and a resume that lost some ----

// historyHooks marks the messages that come before a room's first join
// reply (its last messages, from the history) and reports a resume that
// could not recover everything.
function historyHooks(view, room) {
  return [
    room.on("message", (m) => {
      if (view.room !== room || room.state !== "joining" || view.joinedOnce) return;
      const li = view.list.lastElementChild; // the message just shown, if it was
      if (li && li.classList.contains("msg") && !li.classList.contains("earlier")) {
        view.earlier++;
        li.classList.add("earlier");
        li.querySelector(".time").textContent = "earlier";
      }
    }),
    room.on("state", (r) => {
      if (r.state === "joined") view.joinedOnce = true;
    }),
    room.on("recovery", () => {
      if (view.room === room) systemLine(view, "Some messages from while you were away are no longer kept: the older ones are missing", "warn");
    }),
  ];
}

// joinOptions: a room's last messages on a first join; "Join again" (the
// client had closed, or the join was refused) goes on from the last message
// shown, when there is one, so nothing shows twice.
function joinOptions(view) {
  const seq = view.room?.seq;
  return seq === undefined ? { history: HISTORY } : { since: seq };
}

function earlierText(view) {
  if (!view.earlier) return "";
  return view.earlier === 1 ? " (the last message is above)" : ` (the last ${view.earlier} messages are above)`;
}

// ---- presence: who is in the room, join and leave lines ----

// describeWho words a presence answer: "3 here: alice (2), bob · 1 anonymous".
function describeWho({ users, anonymous }) {
  const n = users.reduce((sum, u) => sum + u.connections, 0) + anonymous;
  if (n === 0) return "nobody here";
  const names = users.map((u) => (u.connections > 1 ? `${u.user} (${u.connections})` : u.user));
  if (anonymous) names.push(`${anonymous} anonymous`);
  return `${n} here: ${names.join(", ")}`;
}

// refreshWho asks who is in view's room and shows it in the header. Without a
// presence worker the header says so; chatting works regardless.
function refreshWho(view) {
  if (!view.room || !chat.client) return;
  const room = view.room;
  room.presence().then(
    (who) => {
      if (view.room !== room) return;
      view.who = describeWho(who);
      if (view === chat.active) renderHeader();
    },
    (err) => {
      if (view.room !== room) return;
      view.who = err.code === ErrorCodes.UNAVAILABLE ? "presence unavailable" : "";
      if (view === chat.active) renderHeader();
    },
  );
}

// presenceEvent shows a user entering or leaving, and refreshes the count.
function presenceEvent(view, e) {
  systemLine(view, `${e.user} ${e.event === "join" ? "joined" : "left"} #${view.name}`, e.event === "join" ? "good" : "");
  refreshWho(view);
}

// Anonymous members make no presence events: the count of who is here is
// refreshed now and then as well.
setInterval(() => {
  if (chat.active && chat.active.state === "joined") refreshWho(chat.active);
}, 10000);

function leaveRoom(view) {
  chat.views.delete(view.name);
  for (const off of view.off) off();
  if (view.room) view.room.leave().catch(() => {}); // left here either way
  for (const entry of [...outbox.values()]) if (entry.view === view) forget(entry.id);
  for (const li of view.list.querySelectorAll("li[data-id]")) forget(li.dataset.id);
  view.list.remove();
  view.item.remove();
  if (chat.active === view) {
    chat.active = null;
    activate([...chat.views.values()].at(-1) || null);
  }
  updateTitle();
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
  if (!name) return { error: "Enter a name first." };
  if (name.length > NAME_MAX) return { error: `A name has at most ${NAME_MAX} characters.` };
  if (!ROOM_RE.test(room)) return { error: "A room name is 1–64 letters, digits, “_” or “-”." };
  return { name, room };
}

$("join-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const v = validate();
  if (v.error) {
    joinError(v.error);
    return;
  }
  joinError("");
  chat.name = v.name;
  try {
    localStorage.setItem("wsgate-demo-name", v.name);
  } catch {
    // storage may be off: not needed
  }
  joinRoom(v.room);
  $("chat-room").value = "";
  $("chat-input").focus();
});

$("chat-name").addEventListener("change", () => {
  const name = $("chat-name").value.trim().slice(0, NAME_MAX);
  if (name) chat.name = name;
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

$("room-leave").addEventListener("click", () => chat.active && leaveRoom(chat.active));
$("room-rejoin").addEventListener("click", () => chat.active && joinRoom(chat.active.name));

$("chat-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const input = $("chat-input");
  const text = input.value.trim();
  if (!text || !chat.name) return;
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
chat.name = $("chat-name").value.trim();
if (params.get("room")) $("chat-room").value = params.get("room").slice(0, 64);
document.documentElement.classList.add("ready");
