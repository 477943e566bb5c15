// End-to-end test of the browser client (/client/wsgate.js) and the demo page
// in headless Chromium (Debian's /usr/bin/chromium driven by playwright-core),
// against the real product: devnats, echo/room/auth workers and two gateways,
// each its own process.
//
//   WSGATE_BIN=<dir with gateway, worker, devnats> node --test   (without it the test runs go build)
//   CHROMIUM=/path/to/chromium (default /usr/bin/chromium), E2E_KEEP=1 keeps logs in /tmp.
//
// The chat is the multi-room demo on one socket to /ws/rooms (issue 13). The
// tests marked "needs /ws/rooms" fail, saying so, against a gateway that does
// not serve that route yet (404); E2E_ALLOW_NO_ROOMS=1 skips them instead, to
// run the others (echo, private, the raw client) meanwhile.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { Stack, httpStatus, waitFor } from "./lib/stack.mjs";

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
const [RA, RB, RC] = ["a", "b", "c"].map((x) => `${ROOM}-${x}`);

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

const roomsSockets = (page) => page.sockets.filter((u) => /\/ws\/rooms$/.test(u));
const pane = (room) => `#chat-panes ol.messages[data-room="${room}"]`;
const roomButton = (room) => `#room-list .room-btn[data-room="${room}"]`;

/** Opens the demo as name (the name comes from ?name=). */
async function openDemo(page, gatewayURL, name) {
  await page.goto(`${gatewayURL}/?name=${encodeURIComponent(name)}`);
  await page.waitForFunction(() => document.documentElement.classList.contains("ready"));
}

/** Joins room through the form and waits until the gateway said ok. */
async function joinRoom(page, room) {
  await page.fill("#chat-room", room);
  await page.click("#chat-join");
  await page.waitForSelector(`${roomButton(room)}[data-state="joined"]`, { state: "attached", timeout: 15000 });
  await page.locator(`${pane(room)} li.sys.good`, { hasText: `Joined #${room}` }).waitFor({ state: "attached", timeout: 5000 });
}

/** Switches to a joined room. */
async function openRoom(page, room) {
  await page.click(roomButton(room));
  await page.waitForSelector(`${roomButton(room)}[aria-current="true"]`, { state: "attached" });
}

/** Says text in the room shown. */
async function say(page, text) {
  await page.fill("#chat-input", text);
  await page.press("#chat-input", "Enter");
  await page.waitForFunction(() => document.getElementById("chat-input").value === "", null, { timeout: 5000 });
}

/**
 * Waits for a chat message with this exact text in room's pane that came
 * from the room (for the sender: delivered, not sending nor failed) and
 * returns its sender's name.
 */
async function seeMessage(page, room, text, timeout = 10000) {
  const handle = await page.waitForFunction(
    ([sel, t]) => {
      for (const li of document.querySelectorAll(`${sel} li.msg:not(.pending, .failed)`)) {
        if (li.querySelector(".text")?.textContent === t) return li.querySelector(".who").textContent;
      }
      return false;
    },
    [pane(room), text],
    { timeout, polling: 50 },
  );
  return handle.jsonValue();
}

/** A room's unread badge: its number, 0 when hidden. */
async function unread(page, room) {
  return page.evaluate((sel) => {
    const b = document.querySelector(`${sel} .unread`);
    return !b || b.hidden ? 0 : Number(b.textContent);
  }, roomButton(room));
}

