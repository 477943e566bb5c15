// Unit tests of /client/wsgate.js in Node with a fake WebSocket: the
// close-code policy, backoff, token refresh and the bounded send queue.
import { before, describe, it } from "node:test";
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
    serverOpen() {
      this.readyState = 1;
      this.protocol = "wsgw";
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

function client(opts = {}) {
  const f = fakeSocket();
  const states = [];
  const c = new ws.WsgateClient("ws://gw.test/ws/room/lobby", {
    WebSocket: f.FakeWS,
    baseDelay: 10,
    maxDelay: 40,
    stableAfter: 50,
    onState: (s) => states.push(s),
    ...opts,
  });
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

  it("a token a subprotocol cannot carry ends the client like a 4401", () => {
    const { sockets, c, states } = client({ token: "has space" });
    assert.equal(sockets.length, 0);
    assert.equal(c.state, "closed");
    assert.equal(states.at(-1).code, 4401);
  });
});
