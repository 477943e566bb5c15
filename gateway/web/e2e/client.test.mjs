// Unit tests of /client/wsgate.js in Node with a fake WebSocket: the
// close-code policy, backoff, token refresh, the bounded send queue, the
// confirmation of an upgraded socket and the replay of the current state.
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
