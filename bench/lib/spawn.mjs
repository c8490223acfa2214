import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';

// The reference runs: the interpreter started directly, under util-linux unshare, and under
// bubblewrap, each timed from spawn() to the process having exited and its pipes having closed
// (the same point at which codexec has collected a run's output).

export const PYTHON = '/usr/bin/python3';
/** The program every benchmark runs. */
export const HELLO = 'print("hi")\n';
export const EXPECTED = 'hi\n';

/** A directory holding main.py (the sandbox runs a file: the profile's `-I -B main.py`). */
export function helloDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'codexec-bench-'));
  fs.writeFileSync(path.join(dir, 'main.py'), HELLO);
  return dir;
}

export function which(name) {
  for (const dir of ['/usr/bin', '/bin', '/usr/local/bin', '/usr/sbin']) {
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return null;
}

/** argv of each reference variant; null when the tool is missing here (with why). */
export function referenceVariants(dir) {
  const py = [PYTHON, '-I', '-B', 'main.py'];
  const unshare = which('unshare');
  const bwrap = which('bwrap');
  const variants = [{ name: 'raw python', argv: py, cwd: dir }];
  if (unshare) {
    // Exactly the reference: no --fork, so python itself is not pid 1 (its children would be).
    variants.push({ name: 'unshare pid,mnt,net,ipc,uts', argv: [unshare, '--pid', '--mount', '--net', '--ipc', '--uts', '--', ...py], cwd: dir });
  } else variants.push({ name: 'unshare', missing: 'util-linux unshare not found' });
  if (bwrap) {
    const roBinds = [];
    for (const p of ['/usr', '/bin', '/lib', '/lib64', '/sbin', '/etc/ld.so.cache', '/etc/alternatives']) {
      if (!fs.existsSync(p)) continue;
      if (fs.lstatSync(p).isSymbolicLink()) roBinds.push('--symlink', fs.readlinkSync(p), p);
      else roBinds.push('--ro-bind', p, p);
    }
    variants.push({
      name: 'bwrap --unshare-all',
      argv: [bwrap, '--unshare-all', '--die-with-parent', ...roBinds, '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp', '--ro-bind', dir, '/work', '--chdir', '/work', '--', ...py],
      cwd: dir,
    });
  } else variants.push({ name: 'bwrap', missing: 'bubblewrap not installed (apt-get install bubblewrap)' });
  return variants;
}

/** Runs argv once; resolves with wall ms, exit code and stdout. */
export function timedSpawn(argv, cwd) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(argv[0], argv.slice(1), { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8' } });
    const out = [];
    const err = [];
    child.stdout.on('data', (c) => out.push(c));
    child.stderr.on('data', (c) => err.push(c));
    child.on('error', (e) => resolve({ ms: performance.now() - t0, code: null, stdout: '', stderr: e.message }));
    child.on('close', (code) => resolve({ ms: performance.now() - t0, code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
  });
}

// Clock ticks per second for /proc/self/stat (sysconf(_SC_CLK_TCK)); 100 on every Linux we know.
const CLK_TCK = 100;

function statFields(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/**
 * CPU time used so far by this process (all threads), its waited-for descendants, and its live
 * children with theirs (codexec's fork servers live across runs and reap the executions
 * themselves), in ms. Unlike wall time it barely moves with the machine's load, so it shows what a
 * run costs even on a shared machine (children are counted in 10 ms ticks: use it over many runs).
 */
export function cpuMs() {
  const u = process.cpuUsage();
  // After the command name: f[1] is the ppid, f[11..14] utime, stime, cutime, cstime.
  const f = statFields('self');
  let ticks = Number(f[13]) + Number(f[14]);
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const c = statFields(entry);
      if (Number(c[1]) === process.pid) ticks += Number(c[11]) + Number(c[12]) + Number(c[13]) + Number(c[14]);
    } catch {
      // it exited meanwhile: its time is in our cutime now
    }
  }
  return (u.user + u.system) / 1000 + (ticks * 1000) / CLK_TCK;
}

/**
 * Calls `once()` `n` times with `parallel` calls in flight, stopping early after `maxMs`.
 * `once` resolves to { ms, ok }. Returns per-run wall times, failures, and the overall rate.
 */
export async function loop(once, { n, parallel = 1, maxMs = 120_000 }) {
  const times = [];
  let failures = 0;
  let firstFailure = null;
  let started = 0;
  const t0 = performance.now();
  const cpu0 = cpuMs();
  const deadline = t0 + maxMs;
  const lane = async () => {
    while (started < n && performance.now() < deadline) {
      started++;
      const r = await once();
      if (r.ok) times.push(r.ms);
      else {
        failures++;
        firstFailure ??= r.detail ?? 'failed';
      }
    }
  };
  await Promise.all(Array.from({ length: parallel }, lane));
  const elapsedMs = performance.now() - t0;
  return { times, failures, firstFailure, elapsedMs, cpuMs: cpuMs() - cpu0, completed: times.length + failures, perSecond: ((times.length + failures) / elapsedMs) * 1000, truncated: started < n };
}

/** A loop() of a reference variant, checking that each run printed "hi". */
export function loopVariant(variant, opts) {
  return loop(async () => {
    const r = await timedSpawn(variant.argv, variant.cwd);
    const ok = r.code === 0 && r.stdout === EXPECTED;
    return { ms: r.ms, ok, detail: ok ? null : `exit ${r.code}: ${(r.stderr || r.stdout).slice(0, 200)}` };
  }, opts);
}
