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
 * That is a raw route: one room (or the echo) per socket, frames as they
 * are. The multiplexed route /ws/rooms carries many rooms on one socket
 * (see "Rooms" below):
 *
 *   const s = connect("/ws/rooms", { token });               // a RoomsClient
 *   const lobby = s.join("lobby");                           // a Room, at once
 *   lobby.on("message", (m) => console.log(m.user, m.data)); // {room, data, binary, user, direct}
 *   lobby.on("state", (r) => r.rejoin && reload());          // joining | joined | left
 *   await lobby.publish("hi");                               // {broadcast: true, seq}, or a RoomsError
 *   s.on("push", (p) => console.log(p.data));                // pushes to this user
 *   const hall = s.join("hall", { presence: true });         // with presence events:
 *   hall.on("presence", (e) => console.log(e.event, e.user)); // join | leave, any gateway
 *   const { users, anonymous } = await hall.presence();      // who is there: [{user, connections}]
 *   await lobby.leave();
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
 *   rooms        true: speak the rooms protocol (a RoomsClient); false: raw.
 *                By default connect() picks the rooms protocol for a path
 *                ending in /ws/rooms (a route table may put the route of
 *                kind "rooms" elsewhere: then say rooms: true)
 *
 * Rooms. A RoomsClient (connect("/ws/rooms"), or new RoomsClient(url,
 * options)) speaks the /ws/rooms protocol (shared/asyncapi.yaml) over one
 * WsgateClient: the connection, its states, reconnects, backoff, tokens,
 * close codes and the confirmation of an accepted socket are the same as
 * above, and so are the client's "state", "close" and "error" events, and
 * url, state, attempts, protocol, open(), retryNow() and close().
 *   join(name, {since, history, presence})  returns the Room at once (the same
 *                  one while it is joined; a new one after leave()). The join
 *                  goes out now, or once connected, and again after every
 *                  reconnect. presence: true asks for the room's presence
 *                  events; since and history: see "History and resume".
 *   presence(name, {timeout})  who is in a room, across every gateway:
 *                  {users: [{user, connections}], anonymous} (the room need
 *                  not be joined; allowed to whoever may join it)
 *   room(name), rooms   the rooms joined or being joined
 *   queued         publishes waiting for a connection
 * Client events: "push" {data, binary}: a push to this connection's user
 * ({"push":...}); "message": every room message (after the room's own
 * listeners); "presence" {room, event, user}: every presence event; "undelivered" {publishes: [{room, data}], code, reason}: what
 * still waited for a connection when the client closed for good; "state",
 * "close", "error" (also: a line from the gateway that is not JSON, a reply
 * to no command). The options onPush, onMessage, onUndelivered, onState,
 * onClose, onError add listeners.
 *
 * A Room: name, state, joined (a promise of the first join's result; it
 * rejects with the RoomsError of a refused join, or LEFT / CLOSED),
 * on(type, fn) / off(), publish(data, {timeout, msgId}), leave(),
 * presence(); with history: seq, history({before, limit}) and the
 * "recovery" event (see "History and resume").
 *   "message" {room, data, binary, user, direct, seq}: data is a string, or an
 *             ArrayBuffer for binary (sent as b64); user is the sender's user
 *             id, null for anonymous senders; direct is true for a frame the
 *             room worker sent to this member alone (such as a moderation
 *             notice); seq only with history.
 *   "presence" {room, event, user}: for a room joined with {presence: true},
 *             "join" when a user's first connection entered it, "leave" when
 *             its last one left (also this client's own user; anonymous
 *             members make none). Not replayed after a reconnect: ask
 *             presence() again when the room is joined again.
 *   "state"   {state, room, ...}: joining {rejoin}; joined {rejoin, resumed, result};
 *             left {byClient, code, reason}. joined with rejoin: true follows
 *             a reconnect: messages sent while the socket was down were
 *             missed, reload what the app shows (unless resumed: true, see
 *             "History and resume"). left is for good: leave()
 *             (byClient), the join refused (the gateway's code: 400 bad name,
 *             401, 403, 429, 503; a refused rejoin too), or the client closed
 *             (CLOSED). A late "state" listener gets the current state, as
 *             on the client.
 *
 * Commands and their promises. Every command is a text frame
 * {"id":n,"join"|"leave"|"publish"|"history":{...}}, ids counting from 1 on each
 * socket; the gateway answers each, in order, with ok or an error code.
 * publish(data) takes a string (sent as "data") or an ArrayBuffer or typed
 * array (sent as "b64", standard base64; a Blob is not taken). It resolves
 * with the reply's ok ({broadcast: true}, or false when the room worker
 * declined the message), or rejects with a RoomsError {code, reason, op,
 * room, retryable}; the codes are in ErrorCodes: the gateway's 400, 401,
 * 403, 404, 409, 429, 503 (503: nothing was delivered, no room worker,
 * NATS or auth worker; retry), and the client's own:
 *   1 DISCONNECTED  written, but the socket closed before the reply: the
 *                   outcome is unknown (it may have been broadcast). Retry
 *                   by publishing again: it queues until the room is
 *                   joined again (and may then arrive twice).
 *   2 QUEUE_FULL    not connected and queueSize publishes already wait
 *   3 CLOSED        the client closed for good before it went out
 *   4 LEFT          the room was left before it went out
 *   5 TIMEOUT       no reply within replyTimeout ms (outcome unknown)
 * While connected, commands are written at once. While not (connecting,
 * reconnecting), publishes wait in a bounded queue of queueSize (16; 0:
 * none) and a join only marks the room wanted; when a socket is accepted
 * the client writes a join for every wanted room, then the waiting
 * publishes, in order, so each publish follows its room's join. At a
 * disconnect, publishes in flight reject with DISCONNECTED, leaves in
 * flight resolve (the room is not joined on a new socket), joins stay
 * wanted, and joined rooms go back to "joining" {rejoin: true}. leave() while
 * not connected resolves at once; queued publishes of that room reject with
 * LEFT. When the client closes for good, queued publishes come back in
 * "undelivered" and reject with CLOSED, and every room is left with CLOSED.
 * A line the gateway sends with an id of 0 answers a frame it could not read
 * an id from: replies come in order, so it settles the oldest command in
 * flight. Lines and members this client does not know are ignored (later
 * gateways add some). A command frame over the gateway's
 * GATEWAY_MAX_MESSAGE_BYTES closes the socket with 1009, for good.
 *
 * Rooms options (besides those above):
 *   queueSize    publishes that may wait for a connection (16)
 *   replyTimeout ms a publish or leave waits for its reply once written
 *                (0: no limit; the gateway answers every command)
 *   resend       send a publish whose outcome is unknown again, with its
 *                msg_id, when the gateway keeps history (true; see below)
 *   resendWindow ms after publish() within which it may be sent again
 *                (60000; keep it under the gateway's ROOM_DEDUPE_WINDOW, 2m)
 *
 * History and resume. When the gateway keeps room history (the room
 * worker's ROOM_HISTORY_SIZE, on by default), every room message carries a
 * `seq` that increases within the room, and the client uses it so that a
 * reconnect loses nothing and repeats nothing:
 *   - A Room remembers the last seq it got (room.seq: from its messages and
 *     its join's reply {seq, recovered}). Every rejoin after a reconnect
 *     asks for what came after it ({"join":{"room":..,"since":seq}}); the
 *     gateway sends what was missed before the join's reply, then the live
 *     messages. A room with no seq yet rejoins with join()'s own options.
 *   - A message whose seq is not above the room's last one is dropped: each
 *     is delivered once ("message" has its seq, when there is one).
 *   - The "joined" state says resumed: true when the join asked for since
 *     and the gateway had everything after it (recovered: true): nothing
 *     was missed, there is nothing to reload. When some of it was no longer
 *     kept (recovered: false), the room and then the client emit
 *     "recovery" {room, recovered: false, since, seq} (seq: the room's last
 *     seq, where room.seq goes on from, even below since when the room's
 *     history was reset): reload what the app shows; what was still kept
 *     has been delivered.
 *   - join(name, {since, history}): since (a seq, 0 for all that is kept)
 *     resumes from an app's own record (say, a seq saved across a page
 *     load); history (0 to 100) delivers the room's last messages before
 *     the live ones. since wins. Bad values throw a TypeError.
 *   - Every publish carries a msg_id (publish(data, {msgId}): 1 to 64
 *     visible ASCII characters; by default a random UUID). Once the client
 *     has seen a seq (so the gateway stores each msg_id once), a publish in
 *     flight at a disconnect is not rejected with DISCONNECTED but written
 *     again, with its msg_id, after the rooms' rejoins on the next socket;
 *     so is one answered 503 "not stored", after a backoff delay. The gateway
 *     stores it once and answers with the first one's seq. This holds for
 *     resendWindow ms after publish(); later, or with resend: false, it
 *     rejects with DISCONNECTED as without history. Publishes waiting to go
 *     again count against queueSize; when the client closes for good they
 *     reject with DISCONNECTED (they were written) and are not in
 *     "undelivered".
 *   - history(name, {before, limit}) (also room.history({...})) reads
 *     stored messages, oldest first: those before seq `before` (default:
 *     the newest), at most `limit` (1 to 100, default 50). It needs the
 *     right to join the room, not a join; it resolves with {messages}, each
 *     as "message" delivers it. Not connected, it waits like a publish; a
 *     reconnect asks again.
 * A publish's reply has its seq ({broadcast: true, seq}); it does not move
 * room.seq, since messages before it may still be on their way.
 * Without history (ROOM_HISTORY_SIZE=0, or an older gateway) joins answer
 * {}, messages have no seq, and everything behaves as described above the
 * section: a rejoin means messages were missed.
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

// ---- the /ws/rooms protocol: one socket, many rooms ----

/**
 * Error codes of the rooms protocol: a RoomsError's `code`. Those from 400 up
 * are the gateway's (an `error` reply); those below 100 are the client's own.
 */
export const ErrorCodes = Object.freeze({
  /** Written, but the connection closed before the reply: the outcome is unknown (a publish may have gone out). Retry: publish again. */
  DISCONNECTED: 1,
  /** Not taken: queueSize publishes already wait for a connection. Retry later. */
  QUEUE_FULL: 2,
  /** The client closed for good (close(), or a close code it does not retry) before the command went out. */
  CLOSED: 3,
  /** The room was left (leave()) before the command went out or was answered. */
  LEFT: 4,
  /** No reply within replyTimeout ms: the outcome is unknown; a late reply is ignored. */
  TIMEOUT: 5,
  BAD_REQUEST: 400, // not JSON, no or bad id, unknown or several commands, bad room name, bad base64
  UNAUTHORIZED: 401, // the room needs an identity
  FORBIDDEN: 403, // not allowed to join or to publish there
  NOT_JOINED: 404, // leave or publish in a room not joined
  ALREADY_JOINED: 409, // join of a room already joined
  TOO_MANY_ROOMS: 429, // over the gateway's GATEWAY_MAX_ROOMS_PER_CONNECTION
  UNAVAILABLE: 503, // no room worker, no NATS, auth worker unavailable: nothing was delivered
});

const RETRYABLE = new Set([ErrorCodes.DISCONNECTED, ErrorCodes.QUEUE_FULL, ErrorCodes.TIMEOUT, ErrorCodes.UNAVAILABLE]);

/** A refused or failed rooms command: `code` (see ErrorCodes), `reason`, `op` and `room`. */
export class RoomsError extends Error {
  constructor(code, reason, op, room) {
    super(`wsgate: ${op}${room === undefined ? "" : ` ${room}`}: ${code} ${reason}`);
    this.name = "RoomsError";
    this.code = code;
    this.reason = reason;
    this.op = op;
    this.room = room;
  }

  /**
   * True when the same command may succeed if tried again later:
   * DISCONNECTED and TIMEOUT (outcome unknown: a retried publish may arrive
   * twice), QUEUE_FULL, and 503 (nothing was delivered).
   */
  get retryable() {
    return RETRYABLE.has(this.code);
  }
}

function toBase64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function fromBase64(b64) {
  const s = atob(b64);
  const bytes = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) bytes[i] = s.charCodeAt(i);
  return bytes.buffer;
}

// encodeBody gives a publish's payload member: a string as "data", bytes as "b64".
function encodeBody(data) {
  if (typeof data === "string") return { data };
  if (Object.prototype.toString.call(data) === "[object ArrayBuffer]") return { b64: toBase64(new Uint8Array(data)) };
  if (ArrayBuffer.isView(data)) return { b64: toBase64(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)) };
  throw new TypeError("wsgate: publish takes a string, an ArrayBuffer or a typed array");
}

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

