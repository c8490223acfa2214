// The machine header every result is recorded with: date, cores, CPU, kernel, cgroup version,
// node, commit, load average. `node bench/machine.mjs` prints it (add --markdown for RESULTS.md).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { isMain } from './lib/args.mjs';

function cgroupVersion() {
  try {
    const mounts = fs.readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' '));
    const v1 = mounts.some((m) => m[2] === 'cgroup');
    const v2 = mounts.some((m) => m[2] === 'cgroup2');
    if (v1 && v2) return '1 (hybrid: v1 controllers, v2 unified mount)';
    if (v1) return '1';
    if (v2) return '2';
    return 'none';
  } catch {
    return 'unknown';
  }
}

function commit() {
  const other = process.env.CODEXEC_BENCH_ROOT;
  if (other) {
    try {
      return `${fs.readFileSync(path.join(other, '.bench-commit'), 'utf8').trim()} at ${other}`;
    } catch {
      return `unknown (CODEXEC_BENCH_ROOT=${other})`;
    }
  }
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return dirty ? `${head} (with uncommitted changes)` : head;
  } catch {
    return 'unknown';
  }
}

function pythonVersion() {
  try {
    return execFileSync('/usr/bin/python3', ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    return 'missing';
  }
}

export function machineInfo() {
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    cores: os.availableParallelism(),
    cpu: cpus[0]?.model?.trim() ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: os.release(),
    cgroup: cgroupVersion(),
    node: process.version,
    python: pythonVersion(),
    commit: commit(),
    loadavg: os.loadavg().map((l) => l.toFixed(2)).join(' '),
  };
}

/** The load average now, and whether it is high enough (over half the cores) to skew figures. */
export function loadNow() {
  const avg = os.loadavg();
  return { text: avg.map((l) => l.toFixed(2)).join(' '), busy: avg[0] > os.availableParallelism() * 0.5 };
}

/** Load average as a line, to print before and after a benchmark (a busy machine skews everything). */
export function loadLine() {
  const l = loadNow();
  return `load average ${l.text} on ${os.availableParallelism()} cores${l.busy ? '  <- NOT idle: figures are pessimistic' : ''}`;
}

export function machineHeader(info = machineInfo()) {
  return [
    `date     ${info.date}`,
    `machine  ${info.cores} cores, ${info.cpu}, ${info.memoryGiB} GiB`,
    `kernel   ${info.kernel}; cgroup v${info.cgroup}`,
    `runtime  node ${info.node}; ${info.python}`,
    `commit   ${info.commit}`,
    `load     ${info.loadavg}`,
  ].join('\n');
}

export function machineMarkdown(info = machineInfo()) {
  return [
    `- Date: ${info.date}`,
    `- Machine: ${info.cores} cores (${info.cpu}), ${info.memoryGiB} GiB RAM`,
    `- Kernel: ${info.kernel} (\`uname -r\`); cgroup v${info.cgroup}`,
    `- Node ${info.node}; ${info.python} (/usr/bin/python3)`,
    `- Commit: ${info.commit} (\`git rev-parse --short HEAD\`)`,
    `- Load average at start (1, 5, 15 min): ${info.loadavg}`,
  ].join('\n');
}

if (isMain(import.meta.url)) {
  console.log(process.argv.includes('--markdown') ? machineMarkdown() : machineHeader());
}
