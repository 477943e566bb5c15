/**
 * wsgate.js: the browser client of the wsgate WebSocket gateway.
 *
 * A plain ES module, no build step and no dependencies. The gateway serves it
 * at /client/wsgate.js.
 *
 *   import { connect } from "/client/wsgate.js";
 *
 *   const chat = connect("/ws/room/lobby", {
 *     token: async () => (await fetch("/my-token")).text(), // or a string, or omitted
 *   });
 *   chat.on("state", (s) => console.log(s.state, s));       // connecting | open | reconnecting | closed
 *   chat.on("message", (m) => console.log(m.data));         // string, or ArrayBuffer for binary frames
 *   chat.send(JSON.stringify({ name: "ann", text: "hi" })); // true: sent or queued; false: dropped
 *   chat.close();                                           // stops for good
 *
 * URL. A relative URL ("/ws", "ws/room/x") is resolved against the page's
 * location and http(s) becomes ws(s). Outside a browser pass an absolute ws://
 * URL (or options.base).
 *
 * Credentials. The client offers the subprotocols
 *   ["wsgw", "wsgw.refusal-codes", "bearer." + token]
 * (the last only when there is a token): browsers cannot set an Authorization
 * header on a WebSocket. The gateway answers "wsgw" and never echoes the token.
 * Offering "wsgw.refusal-codes" makes the gateway report a refused handshake
 * after an upgrade, as close code 4401 (HTTP 401) or 4403 (HTTP 403), and
 * 429/503 refusals as 1013: a browser cannot read a refused handshake's
 * status. `token` may be a string or a (possibly async) function; a function
 * is called before every connection attempt, so it can hand out a fresh token
 * (for instance after 4001, token expired). A token with characters that a
 * subprotocol cannot carry ends the client as a 4401 refusal would.
 *
 * Accepted or refused. A refusal is an upgrade that the gateway closes at
 * once, so the browser's "open" event alone does not mean accepted. The
 * gateway tells them apart in the selected subprotocol: "wsgw.refusal-codes"
 * for a refusal (its close follows), "wsgw" for an accepted socket, which
 * the client reports open at once. A server that selects no subprotocol
 * (a proxy that strips it, an older gateway) is confirmed by a first frame
 * or by staying open for `confirmAfter` ms (250) with no close. Nothing is
 * written to a socket before it is confirmed, so a refusal loses no frame.
 *
 * States and events (listen with on(type, fn), which returns an unsubscribe
 * function, or pass onState / onMessage / onClose / onError / onUndelivered in
 * the options):
 *   "state"   {state, attempt, ...}:
 *               connecting    a connection attempt is under way (attempt counts them, from 1),
 *                             up to the socket's confirmation (see above)
 *               open          connected and accepted; send() writes at once
 *               reconnecting  {delay, retryAt (Date.now() ms), code, reason}: waiting to retry
 *               closed        {code, reason, byClient}: for good (close() or a final code)
 *             A "state" listener added while the client already has a state
 *             is called once with it, in a microtask (unless the state
 *             changes first): connect(url).on("state", fn) sees "connecting".
 *   "message" {data, binary}: text frames as strings; binary frames as ArrayBuffer
 *   "close"   {code, reason, wasClean, retry}: every socket close, retried or not
 *   "undelivered" {frames, code, reason}: the client closed for good with
 *             frames still queued; frames holds them, oldest first, none of
 *             them written to any socket. Comes just before "state" closed.
 *   "error"   {error}: the token function failed (then retried), a send failed, ...
 *
 * Close-code policy, after the socket closed (closePolicy() below says it in code):
 *   no retry   1000 (the server ended it), 1002, 1003, 1007 (invalid UTF-8),
 *              1008 (policy: rate limit, or not allowed to publish), 1009 (too big),
 *              1010, 4003 (revoked), 4401 / 4403 (refused: unauthorized / forbidden),
 *              and any other 3000-4999 code (an application's own decision);
 *   4001       (token expired) retry only when `token` is a function (a fresh
 *              token); with a fixed token the client stops;
 *   retry      1001 (gateway shutting down: any gateway will do), 1013 (try again
 *              later), 1005, 1006 (abnormal: network, a refused or failed
 *              handshake, a gateway that went away), 1011, 1012, 1014, 1015,
 *              always after a delay.
 * Delays are exponential backoff with full jitter: a uniformly random delay in
 * [0, min(maxDelay, baseDelay * 2^n)], n counting failures since the last
 * stable connection. A connection open for `stableAfter` ms resets n to 0.
 * `maxRetries` (default unlimited) stops after that many retries in a row.
 * A bad room name (4400) and an unknown route (4404) come as close codes too
 * and are not retried. The refusal that stays HTTP, 403 for a foreign
 * origin, looks like 1006 to a browser, so it is retried, backing off to
 * maxDelay: set maxRetries where that matters.
 *
 * While waiting to reconnect, retryNow() tries at once; so does the browser's
 * "online" event.
 *
 * Sending. send() writes at once while open. While not open (connecting,
 * which includes a new socket's confirmation, reconnecting) it queues the
 * frame in a bounded queue of `queueSize` frames (default 16; 0 turns queuing
 * off) that is kept across refused and failed attempts and flushed, in
 * order, when a connection is confirmed, and returns true; when the queue is
 * full, or the client is closed, it returns false and drops the frame. The
 * queue never grows past queueSize. When the client closes for good, what is
 * still queued is handed back in one "undelivered" event. So every frame
 * send() took is either written to an accepted socket or handed back. A
 * written frame is not acknowledged: one in flight when its connection
 * drops may be lost (at most once); an application that must know has the
 * other side answer it (the demo watches for its room's echo).
 *
 * Options (all optional):
 *   token        string | () => string | Promise<string>
 *   protocols    extra subprotocols to offer, after "wsgw" and "wsgw.refusal-codes"
 *   baseDelay    first backoff step, ms (500)
 *   maxDelay     backoff cap, ms (30000)
 *   stableAfter  ms a connection must stay open to reset the backoff (5000)
 *   connectTimeout ms a handshake (or the token function) may take before the
 *                attempt counts as failed (15000)
 *   confirmAfter ms an upgraded socket that selected no subprotocol must stay
 *                open, with no frame from the gateway, before it counts as
 *                accepted (250); 0 trusts the browser's open event
 *   maxRetries   retries in a row before giving up (Infinity)
 *   queueSize    frames send() may queue while not connected (16)
 *   autoConnect  start connecting at once (true); otherwise call open()
 *   WebSocket    the WebSocket constructor to use (globalThis.WebSocket)
 *   base         base URL for relative urls (the page's location)
 */