// ---- history and resume (issue 14): arguments and msg_ids ----

const isSeq = (v) => Number.isSafeInteger(v) && v >= 0;

// A publish's msg_id: what the gateway takes (visible ASCII, 1 to 64).
const MSG_ID = /^[\x21-\x7e]{1,64}$/;

// newMsgId is a random msg_id: a UUID, or 32 hex digits where randomUUID is
// missing (pages not served over https or from localhost).
function newMsgId() {
  const c = globalThis.crypto;
  if (typeof c?.randomUUID === "function") return c.randomUUID();
  const b = new Uint8Array(16);
  if (typeof c?.getRandomValues === "function") c.getRandomValues(b);
  else for (let i = 0; i < b.length; i++) b[i] = Math.floor(Math.random() * 256);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

// resumeOptions checks join()'s options: since (a seq, 0 for everything
// stored) and history (the last 0 to 100 messages).
function resumeOptions(o) {
  const r = { seq: undefined, since: undefined, history: undefined };
  if (o === undefined || o === null) return r;
  if (!isObject(o)) throw new TypeError("wsgate: join's options are an object");
  if (o.since !== undefined && o.since !== null) {
    if (!isSeq(o.since)) throw new TypeError("wsgate: join's since is an integer from 0 up");
    r.since = o.since;
  }
  if (o.history !== undefined && o.history !== null) {
    if (!Number.isInteger(o.history) || o.history < 0 || o.history > 100) throw new TypeError("wsgate: join's history is an integer from 0 to 100");
    r.history = o.history;
  }
  return r;
}

// historyArgs checks history()'s options: before (a seq from 1) and limit (1 to 100).
function historyArgs(o) {
  if (o === undefined || o === null) return {};
  if (!isObject(o)) throw new TypeError("wsgate: history's options are an object");
  const body = {};
  if (o.before !== undefined && o.before !== null) {
    if (!isSeq(o.before) || o.before === 0) throw new TypeError("wsgate: history's before is an integer from 1 up");
    body.before = o.before;
  }
  if (o.limit !== undefined && o.limit !== null) {
    if (!Number.isInteger(o.limit) || o.limit < 1 || o.limit > 100) throw new TypeError("wsgate: history's limit is an integer from 1 to 100");
    body.limit = o.limit;
  }
  return body;
}

let roomControl; // set by Room's static block: how a RoomsClient drives its rooms

/**
 * One room of a RoomsClient, from client.join(name). Its "state" events:
 *   joining {rejoin}          the join is on its way (rejoin: after a reconnect)
  *   joined  {rejoin, resumed, result}  the gateway answered ok; rejoin: true after a
 *                             reconnect, when messages sent in between were
 *                             missed (reload what the app shows), unless
 *                             resumed: true (with history: nothing was missed)
 *   left    {byClient, code, reason}  for good: leave() (byClient), the join
 *                             refused (the gateway's code), or the client closed
 *                             (code 3, CLOSED)
 * and "message" {room, data, binary, user, direct, seq}; with history,
 * joined has resumed, and "recovery" {room, recovered: false, since, seq}
 * says a resume lost messages (see "History and resume" at the top). For a
 * room joined with {presence: true}, "presence" {room, event, user}: event
 * "join" when a user's first connection entered the room, "leave" when its
 * last one left (anonymous members make none). Events missed while
 * disconnected are not replayed: after a rejoin, ask presence() again.
 */
export class Room {
  #name;
  #hooks;
  #events = new Emitter(this);
  #state = null;
  #everJoined = false;
  #joined;
  #resolve;
  #reject;
  #options;

  /** Rooms come from RoomsClient.join(); hooks are the client's. */
  constructor(name, hooks, options = {}) {
    this.#name = name;
    this.#hooks = hooks;
    this.#options = { presence: options.presence === true };
    this.#joined = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // Awaiting it is optional: a refused join must not be an unhandled rejection.
    this.#joined.catch(() => {});
  }

  static {
    roomControl = {
      joining: (room, rejoin) => room.#setState("joining", { rejoin }),
      joined: (room, result, extra) => {
        room.#setState("joined", { rejoin: room.#everJoined, result, ...extra });
        room.#everJoined = true;
        room.#resolve(result);
      },
      left: (room, err, byClient) => {
        if (room.#state === "left") return;
        room.#setState("left", { byClient, code: err.code, reason: err.reason });
        room.#reject(err);
      },
      deliver: (room, msg) => room.#events.emit("message", msg),
      emit: (room, type, detail) => room.#events.emit(type, detail), // history: "recovery"
      presence: (room, ev) => room.#events.emit("presence", ev),
      wantsPresence: (room) => room.#options.presence,
    };
  }

  /** The room's name. */
  get name() { return this.#name; }
  /** "joining", "joined" or "left". */
  get state() { return this.#state; }
  /**
   * Resolves with the first join's result ({seq, recovered} with history, else {}) once the gateway
   * answered ok; rejects with a RoomsError when the join was refused or the
   * room left first.
   */
  get joined() { return this.#joined; }

  /** Adds a listener ("state" or "message"); returns a function that removes it. */
  on(type, fn) {
    return this.#events.on(type, fn);
  }

  /** Removes a listener. */
  off(type, fn) {
    this.#events.off(type, fn);
  }

  /**
   * Sends data to the room: a string as text ("data"), an ArrayBuffer or
   * typed array as binary ("b64"). Resolves with the gateway's result,
   * {broadcast: true} when the room worker broadcast it, {broadcast: false}
   * when it declined it; rejects with a RoomsError. options.timeout
   * overrides the client's replyTimeout.
   */
  publish(data, options = {}) {
    return this.#hooks.publish(this, data, options);
  }

  /** Leaves the room for good: no more messages, no rejoin. Resolves once done. */
  leave() {
    return this.#hooks.leave(this);
  }

  // -- history (issue 14): see "History and resume" at the top of the file --

  /**
   * The seq of the last message of this room the client got (or the join's
   * seq), which a reconnect resumes from; undefined while unknown (no
   * history on the gateway, or not joined yet).
   */
  get seq() { return this.#hooks.seq(this); }

  /** client.history(room.name, options): this room's stored messages. */
  history(options = {}) {
    return this.#hooks.history(this.#name, options);
  }

  /**
   * Who is in the room, across every gateway: resolves with
   * {users: [{user, connections}], anonymous}, or rejects with a RoomsError
   * (503: no presence worker). See RoomsClient.presence().
   */
  presence(options = {}) {
    return this.#hooks.presence(this.#name, options);
  }

  #setState(state, detail) {
    this.#state = state;
    this.#events.state({ state, room: this.#name, ...detail });
  }
}

/**
 * A client of the multiplexed /ws/rooms route: one WebSocket (a WsgateClient,
 * with its reconnects and close-code policy), many rooms. See the top of the
 * file.
 */
export class RoomsClient {
  #conn;
  #opts;
  #events = new Emitter(this);
  #rooms = new Map(); // name -> Room: the rooms the app wants joined
  #queue = []; // publishes waiting for a connection, oldest first
  #inflight = []; // commands written to the current socket, oldest first
  #nextId = 1;
  #open = false;
  #hooks = {
    publish: (room, data, options) => this.#publish(room, data, options),
    leave: (room) => this.#leave(room),
    seq: (room) => this.#resume.get(room)?.seq,
    history: (name, options) => this.history(name, options),
    presence: (name, options) => this.presence(name, options),
  };
  // History and resume (issue 14), see the top of the file.
  #resume = new WeakMap(); // Room -> {seq, since, history}: what its next join asks for
  #historyOn = false; // a seq came: the gateway keeps history, so a publish may be sent again
  #later = new Set(); // publishes waiting to be sent again after a 503 "not stored"

  /**
   * @param {string} url the rooms route, e.g. "/ws/rooms"
   * @param {object} [options] those of WsgateClient, and queueSize (publishes
   *   that may wait for a connection), replyTimeout, onPush
   */
  constructor(url, options = {}) {
    this.#opts = { queueSize: 16, replyTimeout: 0, autoConnect: true, resend: true, resendWindow: 60000, ...options };
    const own = ["onState", "onMessage", "onClose", "onError", "onUndelivered", "onPush"];
    const conn = { ...options, queueSize: 0, autoConnect: false };
    for (const key of own) delete conn[key];
    this.#conn = new WsgateClient(url, conn);
    for (const key of own) {
      const type = key.slice(2).toLowerCase();
      if (typeof options[key] === "function") this.on(type, options[key]);
    }
    this.#conn.on("state", (s) => this.#onState(s));
    this.#conn.on("message", (m) => this.#onFrame(m));
    this.#conn.on("close", (c) => this.#events.emit("close", c));
    this.#conn.on("error", (e) => this.#events.emit("error", e));
    if (this.#opts.autoConnect) this.#conn.open();
  }

  /** The resolved ws:// or wss:// URL. */
  get url() { return this.#conn.url; }
  /** The connection's state, as WsgateClient's. */
  get state() { return this.#conn.state; }
  /** Connection attempts made so far. */
  get attempts() { return this.#conn.attempts; }
  /** Publishes waiting for a connection. */
  get queued() { return this.#queue.length; }
  /** The subprotocol the gateway chose ("wsgw"), or "" while not open. */
  get protocol() { return this.#conn.protocol; }
  /** Bytes the browser has queued on the open socket. */
  get bufferedAmount() { return this.#conn.bufferedAmount; }
  /** The rooms joined or being joined, in the order they were joined. */
  get rooms() { return [...this.#rooms.values()]; }

  /** Adds a listener; returns a function that removes it. */
  on(type, fn) {
    return this.#events.on(type, fn);
  }

  /** Removes a listener. */
  off(type, fn) {
    this.#events.off(type, fn);
  }

  /** Starts connecting (only needed with autoConnect: false). */
  open() {
    this.#conn.open();
  }

  /** While waiting to reconnect, tries at once instead. */
  retryNow() {
    this.#conn.retryNow();
  }

  /** Closes for good: every room is left, what waits is handed back. */
  close(code = 1000, reason = "") {
    this.#conn.close(code, reason);
  }

  /** The joined (or joining) room called name, if any. */
  room(name) {
    return this.#rooms.get(name);
  }

  /**
   * Joins a room and returns it at once (the same Room while it is joined):
   * listen on it, publish to it (publishes wait for the join, in order).
   * The join is sent now, or once connected, and again after every
   * reconnect. A name the gateway refuses ends the room with its code (400).
   * options.presence: true also delivers the room's presence events (the
   * room's "presence" event, and the client's).
   */
  join(name, options) {
    if (typeof name !== "string") throw new TypeError("wsgate: a room name is a string");
    let room = this.#rooms.get(name);
    if (room) return room;
    const resume = resumeOptions(options);
    room = new Room(name, this.#hooks, options ?? {});
    this.#resume.set(room, resume);
    if (this.#conn.state === State.CLOSED) {
      roomControl.left(room, new RoomsError(ErrorCodes.CLOSED, "client closed", "join", name), false);
      return room;
    }
    this.#rooms.set(name, room);
    roomControl.joining(room, false);
    if (this.#open) this.#write(this.#joinCommand(room));
    return room;
  }

  #joinCommand(room) {
    const body = this.#joinBody(room);
    return {
      op: "join",
      room,
      body,
      resolve: (result) => {
        // Left while the join was on its way: leave() already settled it.
        if (this.#rooms.get(room.name) !== room) return;
        const resumed = this.#onJoined(room, body, result);
        roomControl.joined(room, result, { resumed });
        if (body.since !== undefined && result.recovered === false) this.#recovery(room, body.since, result.seq);
      },
      reject: (err) => {
        if (this.#rooms.get(room.name) !== room) return;
        this.#rooms.delete(room.name);
        roomControl.left(room, err, false);
      },
    };
  }

  #publish(room, data, options) {
    let body;
    try {
      body = encodeBody(data);
    } catch (err) {
      return Promise.reject(err);
    }
    const fail = (code, reason) => Promise.reject(new RoomsError(code, reason, "publish", room.name));
    if (this.#rooms.get(room.name) !== room) {
      return this.#conn.state === State.CLOSED ? fail(ErrorCodes.CLOSED, "client closed") : fail(ErrorCodes.LEFT, "room left");
    }
    const msgId = options?.msgId ?? newMsgId();
    if (typeof msgId !== "string" || !MSG_ID.test(msgId)) {
      return Promise.reject(new TypeError("wsgate: a msgId is 1 to 64 visible ASCII characters"));
    }
    body.msg_id = msgId;
    const timeout = options?.timeout ?? this.#opts.replyTimeout;
    return new Promise((resolve, reject) => {
      const deadline = Date.now() + this.#opts.resendWindow;
      const cmd = { op: "publish", room, body, data, timeout, resolve, reject, deadline, tries: 0 };
      if (this.#open) this.#write(cmd);
      else if (this.#queue.length < this.#opts.queueSize) this.#queue.push(cmd);
      else reject(new RoomsError(ErrorCodes.QUEUE_FULL, "send queue full", "publish", room.name));
    });
  }

  #leave(room) {
    if (this.#rooms.get(room.name) !== room) return Promise.resolve({});
    this.#rooms.delete(room.name);
    const left = (op) => new RoomsError(ErrorCodes.LEFT, "room left", op, room.name);
    this.#queue = this.#queue.filter((cmd) => {
      if (cmd.room !== room) return true;
      this.#settle(cmd, left(cmd.op));
      return false;
    });
    this.#dropLater(room, left("publish"));
    roomControl.left(room, left("join"), true);
    // Not connected: the next socket simply does not join it.
    if (!this.#open) return Promise.resolve({});
    return new Promise((resolve, reject) => {
      this.#write({ op: "leave", room, timeout: this.#opts.replyTimeout, resolve, reject });
    });
  }

  // write sends a command on the open socket with the connection's next id.
  #write(cmd) {
    cmd.id = this.#nextId++;
    cmd.done = false;
    cmd.written = true;
    this.#inflight.push(cmd);
    const frame = JSON.stringify({ id: cmd.id, [cmd.op]: { room: cmd.room.name, ...cmd.body } });
    // A failed write reports "error"; the close that follows settles cmd.
    this.#conn.send(frame);
    if (cmd.timeout > 0) {
      cmd.timer = setTimeout(() => {
        this.#settle(cmd, new RoomsError(ErrorCodes.TIMEOUT, `no reply in ${cmd.timeout} ms`, cmd.op, cmd.room.name));
      }, cmd.timeout);
    }
  }

  #settle(cmd, err, result) {
    if (cmd.done) return;
    cmd.done = true;
    clearTimeout(cmd.timer);
    if (err) cmd.reject(err);
    else cmd.resolve(result);
  }

  #onState(s) {
    const wasOpen = this.#open;
    this.#open = s.state === State.OPEN;
    if (this.#open) {
      // Ids count from 1 on every socket. Every room first, then what
      // waited: a publish goes after its room's join.
      this.#nextId = 1;
      for (const room of this.#rooms.values()) this.#write(this.#joinCommand(room));
      const queued = this.#queue;
      this.#queue = [];
      for (const cmd of queued) if (!this.#expired(cmd)) this.#write(cmd);
    } else if (wasOpen) {
      this.#disconnected(s.state !== State.CLOSED);
    }
    if (s.state === State.CLOSED) this.#closed(s);
    this.#events.state({ ...s });
  }

  // disconnected settles what the closed socket carried.
  #disconnected(willRejoin) {
    const cmds = this.#inflight;
    this.#inflight = [];
    const again = [];
    for (const cmd of cmds) {
      if (this.#takeBack(cmd, willRejoin)) {
        if (!cmd.done) again.push(cmd);
      } else if (cmd.op === "publish") {
        this.#settle(cmd, new RoomsError(ErrorCodes.DISCONNECTED, "connection closed before the reply", "publish", cmd.room.name));
      } else if (cmd.op === "leave") {
        this.#settle(cmd, null, {}); // a new socket does not have the room
      } else if (cmd.op === "presence") {
        this.#settle(cmd, new RoomsError(ErrorCodes.DISCONNECTED, "connection closed before the reply", "presence", cmd.room.name));
      }
      // A join stays wanted: the next socket joins the room again.
    }
    this.#queue.unshift(...again); // first on the next socket, after the joins
    if (!willRejoin) return;
    for (const room of this.#rooms.values()) {
      if (room.state === "joined") roomControl.joining(room, true);
    }
  }

  // closed ends everything when the connection closed for good.
  #closed(s) {
    const queued = this.#queue;
    this.#queue = [];
    // Publishes never written come back; one written before may have been stored.
    const unsent = queued.filter((cmd) => cmd.op === "publish" && !cmd.written);
    if (unsent.length > 0) {
      this.#events.emit("undelivered", {
        publishes: unsent.map((cmd) => ({ room: cmd.room.name, data: cmd.data })),
        code: s.code,
        reason: s.reason,
      });
    }
    const why = `client closed (${s.code}${s.reason ? " " + s.reason : ""})`;
    for (const cmd of queued) this.#settle(cmd, new RoomsError(cmd.written ? ErrorCodes.DISCONNECTED : ErrorCodes.CLOSED, why, cmd.op, cmd.room.name));
    this.#dropLater(null, (cmd) => new RoomsError(ErrorCodes.DISCONNECTED, why, cmd.op, cmd.room.name));
    const rooms = [...this.#rooms.values()];
    this.#rooms.clear();
    for (const room of rooms) roomControl.left(room, new RoomsError(ErrorCodes.CLOSED, why, "join", room.name), !!s.byClient);
  }

  #onFrame({ data, binary }) {
    if (binary) {
      this.#events.emit("error", { error: new Error("wsgate: unexpected binary frame on a rooms connection") });
      return;
    }
    // One or more JSON objects, one per line.
    for (const line of data.split("\n")) {
      if (line === "") continue;
      let m;
      try {
        m = JSON.parse(line);
      } catch {
        m = undefined;
      }
      if (!isObject(m)) {
        this.#events.emit("error", { error: new Error(`wsgate: not a JSON object: ${line.slice(0, 80)}`) });
        continue;
      }
      if ("id" in m) this.#onReply(m);
      else if (isObject(m.push)) this.#onPush(m.push);
      else if (typeof m.room === "string" && typeof m.event === "string") this.#onPresenceEvent(m);
      else if (typeof m.room === "string") this.#onRoomMessage(m);
      // Anything else is a kind of line this client does not know yet: ignored.
    }
  }

  #onReply(m) {
    // Replies come in the order of the commands, so the one for id 0 (a
    // frame the gateway could not read an id from) is the oldest waiting.
    const i = m.id === 0 ? 0 : this.#inflight.findIndex((cmd) => cmd.id === m.id);
    if (i < 0 || i >= this.#inflight.length) {
      this.#events.emit("error", { error: new Error(`wsgate: reply to no command: ${JSON.stringify(m).slice(0, 120)}`) });
      return;
    }
    const [cmd] = this.#inflight.splice(i, 1);
    if (isObject(m.error)) {
      const code = Number.isInteger(m.error.code) ? m.error.code : 0;
      const reason = typeof m.error.reason === "string" ? m.error.reason : "";
      if (this.#retryLater(cmd, code, reason)) return;
      this.#settle(cmd, new RoomsError(code, reason, cmd.op, cmd.room.name));
    } else {
      const ok = isObject(m.ok) ? m.ok : {};
      if (isSeq(ok.seq)) this.#historyOn = true;
      this.#settle(cmd, null, ok);
    }
  }

  #body(m) {
    if (typeof m.data === "string") return { data: m.data, binary: false };
    if (typeof m.b64 !== "string") return null;
    try {
      return { data: fromBase64(m.b64), binary: true };
    } catch {
      this.#events.emit("error", { error: new Error("wsgate: bad base64 from the gateway") });
      return null;
    }
  }

  #onPush(push) {
    const body = this.#body(push);
    if (body) this.#events.emit("push", body);
  }

  // --- Presence (issue 15): queries and join/leave events. ---

  /**
   * Who is in the room called name, across every gateway (the room need
   * not be joined: the gateway allows it to whoever may join the room).
   * Resolves with {users: [{user, connections}], anonymous}; rejects with a
   * RoomsError: DISCONNECTED when not connected or cut off before the
   * reply, 401/403 when the room may not be joined, 503 when no presence
   * worker answered. options.timeout overrides replyTimeout.
   */
  presence(name, options = {}) {
    if (typeof name !== "string") return Promise.reject(new TypeError("wsgate: a room name is a string"));
    if (!this.#open) {
      const code = this.#conn.state === State.CLOSED ? ErrorCodes.CLOSED : ErrorCodes.DISCONNECTED;
      return Promise.reject(new RoomsError(code, "not connected", "presence", name));
    }
    const timeout = options?.timeout ?? this.#opts.replyTimeout;
    return new Promise((resolve, reject) => {
      this.#write({
        op: "presence",
        room: { name },
        timeout,
        resolve: (ok) => resolve({
          users: Array.isArray(ok.users) ? ok.users.filter((u) => isObject(u) && typeof u.user === "string") : [],
          anonymous: Number.isInteger(ok.anonymous) ? ok.anonymous : 0,
        }),
        reject,
      });
    });
  }

  #onPresenceEvent(m) {
    if ((m.event !== "join" && m.event !== "leave") || typeof m.user !== "string") return; // a kind not known yet
    const ev = { room: m.room, event: m.event, user: m.user };
    const room = this.#rooms.get(m.room);
    if (room) roomControl.presence(room, ev);
    this.#events.emit("presence", ev);
  }

  // --- End of presence. ---

  #onRoomMessage(m) {
    const room = this.#rooms.get(m.room);
    if (!room) return; // left: its last messages may still arrive
    const body = this.#body(m); // null: not a message (a kind this client does not know)
    if (!body) return;
    if (!this.#fresh(room, m.seq)) return; // had it already: a resume repeats nothing
    const msg = { room: m.room, ...body, user: typeof m.user === "string" ? m.user : null, direct: m.direct === true };
    if (isSeq(m.seq)) msg.seq = m.seq;
    roomControl.deliver(room, msg);
    this.#events.emit("message", msg);
  }

  // ---- history and resume (issue 14) ----

  /**
   * Reads a room's stored messages, oldest first: those before seq
   * options.before (default: the newest), at most options.limit (1 to 100,
   * default 50). Needs no join, only the right to join. Resolves with
   * {messages: [{room, data, binary, user, direct, seq}]} (empty when the
   * gateway keeps no history); rejects with a RoomsError. While not
   * connected it waits in the publish queue; a reconnect sends it again.
   */
  history(name, options = {}) {
    if (typeof name !== "string") return Promise.reject(new TypeError("wsgate: a room name is a string"));
    let body;
    try {
      body = historyArgs(options);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.#conn.state === State.CLOSED) return Promise.reject(new RoomsError(ErrorCodes.CLOSED, "client closed", "history", name));
    const timeout = options?.timeout ?? this.#opts.replyTimeout;
    return new Promise((resolve, reject) => {
      const done = (ok) => {
        const list = Array.isArray(ok.messages) ? ok.messages : [];
        resolve({ ...ok, messages: list.map((m) => this.#stored(m)).filter((m) => m !== null) });
      };
      const cmd = { op: "history", room: { name }, body, timeout, resolve: done, reject };
      if (this.#open) this.#write(cmd);
      else if (this.#queue.length < this.#opts.queueSize) this.#queue.push(cmd);
      else reject(new RoomsError(ErrorCodes.QUEUE_FULL, "send queue full", "history", name));
    });
  }

  // stored turns a message of a history reply into what "message" delivers.
  #stored(m) {
    if (!isObject(m) || typeof m.room !== "string") return null;
    const body = this.#body(m);
    if (!body) return null;
    const msg = { room: m.room, ...body, user: typeof m.user === "string" ? m.user : null, direct: m.direct === true };
    if (isSeq(m.seq)) msg.seq = m.seq;
    return msg;
  }

  // joinBody is what a join asks for: to resume after the last seq the
  // room got, else what join() was given (since wins over history).
  #joinBody(room) {
    const r = this.#resume.get(room);
    const body = roomControl.wantsPresence(room) ? { presence: true } : {};
    if (r.seq !== undefined) body.since = r.seq;
    else if (r.since !== undefined) body.since = r.since;
    else if (r.history !== undefined) body.history = r.history;
    return body;
  }

  // onJoined notes the join's seq; true when the join resumed with nothing lost.
  #onJoined(room, body, result) {
    if (isSeq(result.seq)) {
      this.#historyOn = true;
      const r = this.#resume.get(room);
      // The reply's seq is at or past every message before it. Below since
      // only when the room's history was reset (its stream recreated): then
      // it is where the room stands, and recovered is false.
      if (r.seq === undefined || result.seq > r.seq || result.recovered === false) r.seq = result.seq;
    }
    return body.since !== undefined && result.recovered === true;
  }

  // fresh says whether a room message is new, and notes its seq: one with a
  // seq up to the last one the room got is a repeat. No seq: no history.
  #fresh(room, seq) {
    if (!isSeq(seq)) return true;
    this.#historyOn = true;
    const r = this.#resume.get(room);
    if (r.seq !== undefined && seq <= r.seq) return false;
    r.seq = seq;
    return true;
  }

  #recovery(room, since, seq) {
    const detail = { room: room.name, recovered: false, since, seq: isSeq(seq) ? seq : undefined };
    roomControl.emit(room, "recovery", detail);
    this.#events.emit("recovery", detail);
  }

  // canResend: a publish whose outcome is unknown may go again, with its
  // msg_id, when the gateway keeps history (it stores a msg_id once), within
  // resendWindow of the publish (inside the gateway's ROOM_DEDUPE_WINDOW),
  // to a room still wanted.
  #canResend(cmd) {
    return this.#opts.resend !== false && this.#historyOn && Date.now() < cmd.deadline && this.#rooms.get(cmd.room.name) === cmd.room;
  }

  // takeBack handles a command the closed socket carried that history lets
  // go again on the next socket (then it is not settled): a publish that
  // canResend, a history command (read-only); true when it handled it.
  #takeBack(cmd, willRejoin) {
    if (cmd.op === "history") {
      if (!willRejoin) this.#settle(cmd, new RoomsError(ErrorCodes.DISCONNECTED, "connection closed before the reply", "history", cmd.room.name));
    } else if (!(cmd.op === "publish" && willRejoin && this.#canResend(cmd))) {
      return false;
    }
    clearTimeout(cmd.timer);
    cmd.timer = null;
    return true;
  }

  // retryLater sends a publish the gateway could not store (503 "not
  // stored": perhaps stored, perhaps not) again, with its msg_id, after a
  // backoff delay; true when it will.
  #retryLater(cmd, code, reason) {
    if (cmd.op !== "publish" || code !== ErrorCodes.UNAVAILABLE || reason !== "not stored") return false;
    this.#historyOn = true; // only a gateway with history stores
    if (!this.#canResend(cmd)) return false;
    clearTimeout(cmd.timer);
    const delay = backoffDelay(cmd.tries++, this.#opts.baseDelay ?? 500, this.#opts.maxDelay ?? 30000);
    this.#later.add(cmd);
    cmd.timer = setTimeout(() => {
      this.#later.delete(cmd);
      cmd.timer = null;
      if (this.#open) this.#write(cmd);
      else this.#queue.unshift(cmd);
    }, delay);
    return true;
  }

  // expired settles a publish waiting to go again once resendWindow passed:
  // past the gateway's dedupe window, it could be stored twice.
  #expired(cmd) {
    if (!(cmd.op === "publish" && cmd.written && Date.now() >= cmd.deadline)) return false;
    this.#settle(cmd, new RoomsError(ErrorCodes.DISCONNECTED, "connection closed before the reply", "publish", cmd.room.name));
    return true;
  }

  // dropLater settles the publishes waiting to be sent again, of room (or
  // all, for null), with error(cmd).
  #dropLater(room, error) {
    for (const cmd of [...this.#later]) {
      if (room !== null && cmd.room !== room) continue;
      this.#later.delete(cmd);
      this.#settle(cmd, typeof error === "function" ? error(cmd) : error);
    }
  }
}

/** Whether url names the rooms route: its path ends with /ws/rooms. */
function isRoomsURL(url, base) {
  return new URL(resolveURL(url, base)).pathname.endsWith("/ws/rooms");
}

/**
 * Creates a client and starts connecting: connect(url, options). A RoomsClient
 * for the rooms route (a path ending in /ws/rooms, or options.rooms: true), a
 * WsgateClient for the raw routes (or options.rooms: false).
 */
export function connect(url, options) {
  const rooms = options?.rooms ?? isRoomsURL(url, options?.base);
  return rooms ? new RoomsClient(url, options) : new WsgateClient(url, options);
}

export default connect;
