// End-to-end test of the browser client (/client/wsgate.js) and the demo page
// in headless Chromium (Debian's /usr/bin/chromium driven by playwright-core),
// against the real product: devnats, echo/room/auth workers and two gateways,
// each its own process.
//
//   WSGATE_BIN=<dir with gateway, worker, devnats> node --test   (without it the test runs go build)
//   CHROMIUM=/path/to/chromium (default /usr/bin/chromium), E2E_KEEP=1 keeps logs in /tmp.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { Stack, waitFor } from "./lib/stack.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const shots = path.join(here, "screenshots");
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const chromiumArgs = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const ROOM = `e2e-${Date.now().toString(36)}`;

const stack = new Stack();
let browser;
const pageErrors = []; // uncaught exceptions and CSP violations in any page

async function newPage(options = {}) {
  const context = await browser.newContext({ viewport: { width: 1366, height: 768 }, ...options });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  page.on("pageerror", (err) => pageErrors.push(`pageerror: ${err.message}`));
  page.on("console", (msg) => {
    if (msg.type() === "error" && /Content.Security.Policy|Refused to/i.test(msg.text())) pageErrors.push(`console: ${msg.text()}`);
  });
  // Every WebSocket the page opens, seen by the browser (not by our client).
  page.sockets = [];
  page.on("websocket", (ws) => page.sockets.push(ws.url()));
  return page;
}

const statusOf = (page, panel) => page.getAttribute(`#${panel}-status`, "data-state");
const statusText = (page, panel) => page.textContent(`#${panel}-status .status-text`);

/** Waits until a panel's status shows state; returns its text. */
async function waitState(page, panel, state, timeout = 15000) {
  await page.waitForSelector(`#${panel}-status[data-state="${state}"]`, { timeout, state: "attached" });
  return statusText(page, panel);
}

async function joinRoom(page, gatewayURL, name, room = ROOM) {
  await page.goto(`${gatewayURL}/?name=${encodeURIComponent(name)}`);
  await page.fill("#chat-room", room);
  await page.click("#chat-join");
  const text = await waitState(page, "chat", "open");
  assert.match(text, new RegExp(`Connected to #${room}`));
}

async function say(page, text) {
  await page.fill("#chat-input", text);
  await page.press("#chat-input", "Enter");
  await page.waitForFunction(() => document.getElementById("chat-input").value === "", null, { timeout: 5000 });
}

/**
 * Waits for a chat message with this exact text that came from the room (for
 * the sender: not one still sending or not delivered) and returns its sender name.
 */
async function seeMessage(page, text, timeout = 10000) {
  const handle = await page.waitForFunction(
    (t) => {
      for (const li of document.querySelectorAll("#chat-messages li.msg:not(.pending, .failed)")) {
        if (li.querySelector(".text")?.textContent === t) return li.querySelector(".who").textContent;
      }
      return false;
    },
    text,
    { timeout, polling: 50 },
  );
  return handle.jsonValue();
}

/** Waits for a log line (li) in a panel's log whose text is exactly text. */
async function seeLog(page, panel, cls, text, timeout = 10000) {
  await page.waitForFunction(
    ([sel, t]) => [...document.querySelectorAll(sel)].some((li) => li.querySelector(".text")?.textContent === t),
    [`#${panel}-log li.${cls}`, text],
    { timeout, polling: 50 },
  );
}