/** The client's states. */
export const State = Object.freeze({
  CONNECTING: "connecting",
  OPEN: "open",
  RECONNECTING: "reconnecting",
  CLOSED: "closed",
});

/** Close codes the gateway uses, with a short text for people. */
export const CloseCodes = Object.freeze({
  1000: "normal closure",
  1001: "gateway going away",
  1005: "no status",
  1006: "connection lost",
  1007: "invalid UTF-8",
  1008: "policy violation",
  1009: "message too big",
  1011: "server error",
  1012: "service restart",
  1013: "try again later",
  4001: "token expired",
  4003: "revoked",
  4400: "bad request",
  4401: "unauthorized",
  4403: "forbidden",
  4404: "no such route",
});

const RETRY = new Set([1001, 1005, 1006, 1011, 1012, 1013, 1014, 1015]);

/**
 * What the client does after a socket closed with code: "retry" (after a
 * backoff delay), "refresh" (4001: retry with a fresh token, only when the
 * token is a function) or "stop".
 */
export function closePolicy(code, tokenIsFunction = false) {
  if (code === 4001) return tokenIsFunction ? "refresh" : "stop";
  return RETRY.has(code) ? "retry" : "stop";
}

/** The delay before retry n (0-based), exponential with full jitter. */
export function backoffDelay(n, baseDelay, maxDelay, random = Math.random) {
  const cap = Math.min(maxDelay, baseDelay * 2 ** Math.min(n, 30));
  return Math.floor(random() * cap);
}

