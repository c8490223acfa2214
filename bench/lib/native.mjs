import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// The small C helpers of bench/native/, compiled with cc at run time into bench/.build/ (git-ignored)
// and driven from here: `spawn` (the raw baseline: posix_spawn + wait4, no Node fork in the measured
// path) and `layers` (the layer ladder). Node only starts a helper once per batch; every figure is
// taken by the helper itself, so Node's own fork cost never enters a baseline.

const here = path.dirname(fileURLToPath(import.meta.url));
const srcDir = path.resolve(here, '..', 'native');
export const buildDir = path.resolve(here, '..', '.build');

/** Path of bench/.build/NAME, compiled from bench/native/NAME.c when missing or older than it. */
export function nativeTool(name) {
  const src = path.join(srcDir, `${name}.c`);
  const out = path.join(buildDir, name);
  // clock.h is the one header the helpers share.
  const newest = Math.max(fs.statSync(src).mtimeMs, fs.statSync(path.join(srcDir, 'clock.h')).mtimeMs);
  const fresh = fs.existsSync(out) && fs.statSync(out).mtimeMs >= newest;
  if (!fresh) {
    fs.mkdirSync(buildDir, { recursive: true });
    const cc = process.env.CC || 'cc';
    const r = spawnSync(cc, ['-O2', '-Wall', '-Wextra', '-o', out, src], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`cannot compile bench/native/${name}.c with ${cc}: ${r.error?.message ?? r.stderr}`);
  }
  return out;
}

/** "run 3 wall_us 123 ok 1" -> { run: 3, wall_us: 123, ok: 1 } (every value a number). */
export function parseLine(line) {
  const w = line.trim().split(/\s+/);
  if (w[0] === 'total') w.shift(); // "total runs N failed F ..."
  const o = {};
  for (let i = 0; i + 1 < w.length; i += 2) o[w[i]] = Number(w[i + 1]);
  return o;
}

function collect(file, args, { timeoutMs = 600_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out = [];
    const err = [];
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (c) => out.push(c));
    child.stderr.on('data', (c) => err.push(c));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
  });
}

/** Env options for the helpers: the program's environment, exactly. */
const envArgs = (env) => Object.entries(env ?? {}).flatMap(([k, v]) => ['--env', `${k}=${v}`]);
const escape = (s) => s.replace(/\n/g, '\\n');

/**
 * `runs` runs of argv by the raw spawner, `parallel` at a time. Resolves
 * { runs: [{ wall, cpu, ok }] (ms), failed, elapsedMs, perSecond, stderr }.
 */
export async function spawnBatch(argv, { runs, parallel = 1, warmup = 0, cwd, expect, env, timeoutMs } = {}) {
  const args = ['--runs', String(runs), '--parallel', String(parallel), '--warmup', String(warmup)];
  if (cwd) args.push('--cwd', cwd);
  if (expect !== undefined) args.push('--expect', escape(expect));
  args.push(...envArgs(env), '--', ...argv);
  const r = await collect(nativeTool('spawn'), args, { timeoutMs });
  const lines = r.stdout.split('\n').filter(Boolean).map(parseLine);
  const total = lines.find((l) => l.elapsed_us !== undefined);
  const list = lines.filter((l) => l.wall_us !== undefined).map((l) => ({ wall: l.wall_us / 1000, cpu: (l.user_us + l.sys_us) / 1000, ok: l.ok === 1 }));
  if (!total) throw new Error(`spawn ${argv[0]}: no summary (exit ${r.code ?? r.signal}): ${r.stderr.slice(0, 500)}`);
  const elapsedMs = total.elapsed_us / 1000;
  return { runs: list, failed: list.filter((x) => !x.ok).length, elapsedMs, perSecond: (list.length / elapsedMs) * 1000, stderr: r.stderr };
}

/**
 * A raw spawner kept running: `await s.run(n)` makes n sequential runs now and resolves their
 * [{ wall, cpu, ok }]; for interleaving raw runs with an HTTP benchmark's own, same load for both.
 */
