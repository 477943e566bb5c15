// Runs the product for the end-to-end test: devnats, the three workers and
// gateways, each a separate process from the built binaries, on loopback
// ports only. Every wait is bounded; every process is killed at the end,
// also when the test fails or the runner is interrupted.
import { spawn, execFile } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../..");

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** An error that ends a waitFor at once (a process died). */
function fatal(message) {
  return Object.assign(new Error(message), { fatal: true });
}

/** Polls fn until it returns a truthy value or timeout ms pass; an error marked fatal ends it at once. */
export async function waitFor(fn, { timeout = 10000, interval = 50, what = "condition" } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      if (err.fatal) throw err;
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}${last ? `: ${last.message}` : ""}`);
    }
    await sleep(interval);
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** The HTTP status of a GET, or 0 when nothing answers. */
export async function httpStatus(url) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

/**
 * Which of the NATS micro services names answer $SRV.PING.<name>, asked with
 * the plain NATS text protocol (no client library needed).
 */
export function natsServices(port, names, timeout = 1000) {
  return new Promise((resolve) => {
    const seen = new Set();
    const sock = net.connect(port, "127.0.0.1");
    let buf = "";
    const done = () => {
      clearTimeout(timer);
      sock.destroy();
      resolve(seen);
    };
    const timer = setTimeout(done, timeout);
    sock.on("error", done);
    sock.on("connect", () => {
      let out = 'CONNECT {"verbose":false,"pedantic":false,"name":"wsgate-e2e"}\r\n';
      names.forEach((n, i) => {
        out += `SUB _INBOX.e2e.${n} ${i + 1}\r\nPUB $SRV.PING.${n} _INBOX.e2e.${n} 0\r\n\r\n`;
      });
      sock.write(out);
    });
    sock.on("data", (chunk) => {
      buf += chunk.toString("latin1");
      for (const m of buf.matchAll(/^MSG _INBOX\.e2e\.([A-Za-z0-9_-]+) /gm)) seen.add(m[1]);
      if (/^PING\r$/m.test(buf)) sock.write("PONG\r\n");
      if (buf.length > 65536) buf = buf.slice(-4096);
      if (names.every((n) => seen.has(n))) done();
    });
  });
}

/** Builds the three binaries into dir (go build from the repository root). */
export function buildBinaries(dir) {
  return new Promise((resolve, reject) => {
    execFile(
      "go",
      ["build", "-o", dir + path.sep, "./gateway/cmd/gateway", "./worker/cmd/worker", "./shared/cmd/devnats"],
      { cwd: repoRoot, timeout: 300000 },
      (err, stdout, stderr) => (err ? reject(new Error(`go build: ${err.message}\n${stderr}`)) : resolve()),
    );
  });
}

const live = new Set();
const tempDirs = new Set();
function killLive() {
  for (const p of live) {
    try {
      p.child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
}
process.on("exit", () => {
  killLive();
  if (!process.env.E2E_KEEP) for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true });
});
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => {
    killLive();
    process.exit(130);
  });
}

/** One child process, its output in a log file. */
class Proc {
  constructor(name, file, args, env, logDir) {
    this.name = name;
    this.log = path.join(logDir, `${name}.log`);
    const fd = fs.openSync(this.log, "a");
    fs.writeSync(fd, `--- ${new Date().toISOString()} start ${file} ${args.join(" ")}\n`);
    this.child = spawn(file, args, { env: { ...process.env, ...env }, stdio: ["ignore", fd, fd] });
    fs.closeSync(fd);
    this.exit = null;
    this.exited = new Promise((resolve) => {
      this.child.on("exit", (code, signal) => {
        this.exit = { code, signal };
        live.delete(this);
        resolve(this.exit);
      });
      this.child.on("error", (err) => {
        fs.appendFileSync(this.log, `spawn error: ${err.message}\n`);
        this.exit = { code: -1, signal: null, error: err };
        live.delete(this);
        resolve(this.exit);
      });
    });
    live.add(this);
  }

  get running() {
    return this.exit === null;
  }

  /** Sends signal, waits up to timeout ms for the exit, then kills. */
  async stop(signal = "SIGTERM", timeout = 10000) {
    if (!this.running) return this.exit;
    this.child.kill(signal);
    const t = sleep(timeout).then(() => null);
    const r = await Promise.race([this.exited, t]);
    if (r) return r;
    this.child.kill("SIGKILL");
    await this.exited;
    return { ...this.exit, killed: true };
  }

  tail(lines = 30) {
    try {
      return fs.readFileSync(this.log, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
    } catch {
      return "";
    }
  }
}

/** The whole product: NATS, workers, gateways. */
export class Stack {
  constructor() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), "wsgate-e2e-"));
    tempDirs.add(this.dir);
    this.logDir = path.join(this.dir, "logs");
    fs.mkdirSync(this.logDir);
    this.bin = process.env.WSGATE_BIN || path.join(this.dir, "bin");
    this.procs = [];
    this.gateways = new Map(); // name -> {port, proc}
  }

  async build() {
    if (process.env.WSGATE_BIN) return;
    await buildBinaries(this.bin);
  }

  #start(name, file, args, env = {}) {
    const p = new Proc(name, path.join(this.bin, file), args, env, this.logDir);
    this.procs.push(p);
    return p;
  }

  async startNATS() {
    this.natsPort = await freePort();
    this.nats = this.#start("devnats", "devnats", ["-host", "127.0.0.1", "-port", String(this.natsPort), "-monitor", "0", "-store", path.join(this.dir, "jetstream")]);
    this.natsURL = `nats://127.0.0.1:${this.natsPort}`;
    await waitFor(
      () =>
        new Promise((resolve) => {
          if (!this.nats.running) throw fatal(`devnats exited: ${this.nats.tail(5)}`);
          const s = net.connect(this.natsPort, "127.0.0.1", () => {
            s.destroy();
            resolve(true);
          });
          s.on("error", () => resolve(false));
        }),
      { timeout: 15000, what: "devnats to listen" },
    );
  }

  startWorkers(kinds = ["echo", "room", "auth", "presence"]) {
    const procs = kinds.map((kind) => this.#start(`worker-${kind}`, "worker", [kind], { NATS_URL: this.natsURL }));
    return waitFor(async () => {
      const dead = procs.find((p) => !p.running);
      if (dead) throw fatal(`${dead.name} exited: ${dead.tail(5)}`);
      return (await natsServices(this.natsPort, kinds)).size === kinds.length;
    }, {
      timeout: 15000,
      interval: 100,
      what: `workers ${kinds.join(", ")} to answer $SRV.PING`,
    });
  }

  /**
   * Stops the running worker of this kind (SIGTERM, wait for the exit) and
   * waits until NATS no longer has it: its frames then find no responder.
   */
  async stopWorker(kind) {
    const proc = this.procs.findLast((p) => p.name === `worker-${kind}` && p.running);
    if (!proc) throw new Error(`no running ${kind} worker`);
    const exit = await proc.stop("SIGTERM", 10000);
    await waitFor(async () => !(await natsServices(this.natsPort, [kind], 300)).has(kind), {
      timeout: 10000,
      interval: 50,
      what: `${kind} worker to leave NATS`,
    });
    return exit;
  }

  /** Sends signal (SIGSTOP freezes, SIGCONT thaws) to the running worker of this kind. */
  signalWorker(kind, signal) {
    const proc = this.procs.findLast((p) => p.name === `worker-${kind}` && p.running);
    if (!proc) throw new Error(`no running ${kind} worker`);
    proc.child.kill(signal);
  }

  /** Starts (or restarts, on the same port) the gateway called name. */
  async startGateway(name, port) {
    port = port || this.gateways.get(name)?.port || (await freePort());
    const proc = this.#start(name, "gateway", [], {
      NATS_URL: this.natsURL,
      GATEWAY_ADDR: `127.0.0.1:${port}`,
      GATEWAY_DRAIN_WINDOW: "200ms",
    });
    const gw = { name, port, proc, url: `http://127.0.0.1:${port}` };
    this.gateways.set(name, gw);
    await waitFor(
      async () => {
        if (!proc.running) throw fatal(`${name} exited: ${proc.tail(5)}`);
        return (await httpStatus(`${gw.url}/readyz`)) === 200;
      },
      { timeout: 15000, interval: 100, what: `${name} /readyz` },
    );
    return gw;
  }

  /** SIGTERM, wait for the exit; returns {code, signal}. */
  stopGateway(name) {
    return this.gateways.get(name).proc.stop("SIGTERM", 10000);
  }

  /** Stops everything: gateways first, then workers, then NATS. */
  async stopAll() {
    const order = [...this.procs].reverse();
    await Promise.all(order.filter((p) => p.name.startsWith("gateway")).map((p) => p.stop("SIGTERM", 5000)));
    await Promise.all(order.filter((p) => p.name.startsWith("worker")).map((p) => p.stop("SIGTERM", 5000)));
    await Promise.all(order.map((p) => p.stop("SIGTERM", 5000)));
    killLive();
  }

  /** The last lines of every log, for a failure report. */
  logs(lines = 15) {
    const names = [...new Set(this.procs.map((p) => p.name))];
    return names.map((n) => `==> ${n}\n${this.procs.filter((p) => p.name === n).at(-1).tail(lines)}`).join("\n");
  }

  cleanup() {
    if (process.env.E2E_KEEP) return;
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