/** Resolves a route URL against base (the page) and turns http(s) into ws(s). */
export function resolveURL(url, base) {
  if (base === undefined && typeof location !== "undefined") base = location.href;
  const u = new URL(url, base);
  if (u.protocol === "http:") u.protocol = "ws:";
  else if (u.protocol === "https:") u.protocol = "wss:";
  if (u.protocol !== "ws:" && u.protocol !== "wss:") {
    throw new SyntaxError(`wsgate: not a WebSocket URL: ${u.href}`);
  }
  u.hash = "";
  return u.href;
}

const OPEN = 1;

function withTimeout(value, ms, message) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([Promise.resolve(value), timeout]).finally(() => clearTimeout(timer));
}

/**
 * The listeners of one object. It keeps the last "state" event, so that a
 * "state" listener added later is called once with it, in a microtask
 * (asynchronous, so that the caller has on()'s return value first), unless
 * a newer state comes first. A listener that throws does not stop the
 * others: its error is rethrown on its own.
 */
class Emitter {
  #owner;
  #sets = new Map();
  #seq = 0; // counts state changes, so a replay never follows a newer state
  #last = null; // the last "state" event

  constructor(owner) {
    this.#owner = owner;
  }

  on(type, fn) {
    if (!this.#sets.has(type)) this.#sets.set(type, new Set());
    const set = this.#sets.get(type);
    if (set.has(fn)) return () => this.off(type, fn);
    set.add(fn);
    if (type === "state" && this.#last) {
      const seq = this.#seq;
      const detail = this.#last;
      queueMicrotask(() => {
        if (seq === this.#seq && set.has(fn)) this.#call(fn, { ...detail });
      });
    }
    return () => this.off(type, fn);
  }

  off(type, fn) {
    const set = this.#sets.get(type);
    if (set) set.delete(fn);
  }

  /** Records and emits a "state" event. */
  state(detail) {
    this.#seq++;
    this.#last = detail;
    this.emit("state", { ...detail });
  }

  emit(type, detail) {
    const set = this.#sets.get(type);
    if (!set) return;
    for (const fn of [...set]) this.#call(fn, detail);
  }

  #call(fn, detail) {
    try {
      fn(detail, this.#owner);
    } catch (err) {
      // A listener's bug must not break the client; report it on its own.
      setTimeout(() => { throw err; });
    }
  }
}

export class WsgateClient {
  #url;
  #opts;
  #WS;
  #events = new Emitter(this);
  #ws = null;
  #state = null;
  #stopped = false;
  #started = false;
  #attempt = 0; // connection attempts made
  #failures = 0; // retries since the last stable connection
  #retryTimer = null;
  #stableTimer = null;
  #connectTimer = null;
  #confirmTimer = null;
  #queue = [];
  #online = () => this.retryNow();

  /**
   * @param {string} url route URL, e.g. "/ws/room/lobby"
   * @param {object} [options] see the top of the file
   */
  constructor(url, options = {}) {
    this.#opts = {
      token: undefined,
      protocols: [],
      baseDelay: 500,
      maxDelay: 30000,
      stableAfter: 5000,
      connectTimeout: 15000,
      confirmAfter: 250,
      maxRetries: Infinity,
      queueSize: 16,
      autoConnect: true,
      ...options,
    };
    this.#url = resolveURL(url, this.#opts.base);
    this.#WS = this.#opts.WebSocket || globalThis.WebSocket;
    if (typeof this.#WS !== "function") throw new TypeError("wsgate: no WebSocket available");
    for (const [type, key] of [["state", "onState"], ["message", "onMessage"], ["close", "onClose"], ["undelivered", "onUndelivered"], ["error", "onError"]]) {
      if (typeof this.#opts[key] === "function") this.on(type, this.#opts[key]);
    }
    if (this.#opts.autoConnect) this.open();
  }

  #watchNetwork(on) {
    // Back online (a laptop waking up, a phone leaving a tunnel): retry at once.
    if (typeof globalThis.addEventListener !== "function") return;
    if (on) globalThis.addEventListener("online", this.#online);
    else globalThis.removeEventListener("online", this.#online);
  }

  /** The resolved ws:// or wss:// URL. */
  get url() { return this.#url; }
  /** One of State's values; null before open(). */
  get state() { return this.#state; }
  /** Connection attempts made so far. */
  get attempts() { return this.#attempt; }
  /** Frames waiting in the send queue. */
  get queued() { return this.#queue.length; }
  /** The subprotocol the gateway chose ("wsgw"), or "" while not open. */
  get protocol() { return this.#state === State.OPEN && this.#ws ? this.#ws.protocol : ""; }
  /** Bytes the browser has queued on the open socket. */
  get bufferedAmount() { return this.#ws ? this.#ws.bufferedAmount : 0; }

  /**
   * Adds a listener; returns a function that removes it. A "state" listener
   * added once the client has a state gets it replayed, in a microtask.
   */
  on(type, fn) {
    return this.#events.on(type, fn);
  }

  /** Removes a listener. */
  off(type, fn) {
    this.#events.off(type, fn);
  }

  /** Starts connecting (only needed with autoConnect: false). */
  open() {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    this.#watchNetwork(true);
    this.#connect();
  }

  /**
   * Sends a frame: a string goes as text, an ArrayBuffer, typed array, Blob
   * or DataView as binary. Returns true when sent or queued, false when
   * dropped (queue full, or the client closed for good).
   */
  send(data) {
    if (this.#stopped) return false;
    if (this.#state === State.OPEN && this.#ws && this.#ws.readyState === OPEN) {
      try {
        this.#ws.send(data);
        return true;
      } catch (error) {
        this.#emit("error", { error });
        return false;
      }
    }
    if (this.#queue.length < this.#opts.queueSize) {
      this.#queue.push(data);
      return true;
    }
    return false;
  }

  /** While waiting to reconnect, tries at once instead. */
  retryNow() {
    if (this.#state !== State.RECONNECTING || this.#stopped) return;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    this.#connect();
  }

  /** Closes the connection for good: no more reconnects, the queue is dropped. */
  close(code = 1000, reason = "") {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#watchNetwork(false);
    this.#clearTimers();
    const ws = this.#ws;
    this.#ws = null;
    if (ws) {
      this.#detach(ws);
      try {
        ws.close(code, reason);
      } catch {
        ws.close();
      }
    }
    this.#handBack(code, reason);
    this.#setState(State.CLOSED, { code, reason, byClient: true });
  }

  async #connect() {
    this.#attempt++;
    const attempt = this.#attempt;
    this.#setState(State.CONNECTING, {});
    const tokenIsFunction = typeof this.#opts.token === "function";
    let token = this.#opts.token;
    if (tokenIsFunction) {
      try {
        token = await withTimeout(this.#opts.token(), this.#opts.connectTimeout, "token function timed out");
      } catch (error) {
        if (this.#stopped || attempt !== this.#attempt) return;
        this.#emit("error", { error });
        this.#retry(1006, "token function failed");
        return;
      }
      if (this.#stopped || attempt !== this.#attempt) return;
    }
    const protocols = ["wsgw", "wsgw.refusal-codes", ...this.#opts.protocols];
    if (token !== undefined && token !== null && token !== "") protocols.push("bearer." + token);
    let ws;
    try {
      ws = new this.#WS(this.#url, protocols);
    } catch (error) {
      // Only a subprotocol the browser refuses to send gets here (a token
      // with spaces or separators): the gateway would refuse it too.
      this.#emit("error", { error });
      this.#finish(4401, "invalid token: not a subprotocol token", false);
      return;
    }
    this.#ws = ws;
    ws.binaryType = "arraybuffer";
    this.#connectTimer = setTimeout(() => {
      this.#connectTimer = null;
      if (this.#ws === ws && ws.readyState !== OPEN) ws.close(); // fails the attempt: close 1006
    }, this.#opts.connectTimeout);
    ws.onopen = () => {
      clearTimeout(this.#connectTimer);
      this.#connectTimer = null;
      // The gateway selects "wsgw.refusal-codes" only for an upgrade it is
      // about to close as a refusal, and another subprotocol when it accepts:
      // the close that follows decides.
      if (ws.protocol === "wsgw.refusal-codes") return;
      if (ws.protocol !== "" || !(this.#opts.confirmAfter > 0)) {
        this.#accepted(ws);
        return;
      }
      // Upgraded, but maybe only to be refused: a refusal's close follows
      // at once. Wait for it before calling the socket open.
      this.#confirmTimer = setTimeout(() => {
        this.#confirmTimer = null;
        if (this.#ws === ws) this.#accepted(ws);
      }, this.#opts.confirmAfter);
    };
    ws.onmessage = (e) => {
      if (this.#ws !== ws) return;
      // A refusal carries no frame: a frame proves the socket was accepted.
      if (this.#state !== State.OPEN) this.#accepted(ws);
      const binary = typeof e.data !== "string";
      this.#emit("message", { data: e.data, binary });
    };
    ws.onerror = () => {}; // a close event follows, with the code
    ws.onclose = (e) => {
      if (this.#ws !== ws) return;
      this.#ws = null;
      this.#clearTimers();
      const policy = closePolicy(e.code, tokenIsFunction);
      const retry = policy !== "stop" && this.#failures < this.#opts.maxRetries;
      this.#emit("close", { code: e.code, reason: e.reason, wasClean: e.wasClean, retry });
      if (retry) this.#retry(e.code, e.reason);
      else this.#finish(e.code, e.reason, false);
    };
  }

  // accepted writes out the queue, in order, then reports ws open: frames
  // a state listener sends go after the older, queued ones.
  #accepted(ws) {
    clearTimeout(this.#confirmTimer);
    this.#confirmTimer = null;
    if (ws.readyState !== OPEN) return; // closing after all: its close event decides
    this.#stableTimer = setTimeout(() => {
      this.#stableTimer = null;
      this.#failures = 0;
    }, this.#opts.stableAfter);
    const queued = this.#queue;
    this.#queue = [];
    for (const data of queued) {
      try {
        ws.send(data);
      } catch (error) {
        this.#emit("error", { error });
      }
    }
    this.#setState(State.OPEN, { protocol: ws.protocol });
  }

  // handBack empties the queue into one "undelivered" event.
  #handBack(code, reason) {
    const frames = this.#queue;
    this.#queue = [];
    if (frames.length > 0) this.#emit("undelivered", { frames, code, reason });
  }

  #retry(code, reason) {
    if (this.#failures >= this.#opts.maxRetries) {
      this.#finish(code, reason, false);
      return;
    }
    const delay = backoffDelay(this.#failures, this.#opts.baseDelay, this.#opts.maxDelay);
    this.#failures++;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      if (!this.#stopped) this.#connect();
    }, delay);
    this.#setState(State.RECONNECTING, { delay, retryAt: Date.now() + delay, code, reason });
  }

  #finish(code, reason, byClient) {
    this.#stopped = true;
    this.#watchNetwork(false);
    this.#clearTimers();
    this.#handBack(code, reason);
    this.#setState(State.CLOSED, { code, reason, byClient });
  }

  #detach(ws) {
    ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
  }

  #clearTimers() {
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#stableTimer);
    clearTimeout(this.#connectTimer);
    clearTimeout(this.#confirmTimer);
    this.#retryTimer = this.#stableTimer = this.#connectTimer = this.#confirmTimer = null;
  }

  #setState(state, detail) {
    this.#state = state;
    this.#events.state({ state, attempt: this.#attempt, ...detail });
  }

  #emit(type, detail) {
    this.#events.emit(type, detail);
  }
}

/** Creates a client and starts connecting: connect(url, options). */
export function connect(url, options) {
  return new WsgateClient(url, options);
}

export default connect;