describe("wsgate demo in Chromium", { timeout: 240000 }, () => {
  let g1;
  let g2;
  let page1;
  let page2;

  before(async () => {
    assert.ok(fs.existsSync(executablePath), `no Chromium at ${executablePath} (apt-get install chromium)`);
    fs.mkdirSync(shots, { recursive: true });
    await stack.build();
    await stack.startNATS();
    await stack.startWorkers();
    [g1, g2] = await Promise.all([stack.startGateway("gateway1"), stack.startGateway("gateway2")]);
    browser = await chromium.launch({ executablePath, args: chromiumArgs, timeout: 30000 });
  }, { timeout: 180000 });

  after(async () => {
    if (browser) await browser.close().catch(() => {});
    await stack.stopAll();
    stack.cleanup();
  });

  // Prints the processes' logs when a test fails.
  const withLogs = (fn) => async (t) => {
    try {
      await fn(t);
    } catch (err) {
      err.message += `\n--- process logs (${stack.dir}) ---\n${stack.logs()}`;
      throw err;
    }
  };

  it("(a) two pages on two gateways chat in one room", { timeout: 60000 }, withLogs(async () => {
    page1 = await newPage();
    page2 = await newPage();
    await joinRoom(page1, g1.url, "Alice");
    await joinRoom(page2, g2.url, "Bob");
    assert.equal(page1.sockets.length, 1);
    assert.match(page1.sockets[0], new RegExp(`^ws://127\\.0\\.0\\.1:${g1.port}/ws/room/${ROOM}$`));
    assert.match(page2.sockets[0], new RegExp(`^ws://127\\.0\\.0\\.1:${g2.port}/ws/room/${ROOM}$`));

    await say(page1, "hello from Alice");
    assert.equal(await seeMessage(page2, "hello from Alice"), "Alice");
    assert.equal(await seeMessage(page1, "hello from Alice"), "Alice");
    assert.equal(await page1.locator("#chat-messages li.msg.mine").count(), 1, "own message marked");

    await say(page2, "hi Alice, Bob here");
    assert.equal(await seeMessage(page1, "hi Alice, Bob here"), "Bob");

    // Message content is text, never markup.
    const evil = '<img src=x id="xss"> <b>bold</b>';
    await say(page2, evil);
    assert.equal(await seeMessage(page1, evil), "Bob");
    assert.equal(await page1.locator("#chat-messages img, #chat-messages b").count(), 0);
  }));

  it("(b) a page reconnects by itself when its gateway restarts", { timeout: 90000 }, withLogs(async () => {
    assert.ok(page1 && page2, "needs (a)");
    const before1 = page1.sockets.length;
    const t0 = Date.now();
    const stopping = stack.stopGateway("gateway1");
    // While gateway 1 is gone the page shows that it reconnects, with a countdown.
    await page1.waitForSelector('#chat-status[data-state="reconnecting"]', { timeout: 10000, state: "attached" });
    const exit = await stopping;
    assert.deepEqual({ code: exit.code, killed: !!exit.killed }, { code: 0, killed: false }, "gateway exits 0 on SIGTERM");
    await page1.waitForFunction(
      () => /Reconnecting in \d+\.\d s/.test(document.querySelector("#chat-status .status-text").textContent) ||
        document.querySelector("#chat-status").dataset.state === "connecting",
      null,
      { timeout: 10000, polling: 20 },
    );
    const drop = await page1.locator("#chat-messages li.sys.warn").last().textContent();
    assert.match(drop, /Connection closed \(1001/, "the gateway closed the socket with 1001");
    await page1.screenshot({ path: path.join(shots, "laptop-reconnecting.png") });
    // Stay down a while: attempts fail (nothing listens) and back off.
    await new Promise((r) => setTimeout(r, 1500));
    const failed = page1.sockets.length - before1;

    await stack.startGateway("gateway1", g1.port);
    await waitState(page1, "chat", "open", 30000);
    const took = Date.now() - t0;
    await page1.locator("#chat-messages li.sys.good", { hasText: "Reconnected" }).waitFor({ timeout: 5000 });
    assert.ok(page1.sockets.length > before1, "a new socket was opened");
    assert.equal(await statusOf(page2, "chat"), "open", "page 2 (other gateway) stayed connected");
    assert.equal(page2.sockets.length, 1, "page 2 never reconnected");

    await say(page1, "back after the restart");
    assert.equal(await seeMessage(page2, "back after the restart"), "Alice");
    await say(page2, "welcome back");
    assert.equal(await seeMessage(page1, "welcome back"), "Bob");
    console.log(`# reconnect: page open again ${took} ms after SIGTERM (gateway down >= 1.5 s), ${page1.sockets.length - before1} attempts, ${failed} while down`);
  }));

  it("(c) a bad token is refused once, not retried; a good one gets ok", { timeout: 60000 }, withLogs(async () => {
    const page = await newPage();
    await page.goto(g1.url + "/");
    const privateSockets = () => page.sockets.filter((u) => u.endsWith("/ws/private")).length;

    await page.fill("#private-token", "not-the-token");
    await page.click("#private-connect");
    const refused = await waitState(page, "private", "closed");
    assert.match(refused, /4401/);
    await new Promise((r) => setTimeout(r, 3000)); // would a retry loop show up?
    assert.equal(privateSockets(), 1, "exactly one connection attempt");
    assert.equal(await statusOf(page, "private"), "closed");
    assert.equal(await page.getAttribute("#private-status", "data-attempts"), "1");
    assert.equal(await page.textContent("#private-connect"), "Connect");
    // The refused socket was never shown as open.
    assert.equal(await page.locator("#private-log li", { hasText: /^.open \(/ }).count(), 0, "no 'open' for a refused socket");

    await page.fill("#private-token", "secret");
    await page.click("#private-connect");
    await waitState(page, "private", "open");
    await seeLog(page, "private", "in", "ok");
    await page.fill("#private-input", "who am I");
    await page.press("#private-input", "Enter");
    await seeLog(page, "private", "in", "echo: who am I");
    assert.equal(privateSockets(), 2);

    // Echo, text and binary.
    await page.click("#echo-connect");
    await waitState(page, "echo", "open");
    await page.fill("#echo-input", "ping");
    await page.press("#echo-input", "Enter");
    await seeLog(page, "echo", "in", "echo: ping");
    await page.check("#echo-binary");
    await page.fill("#echo-input", "bytes");
    await page.press("#echo-input", "Enter");
    await seeLog(page, "echo", "in", "binary 11 B: echo: bytes");

    // The room picker refuses names the gateway would refuse, before connecting.
    const before = page.sockets.length;
    await page.fill("#chat-name", "Carol");
    await page.fill("#chat-room", "no spaces!");
    await page.click("#chat-join");
    await page.waitForSelector("#join-error:not([hidden])", { timeout: 5000 });
    assert.equal(page.sockets.length, before, "no connection for an invalid room");
    assert.equal(await statusOf(page, "chat"), "idle");
    await page.context().close();
  }));

  it("(d) screenshots at laptop and phone sizes", { timeout: 60000 }, withLogs(async () => {
    assert.ok(page1 && page2, "needs (a)");
    await page1.click("#echo-connect");
    await waitState(page1, "echo", "open");
    await page1.fill("#echo-input", "hello echo");
    await page1.press("#echo-input", "Enter");
    await seeLog(page1, "echo", "in", "echo: hello echo");
    await page1.click("#private-connect");
    await seeLog(page1, "private", "in", "ok");

    const phone = await newPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    await joinRoom(phone, g2.url, "Dana");
    await say(page2, "Dana, you made it!");
    await seeMessage(phone, "Dana, you made it!");
    await say(phone, "Hello from my phone, looks fine here");
    await seeMessage(page1, "Hello from my phone, looks fine here");
    await seeMessage(phone, "Hello from my phone, looks fine here");
    await page1.evaluate(() => document.activeElement?.blur());
    await phone.evaluate(() => document.activeElement?.blur());

    await page1.setViewportSize({ width: 1366, height: 768 });
    await page1.screenshot({ path: path.join(shots, "laptop-1366x768.png") });
    await phone.screenshot({ path: path.join(shots, "phone-390x844.png") });
    await phone.screenshot({ path: path.join(shots, "phone-390x844-full.png"), fullPage: true });

    // Nothing overflows sideways on the phone.
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.equal(overflow, 0, "no horizontal scrolling on a phone");
    for (const f of ["laptop-1366x768.png", "phone-390x844.png", "phone-390x844-full.png"]) {
      assert.ok(fs.statSync(path.join(shots, f)).size > 10000, `${f} written`);
    }
    await phone.context().close();
  }));

  it("(e) wsgate.js never reports a refused socket open, and keeps or hands back what was queued", { timeout: 60000 }, withLogs(async () => {
    const page = await newPage();
    await page.goto(g1.url + "/");

    // The gateway really completes the upgrade before it refuses: the
    // browser's own WebSocket sees open, then the refusal close. The gap
    // between the two is what the client's confirmAfter window must cover.
    const raw = await page.evaluate(async () => {
      const url = new URL("/ws/private", location.href).href.replace(/^http/, "ws");
      const gaps = [];
      let opened = 0;
      const codes = new Set();
      for (let i = 0; i < 20; i++) {
        await new Promise((resolve) => {
          const ws = new WebSocket(url, ["wsgw", "wsgw.refusal-codes", "bearer.not-the-token"]);
          let t0 = 0;
          ws.onopen = () => {
            opened++;
            t0 = performance.now();
          };
          ws.onclose = (e) => {
            if (t0) gaps.push(performance.now() - t0);
            codes.add(e.code);
            resolve();
          };
        });
      }
      return { opened, codes: [...codes], gaps };
    });
    assert.deepEqual({ opened: raw.opened, codes: raw.codes }, { opened: 20, codes: [4401] }, "a refusal is an upgrade closed at once");
    const sorted = raw.gaps.sort((a, b) => a - b);
    console.log(`# refusal: open-to-close gap in Chromium over loopback, 20 sockets: median ${sorted[10].toFixed(1)} ms, max ${sorted[19].toFixed(1)} ms`);

    // A final refusal (4401): no "open", and the frame queued before it is
    // handed back in "undelivered", not silently dropped.
    const final = await page.evaluate(async () => {
      const { connect } = await import("/client/wsgate.js");
      const log = [];
      return new Promise((resolve) => {
        const c = connect("/ws/private", {
          token: "not-the-token",
          onState: (s) => {
            log.push(`state ${s.state}${s.code ? " " + s.code : ""}`);
            if (s.state === "closed") resolve({ log, queued: c.queued, lateSend: c.send("late") });
          },
        });
        c.on("undelivered", (u) => log.push(`undelivered ${u.code} ${JSON.stringify(u.frames)}`));
        log.push(`send ${c.send("queued before the refusal")}`);
      });
    });
    assert.deepEqual(final, {
      log: ["state connecting", "send true", 'undelivered 4401 ["queued before the refusal"]', "state closed 4401"],
      queued: 0,
      lateSend: false,
    });

    // Refusals to try again later (1013, here: the auth worker is down):
    // never "open", and the queued frame waits for the socket that is
    // accepted, where the worker answers it.
    await stack.stopWorker("auth");
    try {
      await page.evaluate(async () => {
        const { connect } = await import("/client/wsgate.js");
        const t = (window.retained = { log: [], messages: [] });
        const c = connect("/ws/private", {
          token: "secret",
          baseDelay: 100,
          maxDelay: 300,
          onState: (s) => t.log.push(`${s.state}${s.code ? " " + s.code : ""}`),
          onMessage: (m) => t.messages.push(m.data),
        });
        t.client = c;
        t.sent = c.send("kept across refusals");
      });
      await page.waitForFunction(() => window.retained.log.filter((l) => l === "reconnecting 1013").length >= 3, null, { timeout: 15000, polling: 20 });
      const during = await page.evaluate(() => ({ log: window.retained.log, sent: window.retained.sent, queued: window.retained.client.queued }));
      assert.equal(during.sent, true);
      assert.equal(during.queued, 1, "the frame is still queued");
      assert.ok(!during.log.includes("open"), `no open while refused: ${during.log.join(", ")}`);
    } finally {
      await stack.startWorkers(["auth"]);
    }
    await page.waitForFunction(() => window.retained.messages.length >= 2, null, { timeout: 15000, polling: 20 });
    const after = await page.evaluate(() => {
      window.retained.client.close();
      return { log: window.retained.log, messages: window.retained.messages };
    });
    assert.deepEqual(after.messages, ["ok", "echo: kept across refusals"]);
    assert.equal(after.log.filter((l) => l === "open").length, 1, after.log.join(", "));
    assert.deepEqual(after.log.slice(-2), ["open", "closed 1000"]);
    await page.context().close();
  }));

  it("(f) the README example sees connecting, then open", { timeout: 30000 }, withLogs(async () => {
    const page = await newPage();
    await page.goto(g2.url + "/");
    const states = await page.evaluate(async (room) => {
      const { connect } = await import("/client/wsgate.js");
      const chat = connect(`/ws/room/${room}`, { token: async () => "secret" });
      const seen = [];
      await new Promise((resolve) => {
        chat.on("state", (s) => {
          seen.push(s.state);
          if (s.state === "open") resolve();
        });
      });
      const result = [...seen];
      chat.close();
      return result;
    }, ROOM);
    assert.deepEqual(states, ["connecting", "open"]);
    await page.context().close();
  }));

  it("(g) a message sent while the room has no worker is shown as not delivered; Retry delivers it", { timeout: 90000 }, withLogs(async () => {
    assert.ok(page1 && page2, "needs (a)");
    const phone = await newPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    await joinRoom(phone, g2.url, "Dana");
    const opens = (page) => page.locator("#chat-messages li.sys.good").count();
    const opens1 = await opens(page1);

    await stack.stopWorker("room");
    let restarted = false;
    try {
      await say(page1, "anyone there?");
      const failed = page1.locator("#chat-messages li.msg.mine.failed", { hasText: "anyone there?" });
      await failed.waitFor({ timeout: 10000 });
      assert.match(await failed.locator(".delivery").textContent(), /Not delivered.*1013/);
      // The gateway closed the socket (1013); the page reconnects by itself.
      await waitState(page1, "chat", "open", 15000);
      await waitFor(async () => (await opens(page1)) > opens1, { timeout: 10000, what: "page 1 to reconnect" });
      const retry = failed.locator("button.retry");
      assert.equal(await retry.isEnabled(), true, "Retry is offered once connected again");

      await say(phone, "hello, is this thing on?");
      const failedPhone = phone.locator("#chat-messages li.msg.mine.failed", { hasText: "hello, is this thing on?" });
      await failedPhone.waitFor({ timeout: 10000 });
      await waitState(phone, "chat", "open", 15000);
      await page1.evaluate(() => document.activeElement?.blur());
      await phone.evaluate(() => document.activeElement?.blur());
      await page1.screenshot({ path: path.join(shots, "laptop-not-delivered.png") });
      await phone.screenshot({ path: path.join(shots, "phone-not-delivered.png") });
      // Nobody received it.
      for (const p of [page2, phone]) {
        assert.equal(await p.locator("#chat-messages li.msg", { hasText: "anyone there?" }).count(), 0);
      }

      await stack.startWorkers(["room"]);
      restarted = true;
      await retry.click();
      assert.equal(await seeMessage(page2, "anyone there?"), "Alice");
      assert.equal(await seeMessage(page1, "anyone there?"), "Alice");
      const mine = page1.locator("#chat-messages li.msg.mine", { hasText: "anyone there?" });
      assert.equal(await mine.count(), 1, "the retried message is shown once");
      assert.equal(await mine.locator("button.retry").count(), 0);
      assert.equal(await page2.locator("#chat-messages li.msg", { hasText: "anyone there?" }).count(), 1, "delivered once");
    } finally {
      if (!restarted) await stack.startWorkers(["room"]);
    }
    await phone.context().close();
  }));

  it("(h) a message the room never answers (its worker frozen) is marked not confirmed; Retry delivers it", { timeout: 60000 }, withLogs(async () => {
    assert.ok(page1 && page2, "needs (a)");
    stack.signalWorker("room", "SIGSTOP");
    let frozen = true;
    try {
      await say(page1, "still there?");
      const li = page1.locator("#chat-messages li.msg.mine", { hasText: "still there?" });
      await li.locator(".delivery-text", { hasText: "Sending…" }).waitFor({ timeout: 5000 });
      // The gateway drops the frame after GATEWAY_WORKER_TIMEOUT (5 s) and
      // says nothing; the page gives up waiting for the echo after 10 s.
      await page1.locator("#chat-messages li.msg.mine.failed", { hasText: "still there?" }).waitFor({ timeout: 20000 });
      assert.equal(await li.locator(".delivery-text").textContent(), "Not confirmed: no answer in 10 s");
      assert.equal(await statusOf(page1, "chat"), "open", "the connection stayed up");
      stack.signalWorker("room", "SIGCONT");
      frozen = false;
      await li.locator("button.retry").click();
      assert.equal(await seeMessage(page2, "still there?"), "Alice");
      assert.equal(await seeMessage(page1, "still there?"), "Alice");
      assert.equal(await li.count(), 1);
      assert.equal(await page2.locator("#chat-messages li.msg", { hasText: "still there?" }).count(), 1, "delivered once");
    } finally {
      if (frozen) stack.signalWorker("room", "SIGCONT");
    }
  }));

  it("no script errors or CSP violations in any page", () => {
    assert.deepEqual(pageErrors, []);
  });
});
