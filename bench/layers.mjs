// The fork server's own cost, layer by layer: the layer ladder (bench/native/layers.c) starts
// `python3 -I -B main.py` with the sandbox's layers built as native/launcher.c builds them, adding
// one at a time in the launcher's order, then a few alternatives to the full set (the levers of
// issue 14 and the suspects for the program's extra CPU), all sets taking turns run by run.
//
//   node bench/layers.mjs [--short] [--n=100]
//
// Read: "setup" is clone -> the program's execve (what the layers cost before the program runs);
// "prog CPU" is the program's own CPU after execve (the layers must not slow it down); "pre-exec
// wall" is the program's process from fork to execve (the cgroup join waits there); "teardown" is
// the program reaped -> init reaped (namespaces and cgroup removed). Every set runs the same
// environment (codexec's, for python) as uid 200000 when `uid` is on, root otherwise.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs, isMain } from './lib/args.mjs';
import { summarize, fmt, ratio } from './lib/stats.mjs';
import { runStandalone } from './lib/report.mjs';
import { helloDir, PYTHON, EXPECTED } from './lib/spawn.mjs';
import { ladder, buildDir } from './lib/native.mjs';
import { importDist, root } from './lib/sandbox.mjs';

const NS = ['pidns', 'mntns', 'netns', 'ipcns', 'utsns'];
const CG = ['cgroup', 'cpuquota', 'lowshares'];
const FULL = ['fork', ...NS, 'mounts', 'hidepid', ...CG, 'rlimits', 'nice', 'setsid', 'uid', 'seccomp'];
const without = (...drop) => FULL.filter((l) => !drop.includes(l));

/** Cumulative steps in the launcher's order, then alternatives to the full set. */
export const SETS = [
  { name: 'raw (one fork + exec)', layers: [], step: true },
  { name: '+ init forks the program', layers: ['fork'], step: true },
  { name: '+ pid namespace', layers: ['fork', 'pidns'], step: true },
  { name: '+ mount, ipc, uts namespaces', layers: ['fork', 'pidns', 'mntns', 'ipcns', 'utsns'], step: true },
  { name: '+ net namespace', layers: ['fork', ...NS], step: true },
  { name: '+ mounts (root, binds, /dev, /proc hidepid)', layers: ['fork', ...NS, 'mounts', 'hidepid'], step: true },
  { name: '+ cgroup per run (5 v1 hierarchies, quota, low shares)', layers: ['fork', ...NS, 'mounts', 'hidepid', ...CG], step: true },
  { name: '+ rlimits, nice 10, setsid', layers: ['fork', ...NS, 'mounts', 'hidepid', ...CG, 'rlimits', 'nice', 'setsid'], step: true },
  { name: '+ uid drop, capabilities, no_new_privs', layers: without('seccomp'), step: true },
  { name: '+ seccomp (codexec filter) = codexec', layers: FULL, step: true },
  { name: 'codexec, cgroup reused (made once)', layers: [...FULL, 'cgreuse'] },
  { name: 'codexec, cgroup joined in memory+pids only', layers: [...FULL, 'cg-memory', 'cg-pids'] },
  { name: 'codexec without cgroup', layers: without(...CG) },
  { name: 'codexec without nice', layers: without('nice') },
  { name: 'codexec without low cpu shares', layers: without('lowshares') },
  { name: 'codexec without cpu quota', layers: without('cpuquota') },
  { name: 'codexec, /proc without hidepid', layers: without('hidepid') },
  { name: 'codexec, one recursive bind of a prepared root', layers: [...without('mounts'), 'onebind'] },
  { name: 'codexec, seccomp: one-instruction filter', layers: [...without('seccomp'), 'seccomp1'] },
  { name: 'codexec, seccomp with SPEC_ALLOW', layers: [...FULL, 'specallow'] },
];

