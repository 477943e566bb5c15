// Unit tests of /client/wsgate.js in Node with a fake WebSocket: the
// close-code policy, backoff, token refresh, the bounded send queue, the
// confirmation of an upgraded socket and the replay of the current state;
// then the /ws/rooms protocol client (RoomsClient) against a fake gateway
// that answers with the wire format of gateway/roomsproto.
import { afterEach, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
let ws; // the module

before(async () => {
  // The file is served as a browser module; Node needs an .mjs name for it.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "wsgate-client-"));
  const file = path.join(dir, "wsgate.mjs");
  fs.copyFileSync(path.join(here, "../static/wsgate.js"), file);
  ws = await import(pathToFileURL(file).href);
  fs.rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A fake WebSocket: records every instance; the test opens and closes them. */
function fakeSocket() {
  const sockets = [];
  class FakeWS {
    constructor(url, protocols) {
      this.url = url;
      this.protocols = protocols;
      this.readyState = 0;
      this.protocol = "";
      this.sent = [];
      this.bufferedAmount = 0;
      for (const p of protocols) if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(p)) throw new SyntaxError(`bad subprotocol ${p}`);
      sockets.push(this);
    }
    send(d) {
      if (this.readyState !== 1) throw new Error("not open");
      this.sent.push(d);
    }
    close() {
      if (this.readyState === 3) return;
      this.readyState = 3;
      queueMicrotask(() => this.onclose?.({ code: 1006, reason: "", wasClean: false }));
    }
    // test controls
    // protocol: what the server selected; "wsgw.refusal-codes" marks a
    // refusal, "" a server (or proxy) that selected none.
    serverOpen(protocol = "wsgw") {
      this.readyState = 1;
      this.protocol = protocol;
      this.onopen?.({});
    }
    serverClose(code, reason = "") {
      this.readyState = 3;
      this.onclose?.({ code, reason, wasClean: code !== 1006 });
    }
    serverSend(data) {
      this.onmessage?.({ data });
    }
  }
  return { FakeWS, sockets };
}

// Every client a test made is closed after it, also when the test failed
// half-way: a client left retrying would keep the runner alive.
const made = [];

// client makes a client on a fake socket. Unless a test passes confirmAfter,
// the fake's serverOpen() is an accepted socket at once (confirmAfter: 0).
function client(opts = {}) {
  const f = fakeSocket();
  const states = [];
  const c = new ws.WsgateClient("ws://gw.test/ws/room/lobby", {
    WebSocket: f.FakeWS,
    baseDelay: 10,
    maxDelay: 40,
    stableAfter: 50,
    confirmAfter: 0,
    onState: (s) => states.push(s),
    ...opts,
  });
  made.push(c);
  return { c, sockets: f.sockets, states };
}

const until = async (fn, ms = 2000) => {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error("timed out");
    await sleep(2);
  }
};

describe("wsgate.js client", () => {
  afterEach(() => {
    for (const c of made.splice(0)) c.close();
  });

  it("resolves relative URLs against the page, http to ws", () => {
    assert.equal(ws.resolveURL("/ws/room/a", "http://h:8080/x/y"), "ws://h:8080/ws/room/a");
    assert.equal(ws.resolveURL("ws", "https://h/app/"), "wss://h/app/ws");
    assert.equal(ws.resolveURL("ws://o:1/ws#frag", "https://h/"), "ws://o:1/ws");
    assert.throws(() => ws.resolveURL("ftp://h/ws", "http://h/"), SyntaxError);
  });

  it("has the documented close-code policy", () => {
    for (const code of [1000, 1002, 1003, 1007, 1008, 1009, 1010, 4003, 4401, 4403, 4000, 3000]) {
      assert.equal(ws.closePolicy(code, true), "stop", `code ${code}`);
    }
    for (const code of [1001, 1005, 1006, 1011, 1012, 1013, 1014]) {
      assert.equal(ws.closePolicy(code, false), "retry", `code ${code}`);
    }
    assert.equal(ws.closePolicy(4001, false), "stop");
    assert.equal(ws.closePolicy(4001, true), "refresh");
  });

  it("backs off exponentially with full jitter, capped", () => {
    assert.equal(ws.backoffDelay(0, 500, 30000, () => 0.999999), 499);
    assert.equal(ws.backoffDelay(3, 500, 30000, () => 0.5), 2000);
    assert.equal(ws.backoffDelay(20, 500, 30000, () => 0.999999), 29999);
    assert.equal(ws.backoffDelay(5, 500, 30000, () => 0), 0);
    assert.equal(ws.backoffDelay(1e9, 500, 30000, () => 0.5), 15000);
  });

  it("offers wsgw, wsgw.refusal-codes and the bearer token", () => {
    const { c, sockets } = client({ token: "t0k" });
    assert.deepEqual(sockets[0].protocols, ["wsgw", "wsgw.refusal-codes", "bearer.t0k"]);
    c.close();
    const { c: anon, sockets: s2 } = client();
    assert.deepEqual(s2[0].protocols, ["wsgw", "wsgw.refusal-codes"]);
    anon.close();
  });

  for (const code of [4401, 4403, 1008, 1007, 1009, 4003, 1000]) {
    it(`does not retry after ${code}`, async () => {
      const { sockets, states, c } = client({ token: "x" });
      sockets[0].serverOpen();
      sockets[0].serverClose(code, "why");
      await sleep(120);
      assert.equal(sockets.length, 1);
      assert.equal(c.state, "closed");
      assert.deepEqual(
        { state: states.at(-1).state, code: states.at(-1).code, byClient: states.at(-1).byClient },
        { state: "closed", code, byClient: false },
      );
      assert.equal(c.send("late"), false);
    });
  }

  for (const code of [1001, 1013, 1006, 1011]) {
    it(`retries after ${code}, with a delay`, async () => {
      const { sockets, states, c } = client();
      sockets[0].serverOpen();
      sockets[0].serverClose(code);
      const r = states.at(-1);
      assert.equal(r.state, "reconnecting");
      assert.equal(r.code, code);
      assert.ok(r.delay >= 0 && r.delay < 10);
      await until(() => sockets.length === 2);
      sockets[1].serverOpen();
      assert.equal(c.state, "open");
      c.close();
    });
  }

  it("after 4001 retries only with a token function, which is called again", async () => {
    const fixed = client({ token: "old" });
    fixed.sockets[0].serverOpen();
    fixed.sockets[0].serverClose(4001, "token expired");
    await sleep(60);
    assert.equal(fixed.sockets.length, 1);
    assert.equal(fixed.c.state, "closed");

    let n = 0;
    const fresh = client({ token: async () => `tok${++n}` });
    await until(() => fresh.sockets.length === 1);
    fresh.sockets[0].serverOpen();
    fresh.sockets[0].serverClose(4001, "token expired");
    await until(() => fresh.sockets.length === 2);
    assert.deepEqual(fresh.sockets.map((s) => s.protocols.at(-1)), ["bearer.tok1", "bearer.tok2"]);
    fresh.c.close();
  });

  it("keeps failing attempts apart and resets the backoff after a stable connection", async () => {
    const { sockets, states, c } = client({ baseDelay: 8, maxDelay: 1000 });
    for (let i = 0; i < 5; i++) {
      await until(() => sockets.length === i + 1);
      sockets[i].serverClose(1006);
    }
    const caps = states.filter((s) => s.state === "reconnecting").map((s) => s.delay);
    caps.forEach((d, i) => assert.ok(d < 8 * 2 ** i, `delay ${i} = ${d}`));
    await until(() => sockets.length === 6);
    sockets[5].serverOpen();
    await sleep(80); // > stableAfter
    sockets[5].serverClose(1006);
    assert.ok(states.at(-1).delay < 8, "back to the first step");
    c.close();
  });

  it("stops after maxRetries failures in a row", async () => {
    const { sockets, c } = client({ maxRetries: 2 });
    for (let i = 0; i < 3; i++) {
      await until(() => sockets.length === i + 1);
      sockets[i].serverClose(1006);
    }
    await sleep(60);
    assert.equal(sockets.length, 3);
    assert.equal(c.state, "closed");
  });

  it("queues at most queueSize frames while not open, and flushes them in order", async () => {
    const { sockets, c } = client({ queueSize: 2 });
    assert.equal(c.send("a"), true);
    assert.equal(c.send("b"), true);
    assert.equal(c.send("c"), false, "queue full");
    assert.equal(c.queued, 2);
    sockets[0].serverOpen();
    assert.deepEqual(sockets[0].sent, ["a", "b"]);
    assert.equal(c.send("d"), true);
    assert.deepEqual(sockets[0].sent, ["a", "b", "d"]);
    c.close();
    const off = client({ queueSize: 0 });
    assert.equal(off.c.send("x"), false);
    off.c.close();
  });

  it("delivers text as strings and binary as ArrayBuffer", () => {
    const got = [];
    const { sockets, c } = client({ onMessage: (m) => got.push(m) });
    sockets[0].serverOpen();
    assert.equal(sockets[0].binaryType, "arraybuffer");
    sockets[0].serverSend("hi");
    const buf = new Uint8Array([1, 2]).buffer;
    sockets[0].serverSend(buf);
    assert.deepEqual(got, [{ data: "hi", binary: false }, { data: buf, binary: true }]);
    c.close();
  });

  it("close() stops for good, also while waiting to reconnect", async () => {
    const { sockets, states, c } = client({ baseDelay: 30 });
    sockets[0].serverClose(1006);
    assert.equal(c.state, "reconnecting");
    c.close();
    await sleep(80);
    assert.equal(sockets.length, 1);
    assert.deepEqual({ state: states.at(-1).state, byClient: states.at(-1).byClient }, { state: "closed", byClient: true });
  });

  it("a token function that hangs or fails counts as a failed attempt", async () => {
    const errors = [];
    let n = 0;
    const { sockets, states, c } = client({
      connectTimeout: 30,
      onError: (e) => errors.push(e.error.message),
      token: () => (++n === 1 ? new Promise(() => {}) : n === 2 ? Promise.reject(new Error("no token")) : "ok"),
    });
    await until(() => sockets.length === 1, 3000);
    assert.deepEqual(errors, ["token function timed out", "no token"]);
    assert.deepEqual(states.filter((s) => s.state === "reconnecting").length, 2);
    assert.deepEqual(sockets[0].protocols.at(-1), "bearer.ok");
    c.close();
  });

  it("retryNow() skips the wait", async () => {
    const { sockets, c } = client({ baseDelay: 60000, maxDelay: 60000 });
    sockets[0].serverClose(1006);
    assert.equal(c.state, "reconnecting");
    c.retryNow();
    assert.equal(c.state, "connecting");
    await until(() => sockets.length === 2);
    c.close();
  });

  it("is not open until the upgraded socket is confirmed; nothing is written before", async () => {
    // A proxy stripped the subprotocol: the client cannot tell at open.
    const { sockets, states, c } = client({ confirmAfter: 40, queueSize: 4 });
    assert.equal(c.send("a"), true);
    sockets[0].serverOpen("");
    assert.equal(c.state, "connecting");
    assert.equal(c.protocol, "");
    assert.equal(c.send("b"), true, "queued while unconfirmed");
    assert.deepEqual(sockets[0].sent, []);
    await until(() => c.state === "open");
    assert.deepEqual(states.map((s) => s.state), ["connecting", "open"]);
    assert.deepEqual(sockets[0].sent, ["a", "b"]);
    c.close();
  });

  it("an upgrade that selected wsgw is open at once; one that selected wsgw.refusal-codes never", () => {
    const { sockets, states, c } = client({ confirmAfter: 60000 });
    c.send("a");
    sockets[0].serverOpen("wsgw.refusal-codes");
    assert.equal(c.state, "connecting");
    assert.deepEqual(sockets[0].sent, []);
    sockets[0].serverClose(1013, "try again later");
    return until(() => sockets.length === 2).then(() => {
      sockets[1].serverOpen("wsgw");
      assert.equal(c.state, "open");
      assert.equal(c.protocol, "wsgw");
      assert.deepEqual(sockets[1].sent, ["a"]);
      assert.equal(states.filter((s) => s.state === "open").length, 1);
      c.close();
    });
  });

  it("queued frames go out before those an open listener sends", () => {
    const { sockets, c } = client({ confirmAfter: 0 });
    c.on("state", (s) => s.state === "open" && c.send("from the listener"));
    c.send("queued");
    sockets[0].serverOpen();
    assert.deepEqual(sockets[0].sent, ["queued", "from the listener"]);
  });

  it("a frame from the gateway confirms the socket at once, open before the message", () => {
    const seen = [];
    const { sockets, c } = client({ confirmAfter: 60000, onMessage: (m) => seen.push(`message ${m.data}`) });
    c.on("state", (s) => seen.push(`state ${s.state}`));
    c.send("q");
    sockets[0].serverOpen();
    sockets[0].serverSend("ok");
    assert.deepEqual(seen, ["state open", "message ok"]);
    assert.deepEqual(sockets[0].sent, ["q"]);
    c.close();
  });

  it("a refusal right after the upgrade is never open; the queue waits for the accepted socket", async () => {
    const { sockets, states, c } = client({ confirmAfter: 30 });
    c.send("one");
    c.send("two");
    for (let i = 0; i < 2; i++) {
      await until(() => sockets.length === i + 1);
      sockets[i].serverOpen("wsgw.refusal-codes");
      sockets[i].serverClose(1013, "too many connections");
      assert.deepEqual(sockets[i].sent, []);
    }
    await until(() => sockets.length === 3);
    assert.ok(!states.some((s) => s.state === "open"), "never open while refused");
    assert.equal(c.queued, 2);
    sockets[2].serverOpen();
    await until(() => c.state === "open");
    assert.deepEqual(sockets[2].sent, ["one", "two"]);
    assert.equal(states.filter((s) => s.state === "open").length, 1);
    c.close();
  });

  it("a final refusal hands the queue back in undelivered, before closed", async () => {
    const events = [];
    const { sockets, c } = client({
      confirmAfter: 30,
      onState: (s) => events.push(`state ${s.state}`),
      onUndelivered: (u) => events.push(`undelivered ${u.code} ${u.reason} ${u.frames.join(",")}`),
    });
    c.send("x");
    c.send("y");
    sockets[0].serverOpen("wsgw.refusal-codes");
    sockets[0].serverClose(4401, "unauthorized");
    assert.deepEqual(events, ["state connecting", "undelivered 4401 unauthorized x,y", "state closed"]);
    assert.equal(c.queued, 0);
    assert.equal(c.send("z"), false);
    await sleep(50);
    assert.deepEqual(sockets[0].sent, []);
  });

  it("close() hands back what is queued; nothing when the queue is empty", () => {
    const got = [];
    const { c } = client({ onUndelivered: (u) => got.push(u) });
    c.send("pending");
    c.close(1000, "bye");
    assert.deepEqual(got, [{ frames: ["pending"], code: 1000, reason: "bye" }]);
    const empty = client({ onUndelivered: (u) => got.push(u) });
    empty.c.close();
    assert.equal(got.length, 1);
  });

  it("a state listener added after connect() gets the current state once, in a microtask", async () => {
    const { sockets, c } = client();
    const seen = [];
    const off = c.on("state", (s) => seen.push(s.state));
    assert.deepEqual(seen, [], "not during on()");
    await Promise.resolve();
    assert.deepEqual(seen, ["connecting"]);
    sockets[0].serverOpen();
    assert.deepEqual(seen, ["connecting", "open"]);
    off();

    // A listener removed before the microtask, or one that saw a newer
    // state first, gets no replay.
    const removed = [];
    c.on("state", (s) => removed.push(s.state))();
    const newer = [];
    c.on("state", (s) => newer.push(s.state));
    sockets[0].serverClose(1006);
    await Promise.resolve();
    assert.deepEqual(removed, []);
    assert.deepEqual(newer, ["reconnecting"]);
    c.close();
  });

  it("a token a subprotocol cannot carry ends the client like a 4401", () => {
    const { sockets, c, states } = client({ token: "has space" });
    assert.equal(sockets.length, 0);
    assert.equal(c.state, "closed");
    assert.equal(states.at(-1).code, 4401);
  });
});

// ---- the /ws/rooms protocol client ----

// The gateway's lines, as gateway/roomsproto encodes them.
const line = {
  ok: (id, ok = {}) => JSON.stringify({ id, ok }),
  error: (id, code, reason) => JSON.stringify({ id, error: { code, reason } }),
  msg: (room, body, extra = {}) => JSON.stringify({ room, ...body, ...extra }),
};

// rooms makes a RoomsClient on a fake socket, through connect() as an app
// would. sent(i) gives the commands written to socket i, parsed, with each
// publish's msg_id checked and left out (the history tests look at it: wire(i)).
function rooms(opts = {}) {
  const f = fakeSocket();
  const states = [];
  const events = [];
  const c = ws.connect("ws://gw.test/ws/rooms", {
    WebSocket: f.FakeWS,
    baseDelay: 10,
    maxDelay: 40,
    stableAfter: 50,
    confirmAfter: 0,
    onState: (s) => states.push(s.state),
    onError: (e) => events.push(`error ${e.error.message}`),
    ...opts,
  });
  made.push(c);
  const wire = (i = f.sockets.length - 1) => f.sockets[i].sent.map((d) => JSON.parse(d));
  const sent = (i) => wire(i).map((m) => {
    if (!m.publish) return m;
    const { msg_id: id, ...publish } = m.publish;
    assert.match(id, /^[\x21-\x7e]{1,64}$/, "every publish has a msg_id");
    return { ...m, publish };
  });
  const frame = (...lines) => f.sockets.at(-1).serverSend(lines.join("\n"));
  return { c, sockets: f.sockets, states, events, sent, wire, frame };
}

// settled reports a promise's outcome without waiting for it: "pending",
// ["ok", value] or ["error", code].
function track(p) {
  const t = { outcome: "pending" };
  p.then((v) => (t.outcome = ["ok", v]), (e) => (t.outcome = ["error", e.code ?? e.name]));
  return t;
}
const tick = () => new Promise((r) => setTimeout(r, 0));

// roomLog records a room's states and messages as short strings.
function roomLog(room) {
  const log = [];
  room.on("state", (s) => log.push(`${s.state}${s.rejoin ? " rejoin" : ""}${s.code !== undefined ? " " + s.code : ""}`));
  room.on("message", (m) => log.push(`message ${m.binary ? "bin" : m.data}`));
  return log;
}

describe("wsgate.js rooms client", () => {
  afterEach(() => {
    for (const c of made.splice(0)) c.close();
  });

  it("connect() speaks the rooms protocol on /ws/rooms, raw frames elsewhere", () => {
    const { FakeWS } = fakeSocket();
    const o = { WebSocket: FakeWS, autoConnect: false };
    assert.ok(ws.connect("ws://h/ws/rooms", o) instanceof ws.RoomsClient);
    assert.ok(ws.connect("/app/ws/rooms", { ...o, base: "https://h/" }) instanceof ws.RoomsClient);
    assert.ok(ws.connect("ws://h/ws/room/rooms", o) instanceof ws.WsgateClient, "a raw room called rooms");
    assert.ok(ws.connect("ws://h/ws", o) instanceof ws.WsgateClient);
    assert.ok(ws.connect("ws://h/mux", { ...o, rooms: true }) instanceof ws.RoomsClient);
    assert.ok(ws.connect("ws://h/ws/rooms", { ...o, rooms: false }) instanceof ws.WsgateClient);
  });

  it("joins, publishes and leaves, matching replies by id", async () => {
    const { c, sockets, sent, frame, states } = rooms({ token: "t0k" });
    assert.deepEqual(sockets[0].protocols, ["wsgw", "wsgw.refusal-codes", "bearer.t0k"]);
    const lobby = c.join("lobby");
    assert.equal(c.join("lobby"), lobby, "the same room while joined");
    const log = roomLog(lobby);
    const joined = track(lobby.joined);
    await tick(); // the replayed "joining"
    sockets[0].serverOpen();
    assert.equal(c.state, "open");
    assert.deepEqual(states, ["connecting", "open"]);
    assert.deepEqual(sent(), [{ id: 1, join: { room: "lobby" } }], "nothing before the socket is accepted, then the join");

    const pub = track(lobby.publish("hello"));
    assert.deepEqual(sent()[1], { id: 2, publish: { room: "lobby", data: "hello" } });
    frame(line.ok(1));
    await tick();
    assert.deepEqual(joined.outcome, ["ok", {}]);
    assert.equal(lobby.state, "joined");
    frame(line.msg("lobby", { data: "hello" }, { user: "alice" }));
    frame(line.ok(2, { broadcast: true }));
    await tick();
    assert.deepEqual(pub.outcome, ["ok", { broadcast: true }]);

    const all = [];
    c.on("message", (m) => all.push(m));
    frame(line.msg("lobby", { data: "from bob" }));
    assert.deepEqual(all, [{ room: "lobby", data: "from bob", binary: false, user: null, direct: false }]);
    frame(line.msg("other", { data: "not joined" }));
    assert.equal(all.length, 1, "a room not joined is not delivered");

    const left = track(lobby.leave());
    assert.deepEqual(sent()[2], { id: 3, leave: { room: "lobby" } });
    assert.equal(lobby.state, "left");
    assert.equal(c.room("lobby"), undefined);
    frame(line.msg("lobby", { data: "late" })); // sent before the gateway took the leave
    frame(line.ok(3));
    await tick();
    assert.deepEqual(left.outcome, ["ok", {}]);
    assert.deepEqual(log, ["joining", "joined", "message hello", "message from bob", "left 4"]);
    assert.deepEqual((await lobby.publish("x").catch((e) => e)).code, ws.ErrorCodes.LEFT);
    assert.equal(sent().length, 3, "nothing written for a left room");
    assert.notEqual(c.join("lobby"), lobby, "a new room after leave()");
  });

  it("rejects with the gateway's error code and reason, and never closes for it", async () => {
    const { c, sockets, sent, frame } = rooms();
    sockets[0].serverOpen();
    const vip = c.join("vip");
    const log = roomLog(vip);
    await tick();
    const lobby = c.join("lobby");
    const pub = lobby.publish("hi").catch((e) => e);
    frame(line.error(1, 403, "not allowed"), line.ok(2), line.error(3, 503, "unavailable"));
    const err = await vip.joined.catch((e) => e);
    assert.ok(err instanceof ws.RoomsError);
    assert.deepEqual({ code: err.code, reason: err.reason, op: err.op, room: err.room }, { code: 403, reason: "not allowed", op: "join", room: "vip" });
    assert.equal(err.retryable, false);
    await tick();
    assert.deepEqual(log, ["joining", "left 403"]);
    assert.equal(c.room("vip"), undefined, "a refused room is not rejoined");
    const e503 = await pub;
    assert.deepEqual({ code: e503.code, op: e503.op, retryable: e503.retryable }, { code: 503, op: "publish", retryable: true });
    assert.match(e503.message, /publish lobby: 503 unavailable/);
    assert.equal(c.state, "open");
    // A bad name is the gateway's to refuse (400).
    const bad = c.join("no spaces!");
    frame(line.error(4, 400, "bad room name"));
    assert.equal((await bad.joined.catch((e) => e)).code, 400);
    assert.deepEqual(sent().map((m) => m.id), [1, 2, 3, 4]);
  });

  it("handles several lines in one frame, in order", async () => {
    const { c, sockets, frame, events } = rooms();
    sockets[0].serverOpen();
    const a = c.join("a");
    const b = c.join("b");
    const seen = [];
    a.on("state", (s) => seen.push(`a ${s.state}`));
    b.on("state", (s) => seen.push(`b ${s.state}`));
    await tick(); // the replayed "joining"
    a.on("message", (m) => seen.push(`a: ${m.data}`));
    b.on("message", (m) => seen.push(`b: ${m.data}${m.direct ? " (direct)" : ""}`));
    c.on("push", (p) => seen.push(`push: ${p.data}`));
    frame(
      line.ok(1),
      line.msg("a", { data: "one\ntwo" }),
      line.ok(2),
      JSON.stringify({ push: { data: "you have mail" } }),
      line.msg("b", { data: "only you" }, { direct: true }),
      JSON.stringify({ room: "a", event: "join", user: "bob", future: 1 }), // a later kind of line
      JSON.stringify({ something: "new" }),
    );
    assert.deepEqual(seen, ["a joining", "b joining", "a joined", "a: one\ntwo", "b joined", "push: you have mail", "b: only you (direct)"]);
    assert.deepEqual(events, [], "unknown lines are ignored quietly");
    // A line that is not JSON is reported; the others still count.
    frame(line.msg("a", { data: "x" }), "{not json", line.msg("a", { data: "y" }));
    assert.deepEqual(seen.slice(-2), ["a: x", "a: y"]);
    assert.equal(events.length, 1);
    assert.match(events[0], /not a JSON object/);
  });

  it("publishes bytes as b64 and delivers b64 as ArrayBuffer", async () => {
    const { c, sockets, sent, frame } = rooms();
    sockets[0].serverOpen();
    const r = c.join("r");
    const got = [];
    r.on("message", (m) => got.push(m));
    c.on("push", (p) => got.push(p));
    const big = new Uint8Array(10);
    big.set([0xfb, 0xff], 4);
    for (const data of [new Uint8Array([0, 1, 2]), new Uint8Array([255]).buffer, new DataView(big.buffer, 4, 2), new Uint8Array(100000).fill(7)]) {
      r.publish(data).catch(() => {}); // unanswered here
    }
    assert.deepEqual(sent().slice(1, 4).map((m) => m.publish), [
      { room: "r", b64: "AAEC" },
      { room: "r", b64: "/w==" },
      { room: "r", b64: "+/8=" },
    ]);
    assert.equal(Buffer.from(sent()[4].publish.b64, "base64").equals(Buffer.alloc(100000, 7)), true);
    assert.equal((await r.publish({ not: "bytes" }).catch((e) => e)).name, "TypeError");
    frame(line.msg("r", { b64: "AAEC" }, { user: "Zoë" }), JSON.stringify({ push: { b64: "+/8=" } }), line.msg("r", { b64: "" }));
    assert.equal(got.length, 3);
    assert.ok(got[0].data instanceof ArrayBuffer);
    assert.deepEqual([...new Uint8Array(got[0].data)], [0, 1, 2]);
    assert.deepEqual({ binary: got[0].binary, user: got[0].user, direct: got[0].direct }, { binary: true, user: "Zoë", direct: false });
    assert.deepEqual([...new Uint8Array(got[1].data)], [0xfb, 0xff]);
    assert.equal(got[1].binary, true);
    assert.equal(got[2].data.byteLength, 0);
  });

  it("rejoins every room after a reconnect, then sends what waited; in-flight publishes reject with DISCONNECTED", async () => {
    const { c, sockets, sent, frame, states } = rooms({ queueSize: 4 });
    sockets[0].serverOpen();
    const a = c.join("a");
    const b = c.join("b");
    const logA = roomLog(a);
    await tick();
    frame(line.ok(1), line.ok(2));
    const inflight = a.publish("in flight").catch((e) => e);
    const leaving = track(c.join("gone").leave());
    sockets[0].serverClose(1001, "going away");
    assert.equal(c.state, "reconnecting");
    const lost = await inflight;
    assert.deepEqual({ code: lost.code, retryable: lost.retryable }, { code: ws.ErrorCodes.DISCONNECTED, retryable: true });
    await tick();
    assert.deepEqual(leaving.outcome, ["ok", {}], "a leave in flight is done: a new socket does not have the room");
    assert.equal(a.state, "joining");
    assert.equal(b.state, "joining");

    // While down: publishes queue, a join waits, a leave is immediate.
    const queued = track(b.publish("while down"));
    const c3 = c.join("c");
    const d = c.join("d");
    const dPub = d.publish("never").catch((e) => e);
    assert.deepEqual(await d.leave(), {});
    assert.equal((await dPub).code, ws.ErrorCodes.LEFT);
    assert.equal(c.queued, 1);

    await until(() => sockets.length === 2);
    sockets[1].serverOpen();
    assert.deepEqual(sent(1), [
      { id: 1, join: { room: "a" } },
      { id: 2, join: { room: "b" } },
      { id: 3, join: { room: "c" } },
      { id: 4, publish: { room: "b", data: "while down" } },
    ], "ids from 1 on the new socket; joins first, then what waited");
    frame(line.ok(1), line.ok(2), line.ok(3), line.ok(4, { broadcast: true }));
    await tick();
    assert.deepEqual(queued.outcome, ["ok", { broadcast: true }]);
    assert.deepEqual(logA, ["joining", "joined", "joining rejoin", "joined rejoin"]);
    const rejoined = [];
    c3.on("state", (s) => rejoined.push(s));
    await tick();
    assert.deepEqual(rejoined.map((s) => [s.state, s.rejoin]), [["joined", false]], "c was never joined before");
    assert.deepEqual(states, ["connecting", "open", "reconnecting", "connecting", "open"]);
  });

  it("settles replies in the order they come, whatever each says", async () => {
    const { c, sockets, frame } = rooms();
    sockets[0].serverOpen();
    const r = c.join("r");
    const outcomes = [];
    const ps = ["m1", "m2", "m3", "m4"].map((t, i) =>
      r.publish(t).then((v) => outcomes.push(`${i} ok ${v.broadcast}`), (e) => outcomes.push(`${i} error ${e.code}`)));
    frame(line.ok(1), line.ok(2, { broadcast: true }), line.ok(3, { broadcast: false }));
    frame(line.error(4, 429, "slow down"), line.ok(5, { broadcast: true }));
    await Promise.all(ps);
    assert.deepEqual(outcomes, ["0 ok true", "1 ok false", "2 error 429", "3 ok true"]);
  });

  it("an id 0 error answers the oldest command in flight; a reply to nothing is reported", async () => {
    const { c, sockets, frame, events } = rooms();
    sockets[0].serverOpen();
    const r = c.join("r");
    const first = r.publish("one").catch((e) => e);
    const second = track(r.publish("two"));
    frame(line.ok(1), line.error(0, 400, "missing id"));
    const err = await first;
    assert.deepEqual({ code: err.code, reason: err.reason, op: err.op }, { code: 400, reason: "missing id", op: "publish" });
    await tick();
    assert.equal(second.outcome, "pending");
    frame(line.ok(3, { broadcast: true }));
    await tick();
    assert.deepEqual(second.outcome, ["ok", { broadcast: true }]);
    frame(line.ok(42), line.error(0, 400, "not JSON"));
    assert.equal(events.length, 2);
    assert.match(events[0], /reply to no command/);
  });

  it("bounds the queue; closing for good hands back what waited and leaves every room", async () => {
    const undelivered = [];
    const { c, sockets, states } = rooms({ queueSize: 2, onUndelivered: (u) => undelivered.push(u) });
    const r = c.join("r");
    const log = roomLog(r);
    const p1 = r.publish("a").catch((e) => e);
    const bytes = new Uint8Array([1]);
    const p2 = r.publish(bytes).catch((e) => e);
    const full = await r.publish("c").catch((e) => e);
    assert.deepEqual({ code: full.code, retryable: full.retryable }, { code: ws.ErrorCodes.QUEUE_FULL, retryable: true });
    assert.equal(c.queued, 2);
    sockets[0].serverOpen("wsgw.refusal-codes");
    sockets[0].serverClose(4401, "unauthorized");
    assert.deepEqual(undelivered, [{ publishes: [{ room: "r", data: "a" }, { room: "r", data: bytes }], code: 4401, reason: "unauthorized" }]);
    assert.deepEqual([(await p1).code, (await p2).code], [ws.ErrorCodes.CLOSED, ws.ErrorCodes.CLOSED]);
    assert.equal((await r.joined.catch((e) => e)).code, ws.ErrorCodes.CLOSED);
    await tick();
    assert.deepEqual(log, ["joining", "left 3"]);
    assert.deepEqual(states, ["connecting", "closed"]);
    assert.equal(c.join("late").state, "left", "nothing joins a closed client");
    assert.deepEqual(sockets[0].sent, []);
    const off = rooms({ queueSize: 0 });
    assert.equal((await off.c.join("x").publish("y").catch((e) => e)).code, ws.ErrorCodes.QUEUE_FULL);
  });

  it("close() by the app leaves the rooms with byClient", async () => {
    const { c, sockets, frame } = rooms();
    sockets[0].serverOpen();
    const r = c.join("r");
    frame(line.ok(1));
    const states = [];
    r.on("state", (s) => states.push(s));
    await tick();
    const inflight = r.publish("x").catch((e) => e);
    c.close();
    assert.equal((await inflight).code, ws.ErrorCodes.DISCONNECTED, "written: outcome unknown");
    assert.deepEqual(states.map((s) => [s.state, s.byClient]), [["joined", undefined], ["left", true]]);
  });

  it("a reply that does not come within replyTimeout rejects with TIMEOUT; the late one is skipped", async () => {
    const { c, sockets, frame } = rooms({ replyTimeout: 20 });
    sockets[0].serverOpen();
    const r = c.join("r");
    frame(line.ok(1));
    const slow = await r.publish("slow").catch((e) => e);
    assert.deepEqual({ code: slow.code, retryable: slow.retryable }, { code: ws.ErrorCodes.TIMEOUT, retryable: true });
    const next = track(r.publish("next", { timeout: 0 }));
    frame(line.ok(2, { broadcast: true }), line.ok(3, { broadcast: false }));
    await tick();
    assert.deepEqual(next.outcome, ["ok", { broadcast: false }]);
  });

  it("a binary frame or bad base64 from the gateway is reported, not delivered", () => {
    const { c, sockets, frame, events } = rooms();
    sockets[0].serverOpen();
    const r = c.join("r");
    const got = [];
    r.on("message", (m) => got.push(m));
    sockets[0].serverSend(new Uint8Array([1]).buffer);
    frame(line.msg("r", { b64: "%%%" }));
    assert.deepEqual(got, []);
    assert.equal(events.length, 2);
  });

  it("presence: a join asks for events, events reach the room and the client, queries answer", async () => {
    const { c, sockets, sent, frame } = rooms();
    sockets[0].serverOpen();
    const hall = c.join("hall", { presence: true });
    const plain = c.join("plain");
    assert.deepEqual(sent().slice(0, 2), [{ id: 1, join: { room: "hall", presence: true } }, { id: 2, join: { room: "plain" } }]);
    frame(line.ok(1), line.ok(2));
    const got = [], all = [], msgs = [];
    hall.on("presence", (e) => got.push(e));
    hall.on("message", (m) => msgs.push(m));
    c.on("presence", (e) => all.push(e));
    frame('{"room":"hall","event":"join","user":"bob"}', '{"room":"hall","event":"leave","user":"bob"}',
      '{"room":"hall","event":"shrug","user":"bob"}');
    assert.deepEqual(got, [{ room: "hall", event: "join", user: "bob" }, { room: "hall", event: "leave", user: "bob" }]);
    assert.equal(all.length, 2);
    assert.deepEqual(msgs, [], "presence events are no messages");

    const who = track(hall.presence());
    const other = track(c.presence("elsewhere"));
    assert.deepEqual(sent().slice(2), [{ id: 3, presence: { room: "hall" } }, { id: 4, presence: { room: "elsewhere" } }]);
    frame('{"id":3,"ok":{"users":[{"user":"alice","connections":2}],"anonymous":3}}', line.error(4, 503, "no presence worker"));
    await tick();
    assert.deepEqual(who.outcome, ["ok", { users: [{ user: "alice", connections: 2 }], anonymous: 3 }]);
    assert.deepEqual(other.outcome, ["error", 503]);

    // Rejoined after a reconnect: still with presence.
    const pending = track(c.presence("hall"));
    sockets[0].serverClose(1006);
    await tick();
    assert.deepEqual(pending.outcome, ["error", ws.ErrorCodes.DISCONNECTED]);
    await until(() => sockets.length === 2);
    sockets[1].serverOpen();
    assert.deepEqual(JSON.parse(sockets[1].sent[0]), { id: 1, join: { room: "hall", presence: true } });
    c.close();
    assert.equal((await c.presence("hall").catch((e) => e)).code, ws.ErrorCodes.CLOSED);
  });
});

// ---- history and resume (issue 14): seq, since, msg_id, history() ----

describe("wsgate.js rooms client: history and resume", () => {
  afterEach(() => {
    for (const c of made.splice(0)) c.close();
  });

  // joinedWithHistory gives a client on an open socket in room name, joined
  // with the gateway's reply {seq, recovered: true}.
  async function joinedWithHistory(name, seq, opts = {}) {
    const t = rooms(opts);
    t.sockets[0].serverOpen();
    const room = t.c.join(name);
    t.frame(line.ok(1, { seq, recovered: true }));
    await tick();
    return { ...t, room };
  }

  it("sends join's since and history, since winning; refuses bad ones", () => {
    const { c, sockets, sent } = rooms();
    sockets[0].serverOpen();
    c.join("a", { history: 20 });
    c.join("b", { since: 5, history: 3 });
    c.join("c", { since: 0 });
    c.join("d", {});
    assert.deepEqual(sent().map((m) => m.join), [
      { room: "a", history: 20 },
      { room: "b", since: 5 },
      { room: "c", since: 0 },
      { room: "d" },
    ]);
    for (const bad of [{ since: -1 }, { since: 1.5 }, { history: 101 }, { history: "20" }, "x"]) {
      assert.throws(() => c.join("e", bad), TypeError, JSON.stringify(bad));
    }
    assert.equal(c.room("e"), undefined, "a refused option joins nothing");
  });

  it("tracks the last seq, resumes with since after a reconnect and drops what it had", async () => {
    const { c, room, sockets, sent, frame } = await joinedWithHistory("lobby", 10, { queueSize: 4 });
    const other = c.join("other"); // its join stays unanswered: no seq known
    const log = roomLog(room);
    const all = [];
    c.on("message", (m) => all.push(m.seq));
    await tick();
    assert.equal(room.seq, 10, "the join's seq");
    assert.equal(other.seq, undefined);
    frame(line.msg("lobby", { data: "m12" }, { seq: 12 }), line.msg("lobby", { data: "m15" }, { seq: 15, user: "bob" }));
    assert.equal(room.seq, 15);
    const pub = track(room.publish("mine"));
    frame(line.ok(3, { broadcast: true, seq: 21 }));
    await tick();
    assert.deepEqual(pub.outcome, ["ok", { broadcast: true, seq: 21 }]);
    assert.equal(room.seq, 15, "an ack's seq does not move the room on: messages before it may still come");

    sockets[0].serverClose(1006);
    await until(() => sockets.length === 2);
    sockets[1].serverOpen();
    assert.deepEqual(sent(1), [
      { id: 1, join: { room: "lobby", since: 15 } },
      { id: 2, join: { room: "other" } },
    ], "since: the last seq; a room with none joins as before");
    // The catch-up, with repeats (a resume may overlap), then the reply and live ones.
    frame(
      line.msg("lobby", { data: "m15 again" }, { seq: 15 }),
      line.msg("lobby", { data: "m21" }, { seq: 21 }),
      line.msg("lobby", { data: "m12 again" }, { seq: 12 }),
      line.msg("lobby", { data: "m22" }, { seq: 22 }),
      line.ok(1, { seq: 22, recovered: true }),
      line.msg("lobby", { data: "m22 again" }, { seq: 22 }),
      line.msg("lobby", { data: "no seq" }),
      line.msg("lobby", { data: "m30" }, { seq: 30 }),
    );
    await tick();
    assert.deepEqual(log, ["joined", "message m12", "message m15", "joining rejoin", "message m21", "message m22", "joined rejoin", "message no seq", "message m30"]);
    assert.deepEqual(all, [12, 15, 21, 22, undefined, 30], "seq delivered with each message, each once");
    assert.equal(room.seq, 30);
  });

  it("a rejoin says whether it resumed; recovered false is a recovery event on the room and the client", async () => {
    const { c, room, sockets, sent, frame } = await joinedWithHistory("lobby", 7);
    const states = [];
    room.on("state", (s) => states.push(s));
    const recoveries = [];
    room.on("recovery", (r) => recoveries.push(["room", r]));
    c.on("recovery", (r) => recoveries.push(["client", r]));
    await tick();
    assert.deepEqual(states.map((s) => [s.state, s.rejoin, s.resumed]), [["joined", false, false]], "a first join without since resumes nothing");

    sockets[0].serverClose(1001);
    await until(() => sockets.length === 2);
    sockets[1].serverOpen();
    assert.deepEqual(sent(1)[0], { id: 1, join: { room: "lobby", since: 7 } });
    frame(line.ok(1, { seq: 9, recovered: true }));
    assert.deepEqual(states.slice(1).map((s) => [s.state, s.rejoin, s.resumed]), [["joining", true, undefined], ["joined", true, true]]);
    assert.deepEqual(recoveries, []);

    sockets[1].serverClose(1001);
    await until(() => sockets.length === 3);
    sockets[2].serverOpen();
    assert.deepEqual(sent(2)[0], { id: 1, join: { room: "lobby", since: 9 } });
    frame(line.msg("lobby", { data: "still kept" }, { seq: 500 }), line.ok(1, { seq: 500, recovered: false }));
    const detail = { room: "lobby", recovered: false, since: 9, seq: 500 };
    assert.deepEqual(recoveries, [["room", detail], ["client", detail]]);
    assert.deepEqual([states.at(-1).state, states.at(-1).resumed, states.at(-1).result], ["joined", false, { seq: 500, recovered: false }]);
    assert.equal(room.seq, 500);

    // A room whose history was reset (its stream recreated) stands below
    // since: the client goes on from there.
    sockets[2].serverClose(1001);
    await until(() => sockets.length === 4);
    sockets[3].serverOpen();
    assert.deepEqual(sent(3)[0], { id: 1, join: { room: "lobby", since: 500 } });
    frame(line.ok(1, { seq: 10, recovered: false }), line.msg("lobby", { data: "after the reset" }, { seq: 11 }));
    assert.equal(room.seq, 11);
    assert.deepEqual(recoveries.at(-1), ["client", { room: "lobby", recovered: false, since: 500, seq: 10 }]);

    // A first join with since reports it too.
    const x = c.join("x", { since: 3 });
    const xr = [];
    x.on("recovery", (r) => xr.push(r));
    frame(line.ok(2, { seq: 80, recovered: false }));
    assert.deepEqual(xr, [{ room: "x", recovered: false, since: 3, seq: 80 }]);
  });

  it("without history (join ok {}, no seq) rejoins as before and resends nothing", async () => {
    const { c, sockets, sent, frame } = rooms();
    sockets[0].serverOpen();
    const r = c.join("r", { history: 5 });
    frame(line.ok(1), line.msg("r", { data: "plain" }));
    const lost = r.publish("in flight").catch((e) => e);
    sockets[0].serverClose(1006);
    assert.equal((await lost).code, ws.ErrorCodes.DISCONNECTED);
    assert.equal(r.seq, undefined);
    await until(() => sockets.length === 2);
    sockets[1].serverOpen();
    assert.deepEqual(sent(1), [{ id: 1, join: { room: "r", history: 5 } }], "join's own options again, no publish");
  });

  it("gives every publish a msg_id (the caller's, or a random one) and sends an unacknowledged one again with it", async () => {
    const { room, sockets, wire, frame } = await joinedWithHistory("lobby", 1, { queueSize: 4 });
    const one = track(room.publish("one", { msgId: "app-1" }));
    const two = track(room.publish("two"));
    const three = track(room.publish("three"));
    frame(line.ok(3, { broadcast: true, seq: 2 })); // only "two" acknowledged
    const ids = wire(0).slice(1).map((m) => m.publish.msg_id);
    assert.equal(ids[0], "app-1");
    assert.equal(new Set(ids).size, 3, "distinct ids");
    sockets[0].serverClose(1006);
    await tick();
    assert.deepEqual([one.outcome, three.outcome], ["pending", "pending"], "in flight: kept to send again");
    const four = track(room.publish("four")); // queued meanwhile
    await until(() => sockets.length === 2);
    sockets[1].serverOpen();
    assert.deepEqual(wire(1), [
      { id: 1, join: { room: "lobby", since: 1 } },
      { id: 2, publish: { room: "lobby", data: "one", msg_id: "app-1" } },
      { id: 3, publish: { room: "lobby", data: "three", msg_id: ids[2] } },
      { id: 4, publish: { room: "lobby", data: "four", msg_id: wire(1)[3].publish.msg_id } },
    ], "after the join, in their first order, with the same msg_ids");
    frame(line.ok(1, { seq: 2, recovered: true }), line.ok(2, { broadcast: true, seq: 2 }), line.ok(3, { broadcast: true, seq: 3 }), line.ok(4, { broadcast: true, seq: 4 }));
    await tick();
    assert.deepEqual([one.outcome, two.outcome, three.outcome, four.outcome], [2, 2, 3, 4].map((seq) => ["ok", { broadcast: true, seq }]));
    for (const bad of ["has space", "", "x".repeat(65), "é", 7]) {
      const err = await room.publish("x", { msgId: bad }).catch((e) => e);
      assert.equal(err.name, "TypeError", JSON.stringify(bad));
    }
  });

  it("a 503 not stored is sent again, with the same msg_id, after a delay; other errors are not", async () => {
    const { room, wire, frame } = await joinedWithHistory("lobby", 4);
    const p = track(room.publish("keep me"));
    const other = room.publish("no worker").catch((e) => e);
    frame(line.error(2, 503, "not stored"), line.error(3, 503, "no room worker"));
    assert.equal((await other).code, 503, "nothing was stored: the app decides");
    await tick();
    assert.equal(p.outcome, "pending");
    await until(() => wire().length === 4);
    assert.deepEqual(wire()[3], { id: 4, publish: { room: "lobby", data: "keep me", msg_id: wire()[1].publish.msg_id } });
    frame(line.error(4, 503, "not stored"));
    await until(() => wire().length === 5);
    assert.equal(wire()[4].publish.msg_id, wire()[1].publish.msg_id);
    frame(line.ok(5, { broadcast: true, seq: 5 }));
    await tick();
    assert.deepEqual(p.outcome, ["ok", { broadcast: true, seq: 5 }]);

    // Left while waiting: LEFT; nothing more is written.
    const q = room.publish("then left").catch((e) => e);
    frame(line.error(6, 503, "not stored"));
    const leaving = room.leave();
    assert.equal((await q).code, ws.ErrorCodes.LEFT);
    frame(line.ok(7));
    await leaving;
    const n = wire().length;
    await sleep(60);
    assert.equal(wire().length, n);
  });

  it("resends only within resendWindow, and not with resend: false", async () => {
    const late = await joinedWithHistory("r", 1, { resendWindow: 40 });
    const p = late.room.publish("slow").catch((e) => e);
    late.sockets[0].serverClose(1006);
    await until(() => late.sockets.length === 2);
    await sleep(60); // past resendWindow before the next socket opens
    late.sockets[1].serverOpen();
    assert.equal((await p).code, ws.ErrorCodes.DISCONNECTED);
    assert.deepEqual(late.wire(1).map((m) => Object.keys(m)[1]), ["join"], "not written again");

    const off = await joinedWithHistory("r", 1, { resend: false });
    const q = off.room.publish("x").catch((e) => e);
    off.sockets[0].serverClose(1006);
    assert.equal((await q).code, ws.ErrorCodes.DISCONNECTED);
  });

  it("closing for good rejects publishes waiting to go again with DISCONNECTED, not in undelivered", async () => {
    const undelivered = [];
    const { c, room, sockets } = await joinedWithHistory("r", 1, { onUndelivered: (u) => undelivered.push(u) });
    const written = room.publish("written").catch((e) => e);
    sockets[0].serverClose(1006);
    const fresh = room.publish("never written").catch((e) => e);
    c.close();
    assert.deepEqual([(await written).code, (await fresh).code], [ws.ErrorCodes.DISCONNECTED, ws.ErrorCodes.CLOSED]);
    assert.deepEqual(undelivered.map((u) => u.publishes), [[{ room: "r", data: "never written" }]]);
  });

  it("history() asks for a room's stored messages, also without a join, and survives a reconnect", async () => {
    const { c, sockets, sent, frame } = rooms();
    const waiting = c.history("lobby", { before: 1300, limit: 50 }); // queued: not connected
    sockets[0].serverOpen();
    assert.deepEqual(sent(0), [{ id: 1, history: { room: "lobby", before: 1300, limit: 50 } }]);
    sockets[0].serverClose(1006); // in flight: asked again on the next socket
    await until(() => sockets.length === 2);
    const lobby = c.join("lobby");
    sockets[1].serverOpen();
    assert.deepEqual(sent(1), [{ id: 1, join: { room: "lobby" } }, { id: 2, history: { room: "lobby", before: 1300, limit: 50 } }]);
    frame(line.ok(1, { seq: 1400, recovered: true }), JSON.stringify({ id: 2, ok: { messages: [
      { room: "lobby", data: "old", user: "ann", seq: 1201 },
      { room: "lobby", b64: "AAE=", seq: 1299 },
      "junk",
    ] } }));
    const got = await waiting;
    assert.equal(got.messages.length, 2);
    assert.deepEqual(got.messages[0], { room: "lobby", data: "old", binary: false, user: "ann", direct: false, seq: 1201 });
    assert.deepEqual([...new Uint8Array(got.messages[1].data)], [0, 1]);
    assert.equal(got.messages[1].seq, 1299);

    const viaRoom = lobby.history({ limit: 2 });
    assert.deepEqual(sent(1)[2], { id: 3, history: { room: "lobby", limit: 2 } });
    frame(JSON.stringify({ id: 3, ok: { messages: [] } }));
    assert.deepEqual(await viaRoom, { messages: [] });
    const refused = c.history("vip");
    frame(line.error(4, 403, "forbidden"));
    assert.deepEqual([(await refused.catch((e) => e)).code], [403]);
    for (const bad of [{ limit: 0 }, { limit: 101 }, { before: 0 }, { before: -3 }, "x"]) {
      assert.equal((await c.history("lobby", bad).catch((e) => e)).name, "TypeError", JSON.stringify(bad));
    }
    c.close();
    assert.equal((await c.history("lobby").catch((e) => e)).code, ws.ErrorCodes.CLOSED);
  });
});
