import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';

// The reference runs: the interpreter started directly, under util-linux unshare, under bubblewrap
// and under isolate (when installed), each started by the raw C spawner (lib/native.mjs), never by
// Node: Node's spawn forks the whole Node process first, which is what made the old baselines slow.

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

/** The program's environment in every reference variant (the spawner's default too). */
export const RAW_ENV = { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8' };

/**
 * argv of each reference variant, to start with the raw spawner; { name, missing } when the tool is
 * not installed here. All run `python3 -I -B main.py` in `dir`.
 */
export function referenceVariants(dir) {
  const py = [PYTHON, '-I', '-B', 'main.py'];
  const unshare = which('unshare');
  const bwrap = which('bwrap');
  const isolate = which('isolate');
  const variants = [{ name: 'raw python', argv: py, cwd: dir }];
  if (unshare) {
    // The five namespaces codexec creates; --fork so that python is pid 1's child as in a sandbox.
    variants.push({ name: 'unshare --fork pid,mnt,net,ipc,uts', argv: [unshare, '--fork', '--pid', '--mount', '--net', '--ipc', '--uts', '--', ...py], cwd: dir });
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
      // bwrap's outer process learns the exit code through an eventfd and exits without reaping its
      // pid-1 child, so the program's CPU never reaches wait4's rusage: not measurable this way.
      cpuUnknown: true,
      argv: [bwrap, '--unshare-all', '--die-with-parent', ...roBinds, '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp', '--ro-bind', dir, '/work', '--chdir', '/work', '--', ...py],
      cwd: dir,
    });
  } else variants.push({ name: 'bwrap', missing: 'bubblewrap not installed (apt-get install bubblewrap)' });
  if (isolate) {
    // isolate needs a box initialised first (isolate --init); the box's directory is its cwd.
    variants.push({ name: 'isolate', isolate, argv: null, cwd: dir });
  } else variants.push({ name: 'isolate', missing: 'isolate not installed (not packaged in Debian 12; build from github.com/ioi/isolate)' });
  return variants;
}

/**
 * Prepares the isolate variant (box 0 initialised, main.py copied in); returns its argv and a
 * cleanup, or null with the reason when isolate cannot run here.
 */
export function prepareIsolate(variant, dir) {
  const init = spawnSync(variant.isolate, ['--cg', '--box-id=7', '--init'], { encoding: 'utf8' });
  if (init.status !== 0) return { missing: `isolate --init failed: ${init.stderr.trim().slice(0, 200)}` };
  const box = path.join(init.stdout.trim(), 'box');
  fs.copyFileSync(path.join(dir, 'main.py'), path.join(box, 'main.py'));
  return {
    argv: [variant.isolate, '--cg', '--box-id=7', '--processes=64', '--cg-mem=262144', '--env=PATH=/usr/bin:/bin', '--env=LANG=C.UTF-8', '--run', '--', PYTHON, '-I', '-B', 'main.py'],
    cleanup: () => spawnSync(variant.isolate, ['--cg', '--box-id=7', '--cleanup']),
  };
}

/**
 * Not a baseline (it forks this Node process): the spawn a Node program would do, kept for the
 * profiling scripts in bench/profile/ that measure exactly that.
 */
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