export async function main(opts) {
  const n = opts.n ?? (opts.short ? 4 : 100);
  const notes = [];
  const { BASE_BINDS, BASE_ENV } = await importDist('sandbox/spec.js');
  const { loadSeccompProfile } = await importDist('sandbox/seccomp/index.js');
  const { defaultProfilesDir } = await importDist('languages/registry.js');
  const profileDir = path.join(root, 'sandbox-profiles', 'languages');
  const python = JSON.parse(fs.readFileSync(path.join(profileDir, 'python.json'), 'utf8'));
  const filter = (await loadSeccompProfile(defaultProfilesDir(), python.seccomp ?? 'default')).filter;
  fs.mkdirSync(buildDir, { recursive: true });
  const seccompFile = path.join(buildDir, 'seccomp-python.bin');
  fs.writeFileSync(seccompFile, filter);
  const env = { ...BASE_ENV, ...(python.env ?? {}) };
  const dir = helloDir();
  let res;
  try {
    res = await ladder(SETS.map((s) => s.layers), [PYTHON, ...python.run.command.slice(1)], {
      runs: n,
      warmup: opts.short ? 1 : 3,
      cwd: dir,
      file: { name: python.sourceFile, path: path.join(dir, 'main.py') },
      ro: [...BASE_BINDS, ...(python.binds ?? [])],
      seccompFile,
      uid: 200_000,
      env,
      expect: EXPECTED,
      timeoutMs: 3_600_000,
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  if (res.failed) notes.push(`${res.failed} runs failed: ${res.stderr.slice(0, 300)}`);
  const med = (rows, k) => summarize(rows.map((r) => r[k])).median;
  const mean = (rows, k) => rows.reduce((a, r) => a + r[k], 0) / (rows.length || 1);
  const raw = res.bySet[0];
  const rawCpu = med(raw, 'prog_cpu');
  const rawWall = med(raw, 'wall');
  const rows = [];
  let prev = null;
  SETS.forEach((s, i) => {
    const r = res.bySet[i];
    const setup = med(r, 'setup');
    const wall = med(r, 'wall');
    rows.push([
      s.name,
      r.length,
      wall,
      s.step && prev !== null ? `${wall - prev >= 0 ? '+' : ''}${fmt(wall - prev)}` : '',
      setup,
      med(r, 'pre_exec_wall'),
      med(r, 'phase_wall'),
      med(r, 'prog_cpu'),
      ratio(med(r, 'prog_cpu') / rawCpu),
      med(r, 'teardown'),
      mean(r, 'parent_cpu') + mean(r, 'init_cpu') + mean(r, 'pre_exec_cpu'),
      mean(r, 'machine_busy'),
      med(r, 'minflt'),
    ]);
    if (s.step) prev = wall;
  });
  const full = res.bySet[SETS.findIndex((s) => s.layers === FULL)];
  const fullWall = med(full, 'wall');
  notes.push(`${n} runs per set, all ${SETS.length} sets taking turns run by run; medians except the CPU-per-run columns (means). "layers CPU" = this process + init + the program before execve, per run (cgroup files, clone, mounts, setup calls); "machine CPU" = /proc/stat busy time during the run (10 ms ticks; includes other tenants, so only differences between sets on a quiet machine mean much; it also catches kernel work charged to no process, e.g. network-namespace and cgroup teardown).`);
  notes.push('The ladder builds the layers as native/launcher.c did at the commit measured (kept in step by hand); codexec itself adds the Node side (request, pipes, outcome) on top: compare with bench/sandbox-overhead.mjs.');
  return {
    name: 'The sandbox layer by layer (bench/native/layers.c)',
    command: `node bench/layers.mjs${opts.short ? ' --short' : ''}${opts.n ? ` --n=${opts.n}` : ''}`,
    tables: [
      {
        title: 'ms per run (python3 -I -B main.py printing "hi")',
        headers: ['layers', 'n', 'wall', 'step', 'setup', 'pre-exec wall', 'phase wall', 'prog CPU', 'x raw CPU', 'teardown', 'layers CPU', 'machine CPU', 'page faults'],
        rows,
      },
    ],
    targets: [
      {
        target: 'distance to the physical limit (all layers, C, no Node)',
        measured: `${fmt(fullWall)} ms vs ${fmt(rawWall)} ms = ${fmt(fullWall / rawWall, 2)}x wall; program CPU ${fmt(med(full, 'prog_cpu'))} vs ${fmt(rawCpu)} ms = ${fmt(med(full, 'prog_cpu') / rawCpu, 2)}x`,
        baseline: 'raw row of the same ladder (one fork + exec from a small C process)',
        met: null,
      },
    ],
    notes,
    failed: res.failed > 0,
  };
}

if (isMain(import.meta.url)) await runStandalone(main, parseArgs());
