import fs from 'node:fs';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import http from 'node:http';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// A real `codexec serve` in a child process, on 127.0.0.1, with its own temporary data directory,
// plus a small keep-alive HTTP client (fetch costs ~1 ms per request on its own, which would show in
// latency figures).

// The codexec tree measured: this repository, or CODEXEC_BENCH_ROOT (a built copy, e.g. a `git
// archive` of another commit: how a "before" is measured while the working tree is in flux).
const root = process.env.CODEXEC_BENCH_ROOT || path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * Starts `codexec serve` and waits until /healthz answers (and /readyz, when executors run).
 * `env`: extra CODEXEC_* settings; `nodeArgs`: flags for node (e.g. --cpu-prof), also taken from
 * BENCH_SERVE_NODE_ARGS (space-separated) to profile the server of any benchmark.
 * Returns { url, pid, client, stop() }.
 */
export async function startServer({ env = {}, executors = 2, startTimeoutMs = 30_000, nodeArgs = [], dataDir: sharedDir = null, command = 'serve' } = {}) {
  const dataDir = sharedDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'codexec-bench-data-'));
  /** The data directory goes with the server, unless the caller shares it. */
  const removeOwnDataDir = () => {
    if (!sharedDir) fs.rmSync(dataDir, { recursive: true, force: true });
  };
  const port = await freePort();
  const childEnv = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    CODEXEC_DATA_DIR: dataDir,
    CODEXEC_HOST: '127.0.0.1',
    CODEXEC_PORT: String(port),
    CODEXEC_EXECUTORS: String(executors),
    // The default level: what a run costs includes writing its log lines (and this process,
    // standing in for journald, reading them).
    CODEXEC_LOG_LEVEL: 'info',
    CODEXEC_SHUTDOWN_GRACE_MS: '2000',
    ...env,
  };
  const extraArgs = (process.env.BENCH_SERVE_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...extraArgs, ...nodeArgs, path.join(root, 'bin', 'codexec'), command], { cwd: root, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = [];
  const keep = (c) => {
    log.push(c.toString());
    if (log.length > 200) log.shift();
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = null;
  const exit = new Promise((resolve) => child.on('exit', (code, signal) => resolve((exited = { code, signal }))));

  const client = new Client(`http://127.0.0.1:${port}`);
  const deadline = Date.now() + startTimeoutMs;
  const waitReady = async () => {
    if (command === 'worker') {
      // A worker serves no HTTP: it is up once it logged its start (or after a moment without exiting).
      while (!exited && Date.now() < deadline && !log.join('').includes('worker started')) await new Promise((r) => setTimeout(r, 50));
      if (exited) throw new Error(`codexec worker exited (${JSON.stringify(exited)}) at start:\n${log.join('').slice(-3000)}`);
      return;
    }
    const readyPath = executors > 0 ? '/readyz' : '/healthz';
    for (;;) {
      if (exited) throw new Error(`codexec serve exited (${JSON.stringify(exited)}) before it was ready:\n${log.join('').slice(-3000)}`);
      if (Date.now() > deadline) throw new Error(`codexec serve not ready after ${startTimeoutMs} ms:\n${log.join('').slice(-3000)}`);
      try {
        const r = await client.request('GET', readyPath);
        if (r.status === 200) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  try {
    await waitReady();
  } catch (err) {
    // A start that failed leaves no process and, unless shared, no data directory behind.
    client.close();
    if (!exited) {
      child.kill('SIGKILL');
      await exit;
    }
    removeOwnDataDir();
    throw err;
  }

  return {
    url: client.base,
    port,
    pid: child.pid,
    dataDir,
    client,
    log: () => log.join(''),
    /** SIGTERM, then SIGKILL after 15 s; removes the data directory. */
    async stop() {
      client.close();
      if (!exited) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exit;
        clearTimeout(t);
      }
      removeOwnDataDir();
    },
  };
}

export class Client {
  constructor(base, maxSockets = 256) {
    this.base = base;
    const u = new URL(base);
    this.host = u.hostname;
    this.port = Number(u.port);
    this.agent = new http.Agent({ keepAlive: true, maxSockets });
  }

  /** One request (`headers`: more request headers); resolves { status, body (parsed JSON or text), ms }. */
  request(method, pathname, body, headers = {}) {
    const payload = body === undefined ? null : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const t0 = performance.now();
      const req = http.request(
        {
          host: this.host,
          port: this.port,
          method,
          path: pathname,
          agent: this.agent,
          headers: { ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}), ...headers },
        },
        (res) => {
          const chunks = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            let parsed = text;
            try {
              parsed = JSON.parse(text);
            } catch {
              // not JSON
            }
            resolve({ status: res.statusCode, body: parsed, ms: performance.now() - t0, headers: res.headers });
          });
          res.on('error', reject);
        },
      );
      req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${pathname}: no answer in 30 s`)));
      req.on('error', reject);
      req.end(payload ?? undefined);
    });
  }

  async json(method, pathname, body, expect) {
    const r = await this.request(method, pathname, body);
    if (expect !== undefined && r.status !== expect) throw new Error(`${method} ${pathname}: HTTP ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
    return r;
  }

  close() {
    this.agent.destroy();
  }
}

/** Creates `count` python sessions; resolves their ids. */
export async function createSessions(client, count, source) {
  const ids = [];
  for (let i = 0; i < count; i++) {
    const r = await client.json('POST', '/code-sessions', { language: 'python', source_code: source }, 201);
    ids.push(r.body.session_id);
  }
  return ids;
}

/** CPU time (user + system) a process used itself, not its children, in ms (/proc, 10 ms ticks). */
export function ownCpuMs(pid) {
  return cpuMs(pid).own;
}

/** CPU of a process, ms (/proc/<pid>/stat, 10 ms ticks): its own, and its reaped children's. */
function cpuMs(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { own: ((Number(f[11]) + Number(f[12])) * 1000) / 100, reaped: ((Number(f[13]) + Number(f[14])) * 1000) / 100 };
  } catch {
    return { own: NaN, reaped: NaN };
  }
}

/**
 * The live children of `pid` (for serve: its fork servers), each with its own CPU and that of the
 * children it reaped (a fork server's: the inits, and through them every program), ms.
 */
export function childrenCpuMs(pid) {
  let kids = [];
  try {
    kids = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    // no children, or a kernel without /proc/<pid>/task/<tid>/children
  }
  return kids.map((k) => ({ pid: k, ...cpuMs(k) }));
}

/** Busy CPU of the whole machine so far, ms (/proc/stat: every state but idle and iowait; 10 ms ticks). */
export function machineBusyMs() {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = f;
  return (user + nice + system + irq + softirq + steal) * 10;
}

/** VmRSS (and VmHWM) of a process in KiB, from /proc/<pid>/status. */
export function rssKiB(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const get = (k) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: get('VmRSS'), hwm: get('VmHWM'), threads: get('Threads') };
}

export const TERMINAL = new Set(['COMPLETED', 'FAILED', 'TIMEOUT']);

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
