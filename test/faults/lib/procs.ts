import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// Real `codexec serve` and `codexec worker` processes for the fault tests: spawned from bin/codexec
// (which runs dist/, so the tests need a build first: `npm test` does it), each with its own log
// file, all tracked so that a test's afterAll can kill what is left and fail on a leak.

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
// FAULTS_CODEXEC_ROOT runs the scenarios against another copy of the package (an installed one, a
// build of another commit); by default, this checkout's bin/codexec and dist/.
export const BIN = path.join(process.env.FAULTS_CODEXEC_ROOT ?? ROOT, 'bin', 'codexec');

// Host-specific settings a CI machine may need to pass through; every other CODEXEC_* variable of
// the parent is dropped so that the tests control the configuration completely.
const PASSED_THROUGH = new Set(['CODEXEC_INSECURE_ALLOW_UNISOLATED', 'CODEXEC_CGROUP_PARENT', 'CODEXEC_SANDBOX_UID_BASE']);

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class CodexecProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<Exit>;
  exit: Exit | null = null;

  constructor(
    readonly name: string,
    readonly args: string[],
    readonly env: Record<string, string>,
    readonly logFile: string,
  ) {
    const fd = fs.openSync(logFile, 'a');
    try {
      this.child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env, stdio: ['ignore', fd, fd] });
    } finally {
      fs.closeSync(fd);
    }
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        live.delete(this);
        resolve(this.exit);
      });
    });
    live.add(this);
  }

  get pid(): number {
    return this.child.pid!;
  }

  get alive(): boolean {
    return this.exit === null;
  }

  signal(sig: NodeJS.Signals): void {
    if (this.alive) this.child.kill(sig);
  }

  /** Waits for the exit; throws (with the log's tail) if it takes longer than `ms`. */
  async waitExit(ms: number): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${this.name} (pid ${this.pid}) did not exit within ${ms} ms\n${this.logTail()}`)), ms);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async kill9(): Promise<Exit> {
    this.signal('SIGKILL');
    return this.waitExit(10_000);
  }

  log(): string {
    try {
      return fs.readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  /** The log as JSON lines (pino); lines that are not JSON are skipped. */
  logLines(): Record<string, unknown>[] {
    const out: Record<string, unknown>[] = [];
    for (const line of this.log().split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        out.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // a line cut by kill -9
      }
    }
    return out;
  }

  logTail(lines = 30): string {
    return `--- ${this.name} log (${this.logFile}) ---\n${this.log().split('\n').slice(-lines).join('\n')}`;
  }
}

const live = new Set<CodexecProcess>();

/** Kills every process still running (SIGKILL) and returns their names: a non-empty list is a leak. */
export async function killAll(): Promise<string[]> {
  const leaked = [...live];
  for (const p of leaked) p.signal('SIGKILL');
  await Promise.all(leaked.map((p) => p.exited));
  return leaked.map((p) => `${p.name} (pid ${p.pid})`);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export function childEnv(overrides: Record<string, string | number>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined) continue;
    if (k.startsWith('CODEXEC_') && !PASSED_THROUGH.has(k)) continue;
    env[k] = v;
  }
  // Without root the sandbox cannot isolate and the product refuses to start; these tests are about
  // the queue, not isolation, so they then run with the development fallback.
  if (process.geteuid?.() !== 0 && env.CODEXEC_INSECURE_ALLOW_UNISOLATED === undefined) env.CODEXEC_INSECURE_ALLOW_UNISOLATED = '1';
  for (const [k, v] of Object.entries(overrides)) env[k] = String(v);
  return env;
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Thrown inside a waitFor callback: ends the wait at once instead of being retried. */
export class Fatal extends Error {}

/** Polls `fn` until it returns a value other than undefined/false; throws `what` after `ms`. */
export async function waitFor<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, ms: number, everyMs = 100): Promise<T> {
  const deadline = Date.now() + ms;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      if (err instanceof Fatal) throw err;
      lastErr = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}${lastErr ? `: ${String(lastErr)}` : ''}`);
    await sleep(everyMs);
  }
}

// ---- processes of a machine: to check that a killed executor leaves no sandbox behind ----------

export interface ProcId {
  pid: number;
  startTime: string;
  comm: string;
}

function readStat(pid: number): { ppid: number; startTime: string; comm: string } | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm is in parentheses and may hold spaces; the fields after the last ')' are fixed.
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const fields = stat.slice(close + 2).split(' ');
    if (fields[0] === 'Z') return null; // a zombie has ended; it only waits for its parent
    return { ppid: Number(fields[1]), startTime: fields[19], comm };
  } catch {
    return null;
  }
}

/** Every process below `pid` (children, grandchildren...), identified by pid and start time. */
export function descendants(pid: number): ProcId[] {
  const byParent = new Map<number, ProcId[]>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = readStat(Number(name));
    if (!st) continue;
    const list = byParent.get(st.ppid) ?? [];
    list.push({ pid: Number(name), startTime: st.startTime, comm: st.comm });
    byParent.set(st.ppid, list);
  }
  const out: ProcId[] = [];
  const walk = (p: number) => {
    for (const c of byParent.get(p) ?? []) {
      out.push(c);
      walk(c.pid);
    }
  };
  walk(pid);
  return out;
}

/** Those of `procs` that still run (same pid and same start time: not a reused pid). */
export function stillRunning(procs: ProcId[]): ProcId[] {
  return procs.filter((p) => readStat(p.pid)?.startTime === p.startTime);
}
