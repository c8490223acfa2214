// The spawn chain of a sandboxed run, segment by segment, from strace timestamps over COUNT runs:
//
//   node bench/profile/chain-timeline.mjs [COUNT=50]
//
// Runs bench/profile/sandbox-loop.mjs under `strace -f --seccomp-bpf -ttt` tracing only the
// calls that mark the chain (clone, execve, unshare, pivot_root, seccomp, wait4, exit_group), so
// the tracer stops the processes as rarely as possible; ptrace still adds some tens of µs per
// traced call. Reports min and median of each segment: on a busy machine the minimum is the best
// estimate of the unloaded cost.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { summarize, table } from '../lib/stats.mjs';

const n = Number(process.argv[2] ?? 50);
if (!Number.isInteger(n) || n <= 0 || n > 2000) throw new Error('usage: chain-timeline.mjs [COUNT]');
const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'codexec-strace-')), 'trace.txt');
const r = spawnSync(
  'strace',
  ['-f', '--seccomp-bpf', '-ttt', '-qq', '-e', 'trace=clone,clone3,execve,unshare,pivot_root,seccomp,wait4,exit_group', '-e', 'signal=none', '-o', out, process.execPath, path.join(here, 'sandbox-loop.mjs'), String(n)],
  { stdio: 'inherit' },
);
if (r.status !== 0) throw new Error(`strace failed (${r.status}); is strace installed?`);
const lines = fs.readFileSync(out, 'utf8').split('\n');
fs.rmSync(path.dirname(out), { recursive: true, force: true });

// pid, time, rest
const ev = [];
for (const line of lines) {
  const m = /^(\d+)\s+(\d+\.\d+)\s+(.*)$/.exec(line);
  if (m) ev.push({ pid: Number(m[1]), t: Number(m[2]) * 1000, text: m[3] });
}
// One chain per execve of unshare: follow its pid and its children.
const segments = new Map();
const add = (name, ms) => {
  if (!(ms >= 0)) return;
  if (!segments.has(name)) segments.set(name, []);
  segments.get(name).push(ms);
};
const nodePid = ev[0]?.pid;
for (let i = 0; i < ev.length; i++) {
  const e = ev[i];
  if (!e.text.startsWith('execve("/usr/bin/unshare"') && !e.text.startsWith('execve("/bin/unshare"')) continue;
  const outer = e.pid;
  // The clone in the node process that created `outer` (its return value is the pid).
  const cloneEv = ev.slice(0, i).reverse().find((x) => /^clone3?\(/.test(x.text) && new RegExp(`= ${outer}$`).test(x.text));
  const find = (from, pred) => ev.slice(from).find(pred);
  const launcherExec = find(i + 1, (x) => x.pid === outer && x.text.includes('codexec-launcher'));
  const unshareCall = find(i + 1, (x) => x.pid === outer && x.text.startsWith('unshare('));
  const initClone = find(i + 1, (x) => x.pid === outer && /^clone3?\(/.test(x.text));
  const initPid = Number(/= (\d+)$/.exec(initClone?.text ?? '')?.[1]);
  const pivot = find(i + 1, (x) => x.pid === initPid && x.text.startsWith('pivot_root('));
  const phaseClone = find(i + 1, (x) => x.pid === initPid && /^clone3?\(/.test(x.text));
  const phasePid = Number(/= (\d+)$/.exec(phaseClone?.text ?? '')?.[1]);
  // The phase child's pid is as seen from outside the pid namespace; strace reports host pids.
  const seccomp = find(i + 1, (x) => x.text.startsWith('seccomp(') && x.pid !== initPid && x.pid !== outer);
  const progExec = find(i + 1, (x) => x.text.startsWith('execve("/usr/bin/python3"') && x.pid !== outer);
  const progPid = progExec?.pid;
  const progExit = find(i + 1, (x) => x.pid === progPid && x.text.startsWith('exit_group('));
  const initExit = find(i + 1, (x) => x.pid === initPid && x.text.startsWith('exit_group('));
  const outerExit = find(i + 1, (x) => x.pid === outer && x.text.startsWith('exit_group('));
  const reaped = find(i + 1, (x) => x.pid === nodePid && x.text.startsWith('wait4(') && x.text.includes(`= ${outer}`));
  if (!cloneEv || !launcherExec || !progExec || !progExit || !reaped) continue;
  void phasePid;
  add('1 node fork -> unshare exec', e.t - cloneEv.t);
  add('2 unshare exec -> unshare(2) done', unshareCall.t - e.t);
  add('3 unshare(2) -> launcher exec', launcherExec.t - unshareCall.t);
  add('4 launcher exec -> init forked (args, PDEATHSIG, fork)', initClone.t - launcherExec.t);
  add('5 init forked -> pivot_root (mounts, input read, source written)', pivot.t - initClone.t);
  add('6 pivot_root -> phase child forked', phaseClone.t - pivot.t);
  add('7 phase fork -> seccomp (cgroup join, rlimits, uid drop)', seccomp.t - phaseClone.t);
  add('8 seccomp -> python exec', progExec.t - seccomp.t);
  add('9 python exec -> python exit_group', progExit.t - progExec.t);
  add('10 python exit -> init exit (reap, status)', initExit.t - progExit.t);
  add('11 init exit -> outer launcher exit', outerExit.t - initExit.t);
  add('12 outer exit -> node wait4 reaped it', reaped.t - outerExit.t);
  add('total: node fork -> reaped', reaped.t - cloneEv.t);
  add('overhead: total minus python exec->exit', reaped.t - cloneEv.t - (progExit.t - progExec.t));
}
const rows = [...segments].sort((a, b) => parseInt(a[0]) - parseInt(b[0]) || a[0].localeCompare(b[0])).map(([name, xs]) => {
  const s = summarize(xs);
  return [name, s.n, s.min, s.median, s.p90];
});
console.log(table(['segment (ms, strace timestamps)', 'n', 'min', 'median', 'p90'], rows));