export function spawnServer(argv, { cwd, expect, env } = {}) {
  const args = ['--serve'];
  if (cwd) args.push('--cwd', cwd);
  if (expect !== undefined) args.push('--expect', escape(expect));
  args.push(...envArgs(env), '--', ...argv);
  const child = spawn(nativeTool('spawn'), args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const rl = readline.createInterface({ input: child.stdout });
  const waiting = [];
  let batch = [];
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  rl.on('line', (line) => {
    if (line === 'done') {
      waiting.shift()?.resolve(batch);
      batch = [];
      return;
    }
    const l = parseLine(line);
    if (l.wall_us !== undefined) batch.push({ wall: l.wall_us / 1000, cpu: (l.user_us + l.sys_us) / 1000, ok: l.ok === 1 });
  });
  child.on('close', () => {
    for (const w of waiting.splice(0)) w.reject(new Error(`raw spawner exited: ${stderr.slice(0, 500)}`));
  });
  return {
    run(n = 1) {
      return new Promise((resolve, reject) => {
        waiting.push({ resolve, reject });
        child.stdin.write(`${n}\n`);
      });
    },
    close() {
      child.stdin.end();
    },
  };
}

/**
 * The C HTTP client (bench/native/http-e2e.c), kept running against serve on 127.0.0.1:`port`:
 * `await c.once(mode)` runs one 'long', 'poll', 'wait' or 'floor' request sequence and resolves
 * { ms, postMs, polls, http, body (the last answer, parsed) }; every time is taken by the C client.
 */
export function httpClient({ port, session, pollMs = 1, waitMs = 10_000 }) {
  const child = spawn(nativeTool('http-e2e'), ['--port', String(port), '--session', session, '--poll-ms', String(pollMs), '--wait-ms', String(waitMs)], { stdio: ['pipe', 'pipe', 'pipe'] });
  const rl = readline.createInterface({ input: child.stdout });
  const waiting = [];
  let got = null;
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  rl.on('line', (line) => {
    if (line.startsWith('mode ')) got = parseLine(line.replace(/^mode \S+ /, ''));
    else if (line.startsWith('body ')) got.body = line.slice(5);
    else if (line === 'done') {
      const g = got;
      got = null;
      let body = g.body;
      try {
        body = JSON.parse(body);
      } catch {
        // not JSON: returned as text
      }
      waiting.shift()?.resolve({ ms: g.e2e_us / 1000, postMs: g.post_us / 1000, polls: g.polls, http: g.http, body });
    }
  });
  child.on('close', () => {
    for (const w of waiting.splice(0)) w.reject(new Error(`http-e2e exited: ${stderr.slice(0, 500)}`));
  });
  return {
    once(mode) {
      return new Promise((resolve, reject) => {
        waiting.push({ resolve, reject });
        child.stdin.write(`${mode}\n`);
      });
    },
    close() {
      child.stdin.end();
    },
  };
}

/**
 * The layer ladder: `sets` (arrays of layer names) take turns run by run. Resolves
 * { bySet: [[{ wall, setup, prog_cpu, ... } (ms; counts as counts)]], failed, stderr }.
 */
export async function ladder(sets, argv, { runs, warmup = 1, cwd, file, ro = [], seccompFile, uid, env, expect, timeoutMs } = {}) {
  const args = [];
  for (const s of sets) args.push('--layers', s.length ? s.join(',') : 'none');
  args.push('--runs', String(runs), '--warmup', String(warmup));
  if (cwd) args.push('--cwd', cwd);
  if (file) args.push('--file', `${file.name}=${file.path}`);
  for (const p of ro) args.push('--ro', p);
  if (seccompFile) args.push('--seccomp', seccompFile);
  if (uid !== undefined) args.push('--uid', String(uid));
  if (expect !== undefined) args.push('--expect', escape(expect));
  args.push(...envArgs(env), '--', ...argv);
  const r = await collect(nativeTool('layers'), args, { timeoutMs });
  if (r.code !== 0 && !r.stdout.includes('total runs')) throw new Error(`layer ladder failed (exit ${r.code ?? r.signal}): ${r.stderr.slice(0, 800)}`);
  const bySet = sets.map(() => []);
  const counts = new Set(['set', 'run', 'ok', 'minflt', 'majflt', 'nvcsw', 'nivcsw']);
  for (const line of r.stdout.split('\n')) {
    if (!line.startsWith('run ')) continue;
    const l = parseLine(line);
    const row = {};
    for (const [k, v] of Object.entries(l)) row[k] = counts.has(k) ? v : v / 1000;
    bySet[l.set].push(row);
  }
  const total = parseLine(r.stdout.split('\n').find((l) => l.startsWith('total')) ?? '');
  return { bySet, failed: total.failed ?? NaN, stderr: r.stderr };
}