async function waitUnread(page, room, n) {
  await waitFor(async () => (await unread(page, room)) === n, { timeout: 10000, interval: 50, what: `${room} to show ${n} unread` });
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
  let roomsServed = false;

  before(async () => {
    assert.ok(fs.existsSync(executablePath), `no Chromium at ${executablePath} (apt-get install chromium)`);
    fs.mkdirSync(shots, { recursive: true });
    await stack.build();
    await stack.startNATS();
    await stack.startWorkers();
    [g1, g2] = await Promise.all([stack.startGateway("gateway1"), stack.startGateway("gateway2")]);
    browser = await chromium.launch({ executablePath, args: chromiumArgs, timeout: 30000 });
    // A gateway with the route answers a plain GET with 400 (not an upgrade).
    roomsServed = (await httpStatus(`${g1.url}/ws/rooms`)) !== 404;
  }, { timeout: 180000 });

  after(async () => {
    if (browser) await browser.close().catch(() => {});
    await stack.stopAll();
    stack.cleanup();
  });

  // needsRooms marks a test that needs the /ws/rooms endpoint (issue 13).
  const needsRooms = (t) => {
    if (roomsServed) return;
    const why = "the gateway does not serve /ws/rooms (404): merge the issue 13 endpoint, then run again";
    if (process.env.E2E_ALLOW_NO_ROOMS === "1") t.skip(why);
    else assert.fail(why);
    return true;
  };

  // Prints the processes' logs when a test fails.
  const withLogs = (fn) => async (t) => {
    try {
      await fn(t);
    } catch (err) {
      err.message += `\n--- process logs (${stack.dir}) ---\n${stack.logs()}`;
      throw err;
    }
  };

  it("(a) one socket, three rooms: two pages on two gateways chat, with unread counts (needs /ws/rooms)", { timeout: 60000 }, withLogs(async (t) => {
    if (needsRooms(t)) return;
    page1 = await newPage();
    page2 = await newPage();
    await openDemo(page1, g1.url, "Alice");
    await openDemo(page2, g2.url, "Bob");
    assert.equal(await statusOf(page1, "chat"), "idle", "no socket before the first join");
    for (const room of [RA, RB, RC]) await joinRoom(page1, room);
    for (const room of [RA, RB]) await joinRoom(page2, room);
    assert.deepEqual(roomsSockets(page1), [`ws://127.0.0.1:${g1.port}/ws/rooms`], "one socket for three rooms");
    assert.deepEqual(roomsSockets(page2), [`ws://127.0.0.1:${g2.port}/ws/rooms`]);
    assert.equal(page1.sockets.length, 1, "and no other");
    assert.match(await waitState(page1, "chat", "open"), /Connected as Alice/);
    assert.deepEqual(await page1.$$eval("#room-list .room-btn", (bs) => bs.map((b) => b.dataset.room)), [RA, RB, RC]);
    assert.equal(await page1.getAttribute(roomButton(RC), "aria-current"), "true", "the room joined last is shown");

    // Alice looks at C; Bob writes in A and B: unread counts on A and B.
    await openRoom(page2, RA);
    await say(page2, "hello A from Bob");
    await openRoom(page2, RB);
    await say(page2, "hello B from Bob");
    await say(page2, "again in B");
    assert.equal(await seeMessage(page2, RB, "again in B"), "Bob");
    await waitUnread(page1, RA, 1);
    await waitUnread(page1, RB, 2);
    assert.equal(await unread(page1, RC), 0);
    assert.equal(await page1.title(), "(3) wsgate demo");
    assert.equal(await page1.locator(`${pane(RA)}`).isVisible(), false, "A is not shown");

    // Switching shows the room's messages and clears its count.
    await openRoom(page1, RA);
    assert.equal(await seeMessage(page1, RA, "hello A from Bob"), "Bob");
    assert.equal(await unread(page1, RA), 0);
    assert.equal(await page1.title(), "(2) wsgate demo");
    await openRoom(page1, RB);
    assert.equal(await seeMessage(page1, RB, "hello B from Bob"), "Bob");
    assert.equal(await seeMessage(page1, RB, "again in B"), "Bob");
    assert.equal(await page1.title(), "wsgate demo");
    assert.equal(await page1.locator(`${pane(RC)} li.msg`).count(), 0, "nothing leaked into C");

    // Alice answers in B: delivered (the gateway said broadcast), once.
    await say(page1, "hi Bob, Alice here");
    assert.equal(await seeMessage(page1, RB, "hi Bob, Alice here"), "Alice");
    assert.equal(await seeMessage(page2, RB, "hi Bob, Alice here"), "Alice");
    assert.equal(await page1.locator(`${pane(RB)} li.msg.mine`).count(), 1, "own message marked, shown once");
    assert.equal(await page2.locator(`${pane(RB)} li.msg`, { hasText: "hi Bob, Alice here" }).count(), 1);

    // Message content is text, never markup.
    const evil = '<img src=x id="xss"> <b>bold</b>';
    await say(page2, evil);
    assert.equal(await seeMessage(page1, RB, evil), "Bob");
    assert.equal(await page1.locator("#chat-panes img, #chat-panes b").count(), 0);

    // A room left gets nothing more; the others go on, on the same socket.
    await openRoom(page2, RA);
    await page2.click("#room-leave");
    await page2.waitForSelector(roomButton(RA), { state: "detached" });
    await openRoom(page1, RA);
    await say(page1, "is Bob still in A?");
    await seeMessage(page1, RA, "is Bob still in A?");
    await openRoom(page1, RB);
    await say(page1, "Bob is in B");
    await seeMessage(page2, RB, "Bob is in B");
    assert.equal(await page2.locator("#chat-panes li.msg", { hasText: "is Bob still in A?" }).count(), 0);
    assert.equal(roomsSockets(page2).length, 1);
  }));

  it("(b) a page reconnects by itself when its gateway restarts, and rejoins every room (needs /ws/rooms)", { timeout: 90000 }, withLogs(async (t) => {
    if (needsRooms(t)) return;
    assert.ok(page1 && page2, "needs (a)");
    await joinRoom(page2, RA); // back in A
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
    for (const room of [RA, RB, RC]) {
      const drop = await page1.locator(`${pane(room)} li.sys.warn`).last().textContent();
      assert.match(drop, /Connection closed \(1001/, `the gateway closed the socket with 1001 (${room})`);
      assert.equal(await page1.getAttribute(roomButton(room), "data-state"), "joining");
    }
    await page1.screenshot({ path: path.join(shots, "laptop-reconnecting.png") });
    // Said while page 1 is away: its resume (join with since) brings it.
    await openRoom(page2, RB);
    await say(page2, "said while you were away");
    await seeMessage(page2, RB, "said while you were away");
    // Stay down a while: attempts fail (nothing listens) and back off.
    await new Promise((r) => setTimeout(r, 1500));
    const failed = page1.sockets.length - before1;

    await stack.startGateway("gateway1", g1.port);
    await waitState(page1, "chat", "open", 30000);
    const took = Date.now() - t0;
    for (const room of [RA, RB, RC]) {
      await page1.locator(`${pane(room)} li.sys.good`, { hasText: `Rejoined #${room}: caught up` }).waitFor({ state: "attached", timeout: 5000 });
      await page1.waitForSelector(`${roomButton(room)}[data-state="joined"]`, { state: "attached", timeout: 5000 });
    }
    assert.ok(page1.sockets.length > before1, "a new socket was opened");
    assert.equal(await statusOf(page2, "chat"), "open", "page 2 (other gateway) stayed connected");
    assert.equal(roomsSockets(page2).length, 1, "page 2 never reconnected");

    await openRoom(page1, RB);
    assert.equal(await seeMessage(page1, RB, "said while you were away"), "Bob", "nothing lost while reconnecting");
    assert.equal(await page1.locator(`${pane(RB)} li.msg`, { hasText: "said while you were away" }).count(), 1);
    await openRoom(page1, RA);
    await say(page1, "back after the restart");
    assert.equal(await seeMessage(page2, RA, "back after the restart"), "Alice");
    await openRoom(page2, RB);
    await say(page2, "welcome back");
    await waitUnread(page1, RB, 1);
    await openRoom(page1, RB);
    assert.equal(await seeMessage(page1, RB, "welcome back"), "Bob");
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

    // The room picker refuses names the gateway would refuse, and a join
    // without a name, before connecting.
    const before = page.sockets.length;
    await page.fill("#chat-name", "");
    await page.fill("#chat-room", "lobby");
    await page.click("#chat-join");
    await page.waitForSelector("#join-error:not([hidden])", { timeout: 5000 });
    assert.match(await page.textContent("#join-error"), /name/);
    await page.fill("#chat-name", "Carol");
    await page.fill("#chat-room", "no spaces!");
    await page.click("#chat-join");
    await page.waitForFunction(() => /room name/.test(document.getElementById("join-error").textContent));
    assert.equal(page.sockets.length, before, "no connection for an invalid room");
    assert.equal(await statusOf(page, "chat"), "idle");
    assert.equal(await page.locator("#room-list li").count(), 0);
    await page.context().close();
  }));

  it("(d) screenshots at laptop and phone sizes (needs /ws/rooms)", { timeout: 60000 }, withLogs(async (t) => {
    if (needsRooms(t)) return;
    assert.ok(page1 && page2, "needs (a)");
    await page1.click("#echo-connect");
    await waitState(page1, "echo", "open");
    await page1.fill("#echo-input", "hello echo");
    await page1.press("#echo-input", "Enter");
    await seeLog(page1, "echo", "in", "echo: hello echo");
    await page1.click("#private-connect");
    await seeLog(page1, "private", "in", "ok");

    const phone = await newPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    await openDemo(phone, g2.url, "Dana");
    for (const room of [RC, RA, RB]) await joinRoom(phone, room);
    await openRoom(page2, RB);
    await say(page2, "Dana, you made it!");
    await seeMessage(phone, RB, "Dana, you made it!");
    await say(phone, "Hello from my phone, looks fine here");
    await seeMessage(page1, RB, "Hello from my phone, looks fine here");
    await seeMessage(phone, RB, "Hello from my phone, looks fine here");
    await openRoom(page1, RA);
    await say(page1, "Anyone for lunch in A?");
    await say(page1, "12:30 at the usual place");
    await waitUnread(phone, RA, 2);
    await openRoom(page1, RC);
    await say(page1, "C is quiet today");
    await waitUnread(phone, RC, 1);
    await openRoom(page2, RB);
    await say(page2, "see you all later");
    await waitUnread(page1, RB, 1);
    await page1.evaluate(() => document.activeElement?.blur());
    await phone.evaluate(() => document.activeElement?.blur());

    await page1.setViewportSize({ width: 1366, height: 768 });
    await page1.screenshot({ path: path.join(shots, "laptop-1366x768.png") });
    await phone.screenshot({ path: path.join(shots, "phone-390x844.png") });
    await phone.screenshot({ path: path.join(shots, "phone-390x844-full.png"), fullPage: true });

    // Nothing overflows sideways, on the phone or the laptop; the chat fits the laptop's window.
    for (const p of [phone, page1]) {
      const overflow = await p.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.equal(overflow, 0, "no horizontal scrolling");
    }
    const laptop = await page1.evaluate(() => ({
      page: document.documentElement.scrollHeight - document.documentElement.clientHeight,
      composer: document.getElementById("chat-form").getBoundingClientRect().bottom,
    }));
    assert.equal(laptop.page, 0, "the laptop page does not scroll");
    assert.ok(laptop.composer <= 768, "the composer is in view");
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

  it("(g) a message sent while the room has no worker is shown as not delivered (503); Retry delivers it (needs /ws/rooms)", { timeout: 90000 }, withLogs(async (t) => {
    if (needsRooms(t)) return;
    assert.ok(page1 && page2, "needs (a)");
    const phone = await newPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    await openDemo(phone, g2.url, "Dana");
    await joinRoom(phone, RA);
    await openRoom(page1, RA);
    await openRoom(page2, RA);
    const sockets1 = page1.sockets.length;

    await stack.stopWorker("room");
    let restarted = false;
    try {
      await say(page1, "anyone there?");
      const failed = page1.locator(`${pane(RA)} li.msg.mine.failed`, { hasText: "anyone there?" });
      await failed.waitFor({ timeout: 10000 });
      assert.equal(await failed.locator(".delivery-text").textContent(), "Not delivered: the room is unavailable (503)");
      // An error reply closes nothing: the same socket stays open.
      assert.equal(await statusOf(page1, "chat"), "open");
      assert.equal(page1.sockets.length, sockets1, "no new socket");
      const retry = failed.locator("button.retry");
      assert.equal(await retry.isEnabled(), true, "Retry is offered");

      await say(phone, "hello, is this thing on?");
      await phone.locator(`${pane(RA)} li.msg.mine.failed`, { hasText: "hello, is this thing on?" }).waitFor({ timeout: 10000 });
      await page1.evaluate(() => document.activeElement?.blur());
      await phone.evaluate(() => document.activeElement?.blur());
      await page1.screenshot({ path: path.join(shots, "laptop-not-delivered.png") });
      await phone.screenshot({ path: path.join(shots, "phone-not-delivered.png") });
      // Nobody received it.
      for (const p of [page2, phone]) {
        assert.equal(await p.locator(`${pane(RA)} li.msg`, { hasText: "anyone there?" }).count(), 0);
      }

      await stack.startWorkers(["room"]);
      restarted = true;
      await retry.click();
      assert.equal(await seeMessage(page2, RA, "anyone there?"), "Alice");
      assert.equal(await seeMessage(page1, RA, "anyone there?"), "Alice");
      const mine = page1.locator(`${pane(RA)} li.msg.mine`, { hasText: "anyone there?" });
      assert.equal(await mine.count(), 1, "the retried message is shown once");
      assert.equal(await mine.locator("button.retry").count(), 0);
      assert.equal(await page2.locator(`${pane(RA)} li.msg`, { hasText: "anyone there?" }).count(), 1, "delivered once");
    } finally {
      if (!restarted) await stack.startWorkers(["room"]);
    }
    await phone.context().close();
  }));

  it("(h) a message the room never answers (its worker frozen) is marked not delivered; Retry delivers it (needs /ws/rooms)", { timeout: 60000 }, withLogs(async (t) => {
    if (needsRooms(t)) return;
    assert.ok(page1 && page2, "needs (a)");
    await openRoom(page1, RA);
    stack.signalWorker("room", "SIGSTOP");
    let frozen = true;
    try {
      await say(page1, "still there?");
      const li = page1.locator(`${pane(RA)} li.msg.mine`, { hasText: "still there?" });
      await li.locator(".delivery-text", { hasText: "Sending…" }).waitFor({ timeout: 5000 });
      // The gateway answers 503 after GATEWAY_WORKER_TIMEOUT (5 s); the
      // page would stop waiting after 10 s anyway.
      await page1.locator(`${pane(RA)} li.msg.mine.failed`, { hasText: "still there?" }).waitFor({ timeout: 20000 });
      assert.match(await li.locator(".delivery-text").textContent(), /^Not (delivered: the room is unavailable \(503\)|confirmed: no answer in 10 s)$/);
      assert.equal(await statusOf(page1, "chat"), "open", "the connection stayed up");
      stack.signalWorker("room", "SIGCONT");
      frozen = false;
      await li.locator("button.retry").click();
      assert.equal(await seeMessage(page2, RA, "still there?"), "Alice");
      assert.equal(await seeMessage(page1, RA, "still there?"), "Alice");
      assert.equal(await li.count(), 1);
      // The gateway drops the thawed worker's late answer to the first try.
      assert.equal(await page2.locator(`${pane(RA)} li.msg`, { hasText: "still there?" }).count(), 1, "delivered once");
    } finally {
      if (frozen) stack.signalWorker("room", "SIGCONT");
    }
  }));

  it("(i) the rooms client in the page: a raw member and a protocol member of one room, text and binary both ways (needs /ws/rooms)", { timeout: 30000 }, withLogs(async (t) => {
    if (needsRooms(t)) return;
    const page = await newPage();
    await page.goto(g2.url + "/");
    const room = `${ROOM}-i`;
    const got = await page.evaluate(async (room) => {
      const { connect, WsgateClient, RoomsClient } = await import("/client/wsgate.js");
      const until = (what, fn) => new Promise((resolve, reject) => {
        const end = Date.now() + 10000;
        const poll = () => (fn() ? resolve() : Date.now() > end ? reject(new Error(`timed out: ${what}`)) : setTimeout(poll, 20));
        poll();
      });
      const s = connect("/ws/rooms");
      const raw = connect(`/ws/room/${room}`);
      const out = { kinds: [s instanceof RoomsClient, raw instanceof WsgateClient], rooms: [], raw: [] };
      const r = s.join(room);
      r.on("message", (m) => out.rooms.push(m.binary ? { bin: [...new Uint8Array(m.data)] } : { text: m.data, user: m.user }));
      raw.on("message", (m) => out.raw.push(m.binary ? { bin: [...new Uint8Array(m.data)] } : { text: m.data }));
      out.joined = await r.joined;
      await until("raw open", () => raw.state === "open");
      out.text = await r.publish("from rooms");
      out.binary = await r.publish(new Uint8Array([0, 1, 255]));
      raw.send("from raw");
      raw.send(new Uint8Array([7, 8]));
      await until("all four messages on both sides", () => out.rooms.length === 4 && out.raw.length === 4);
      // Errors come back with the gateway's code, and the socket stays.
      const err = await s.join("bad name!").joined.catch((e) => e);
      out.badName = [err.name, err.code];
      const twice = await r.publish("x").then(() => r.leave()).then(() => r.publish("after leave")).catch((e) => e.code);
      out.afterLeave = twice;
      out.state = s.state;
      s.close();
      raw.close();
      return out;
    }, room);
    assert.deepEqual(got.kinds, [true, true]);
    // History is on (the default): the join says where the room stands, acks carry the seq.
    assert.deepEqual(got.joined, { seq: got.joined.seq, recovered: true });
    assert.ok(Number.isSafeInteger(got.joined.seq), JSON.stringify(got.joined));
    assert.deepEqual([got.text, got.binary], [{ broadcast: true, seq: got.text.seq }, { broadcast: true, seq: got.binary.seq }]);
    assert.ok(got.joined.seq < got.text.seq && got.text.seq < got.binary.seq, "seq increases");
    assert.deepEqual(got.rooms.slice(0, 4), [{ text: "from rooms", user: null }, { bin: [0, 1, 255] }, { text: "from raw", user: null }, { bin: [7, 8] }]);
    // So may the room's copy of "x" reach the protocol member before its leave.
    assert.ok(got.rooms.length === 4 || (got.rooms.length === 5 && got.rooms[4].text === "x"), JSON.stringify(got.rooms));
    // The later publish of "x" may reach the raw member before it closes.
    assert.deepEqual(got.raw.slice(0, 4), [{ text: "from rooms" }, { bin: [0, 1, 255] }, { text: "from raw" }, { bin: [7, 8] }]);
    assert.ok(got.raw.length === 4 || (got.raw.length === 5 && got.raw[4].text === "x"), JSON.stringify(got.raw));
    assert.deepEqual(got.badName, ["RoomsError", 400]);
    assert.equal(got.afterLeave, 4, "LEFT");
    assert.equal(got.state, "open");
    await page.context().close();
  }));

  it("(j) a gateway killed under a page while another page publishes: the page resumes with every message once, in order; a publisher on it resends (needs /ws/rooms)", { timeout: 120000 }, withLogs(async (t) => {
    if (needsRooms(t)) return;
    const room = `${ROOM}-j`;
    // The receiver: the demo, on gateway 1.
    const rita = await newPage();
    await openDemo(rita, g1.url, "Rita");
    await joinRoom(rita, room);
    // Two publishers in pages of their own: p2 on gateway 2 (it also
    // records what the room delivers, with seq, as the reference order);
    // p1 on gateway 1, one publish at a time. Each message is a chat
    // message of the demo's format, its text unique.
    const start = (page, who, opts) => page.evaluate(async ([room, who, opts]) => {
      const { connect } = await import("/client/wsgate.js");
      const s = connect("/ws/rooms", { baseDelay: 100, maxDelay: 500 });
      const r = s.join(room);
      const st = (window.pub = { sent: 0, acked: [], failed: [], seen: [], pending: null, stop: false, done: false });
      r.on("message", (m) => st.seen.push({ seq: m.seq, text: JSON.parse(m.data).text }));
      await r.joined;
      (async () => {
        for (let i = 1; !st.stop && i <= opts.count; i++) {
          const text = `${who}-${i}`;
          const payload = JSON.stringify({ name: who, text, client: who, id: text });
          st.sent = i;
          const p = r.publish(payload).then((ok) => st.acked.push({ text, seq: ok.seq }), (e) => st.failed.push(`${text}: ${e.code} ${e.reason}`));
          if (opts.oneAtATime) {
            st.pending = { text, since: Date.now() };
            await p;
            st.pending = null;
          }
          await new Promise((res) => setTimeout(res, opts.every));
        }
        st.done = true;
      })();
    }, [room, who, opts]);
    const pub = (page) => page.evaluate(() => {
      const { sent, acked, failed, seen, pending, done } = window.pub;
      return { sent, acked, failed, seen, pending: pending && { ...pending, age: Date.now() - pending.since }, done };
    });
    const p2 = await newPage();
    await p2.goto(g2.url + "/");
    const p1 = await newPage();
    await p1.goto(g1.url + "/");
    // The publishes p1's page writes, per socket: a resend is a msg_id on two.
    const p1Frames = [];
    p1.on("websocket", (w) => {
      const socket = p1.sockets.length;
      w.on("framesent", (f) => {
        try {
          const m = JSON.parse(f.payload);
          if (m.publish) p1Frames.push({ socket, msgId: m.publish.msg_id });
        } catch {
          // not a command
        }
      });
    });
    // 60 messages: with what p1 adds, fewer than the room keeps
    // (ROOM_HISTORY_SIZE, 100), however long the page takes to come back.
    await start(p2, "p2", { count: 60, every: 20 });
    await start(p1, "p1", { count: 10000, every: 30, oneAtATime: true });
    await waitFor(async () => (await pub(p2)).sent >= 15 && (await pub(p1)).acked.length >= 5, { timeout: 15000, what: "both publishing" });

    // Freeze gateway 1 until p1 has a publish in flight, then kill it.
    const gw1 = stack.gateways.get("gateway1").proc;
    const atStop = (await pub(p2)).sent;
    gw1.child.kill("SIGSTOP");
    let atKill;
    try {
      await waitFor(async () => (await pub(p1)).pending?.age > 200, { timeout: 10000, what: "p1 to wait for a reply" });
      atKill = { p1: (await pub(p1)).acked.length, p2: (await pub(p2)).sent };
    } finally {
      await gw1.stop("SIGKILL", 5000);
    }
    // Gateway 1 stays down while p2 says more.
    await waitFor(async () => (await pub(p2)).sent >= Math.min(atKill.p2 + 15, 60), { timeout: 15000, what: "p2 to publish while gateway 1 is down" });
    const atStart = (await pub(p2)).sent;
    assert.ok(atStart - atStop >= 5, `p2 said ${atStart - atStop} while gateway 1 was frozen or down`);
    await stack.startGateway("gateway1", g1.port);
    await waitFor(async () => (await pub(p1)).acked.length >= atKill.p1 + 5, { timeout: 30000, what: "p1 publishing again" });
    await p1.evaluate(() => (window.pub.stop = true));
    await waitFor(async () => (await pub(p1)).done && (await pub(p2)).done, { timeout: 30000, what: "the publishers to finish" });
    const [r1, r2] = [await pub(p1), await pub(p2)];
    assert.deepEqual([r1.failed, r2.failed], [[], []], "every publish acknowledged");
    assert.equal(r2.acked.length, 60);
    const want = new Map([...r1.acked, ...r2.acked].map((a) => [a.text, a.seq]));

    // The reference: what p2 received, each once, in seq order.
    const ref = await waitFor(async () => {
      const { seen } = await pub(p2);
      return seen.length >= want.size && seen;
    }, { timeout: 20000, what: `p2 to receive all ${want.size} messages` });
    assert.equal(ref.length, want.size, "stored once each: no more messages than publishes");
    for (let i = 1; i < ref.length; i++) assert.ok(ref[i].seq > ref[i - 1].seq, `seq increases at ${i}`);
    for (const m of ref) assert.equal(m.seq, want.get(m.text), `${m.text}: the ack's seq`);

    // The page that lost its gateway shows exactly that list.
    const texts = () => rita.$$eval(`${pane(room)} li.msg .text`, (els) => els.map((e) => e.textContent));
    try {
      await waitFor(async () => (await texts()).length >= ref.length, { timeout: 30000, what: `Rita's page to show ${ref.length} messages` });
    } catch (err) {
      const shown = await texts();
      const missing = ref.filter((m) => !shown.includes(m.text)).map((m) => `${m.text}@${m.seq}`);
      const lines = await rita.$$eval(`${pane(room)} li.sys`, (els) => els.map((e) => e.textContent));
      err.message += `\nmissing: ${missing.join(" ")}\nstatus: ${await statusText(rita, "chat")}\nsystem lines: ${lines.join(" | ")}`;
      throw err;
    }
    assert.deepEqual(await texts(), ref.map((m) => m.text), "every message once, in order");
    await rita.locator(`${pane(room)} li.sys.good`, { hasText: `Rejoined #${room}: caught up` }).waitFor({ state: "attached", timeout: 5000 });
    assert.equal(await rita.locator(`${pane(room)} li.sys.warn`, { hasText: "no longer kept" }).count(), 0);

    // p1's publish in flight at the kill went again, with its msg_id, on the next socket.
    const bySocket = new Map();
    for (const f of p1Frames) bySocket.set(f.msgId, new Set([...(bySocket.get(f.msgId) || []), f.socket]));
    const resent = [...bySocket.values()].filter((sockets) => sockets.size > 1).length;
    assert.ok(resent >= 1, "a publish was sent again after the reconnect");
    console.log(`# resume: ${ref.length} messages (${r1.acked.length} from the publisher on the killed gateway, ${resent} resent); the other page published ${atStart - atStop} while the page's gateway was frozen or down`);
    for (const p of [rita, p1, p2]) await p.context().close();
  }));

  it("no script errors or CSP violations in any page", () => {
    assert.deepEqual(pageErrors, []);
  });
});
