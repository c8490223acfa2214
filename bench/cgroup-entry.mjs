// What entering a cgroup costs a new process, against how long the machine was idle before: the
// launcher's phase child enters its execution's cgroups once per run (native/limits.c). A write to
// cgroup.procs (a migration; cgroup v1, and v2 before Linux 5.7) takes cgroup_threadgroup_rwsem
// for writing, which waits for an RCU grace period when no migration happened during the last one,
// unless the cgroup2 mount has favordynmods; clone3 with CLONE_INTO_CGROUP (v2) needs no migration.
// Each mode runs at each gap, in the same invocation (bench/native/cgroup-entry.c).
//
//   node bench/cgroup-entry.mjs [--short] [--n=RUNS] [--gaps=0,20,100]
//
// Needs root (it makes a cgroup of its own: under the memory hierarchy on v1, at the top on v2).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { parseArgs, isMain } from './lib/args.mjs';
import { summarize, fmt } from './lib/stats.mjs';
import { runStandalone } from './lib/report.mjs';
import { nativeTool, parseLine } from './lib/native.mjs';

export async function main(opts) {
  const runs = opts.n ?? (opts.short ? 10 : 40);
  const gaps = (typeof opts.extra?.gaps === 'string' ? opts.extra.gaps : '0,20,100').split(',').map(Number);
  if (process.geteuid?.() !== 0) throw new Error('needs root: it creates a cgroup');
  const v2 = fs.existsSync('/sys/fs/cgroup/cgroup.controllers');
  const dir = v2 ? `/sys/fs/cgroup/codexec-bench-entry-${process.pid}` : `/sys/fs/cgroup/memory/codexec-bench-entry-${process.pid}`;
  const favored = fs.readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => / cgroup2 /.test(l) && /[ ,]favordynmods[ ,]/.test(l));
  const modes = v2 ? ['join', 'clone3'] : ['join'];
  const rows = [];
  const at = {};
  for (const gap of gaps) {
    for (const mode of modes) {
      const r = spawnSync(nativeTool('cgroup-entry'), [mode, String(gap), String(runs), dir], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`cgroup-entry ${mode}: ${r.stderr}`);
      const s = summarize(r.stdout.split('\n').filter(Boolean).map((l) => parseLine(l).us / 1000));
      at[`${mode}@${gap}`] = s;
      rows.push([mode === 'join' ? 'fork + write cgroup.procs (a migration)' : 'clone3 CLONE_INTO_CGROUP', gap, s.n, s.median, s.p90, s.max]);
    }
  }
  const last = gaps[gaps.length - 1];
  const first = gaps[0];
  const targets = modes.map((mode) => ({
    target: `${mode}: entry after ${last} ms idle (no target: the launcher's cost per run)`,
    measured: `${fmt(at[`${mode}@${last}`].median)} ms median`,
    baseline: `${fmt(at[`${mode}@${first}`].median)} ms after ${first} ms idle`,
    met: null,
  }));
  return {
    name: 'Entering a cgroup after idle (bench/native/cgroup-entry.c)',
    command: `node bench/cgroup-entry.mjs${opts.short ? ' --short' : ''}${opts.n ? ` --n=${opts.n}` : ''}`,
    tables: [{ title: `fork -> reaped, ms (cgroup ${v2 ? 'v2' : 'v1'}; favordynmods ${favored ? 'on' : 'off'} per /proc/mounts)`, headers: ['how', 'idle gap ms', 'n', 'median', 'p90', 'max'], rows }],
    targets,
    notes: [`${runs} runs per row; the child exits at once, so the figure is fork, entry, exit and reaping.`, 'favordynmods can outlive its mount option: on this 6.18 kernel it stayed in force after a remount without it (until reboot), so /proc/mounts may say off on a host that still has it.'],
  };
}

if (isMain(import.meta.url)) runStandalone(main, parseArgs());
