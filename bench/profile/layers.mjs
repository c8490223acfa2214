// Peels the sandboxed run into layers, each timed as a median over interleaved rounds, so that the
// difference between two rows is the cost of one layer:
//
//   node bench/profile/layers.mjs [COUNT=100]
//
// Rows (all spawned with child_process.spawn unless said otherwise, wall = spawn to close):
//   spawn static launcher, exits at once   exec floor of a static binary
//   unshare (no namespaces) -- launcher    + one exec of util-linux unshare (dynamic binary)
//   unshare --net -- launcher              + a network namespace
//   unshare pid,mnt,net,ipc,uts -- launcher + all five namespaces
//   raw python                             the interpreter alone
//   chain: no cgroups, no seccomp          unshare + launcher (mounts, init, uid drop) + python
//   chain: + seccomp                       + the seccomp filter
//   chain: + cgroups                       + cgroup create/limit/join/stats/remove (direct fs ops)
//   runInSandbox (execa)                   codexec as it is (execa, cleanup handlers, outcome)
//   execa python (run.ts options)          execa alone, to compare with raw python
//   cgroup create+remove only              no process at all
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { execa } from 'execa';
import { importDist, openSandbox } from '../lib/sandbox.mjs';
import { summarize, fmt, table } from '../lib/stats.mjs';
import { PYTHON, HELLO, EXPECTED, helloDir, which, cpuMs } from '../lib/spawn.mjs';

const n = Number(process.argv[2] ?? 100);
if (!Number.isInteger(n) || n <= 0 || n > 10_000) throw new Error('usage: layers.mjs [COUNT]');

const { buildSandboxCommand, encodeLauncherInput, FD } = await importDist('sandbox/command.js');
const { loadSeccompProfile } = await importDist('sandbox/seccomp/index.js');
const { defaultLauncherPath } = await importDist('sandbox/host.js');
const { loadConfig } = await importDist('config/load.js');
const { detectCgroups, createExecutionGroup, releaseWorkerDir } = await importDist('sandbox/cgroups/index.js');
const { defaultProfilesDir } = await importDist('languages/registry.js');

const sandbox = await openSandbox();
const profile = sandbox.profile;
const launcher = defaultLauncherPath();
const unshare = which('unshare');
const filter = (await loadSeccompProfile(defaultProfilesDir(), profile.seccomp)).filter;
const cg = detectCgroups({ parent: sandbox.report ? undefined : undefined });
const dir = helloDir();
const limits = profile.limits.default;
let seq = 0;

/** spawn with the launcher's six descriptors; feeds `input` on fd 3; resolves { ms, stdout, code }. */
function spawn6(file, args, input) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe', 'pipe', 'pipe', 'pipe'], env: {} });
    const out = [];
    child.stdout.on('data', (c) => out.push(c));
    for (const i of [2, 4, 5]) child.stdio[i].on('data', () => {});
    for (const i of [0, 3]) child.stdio[i].on('error', () => {});
    child.stdio[3].end(input ?? Buffer.alloc(0));
    child.stdin.end();
    child.on('close', (code) => resolve({ ms: performance.now() - t0, stdout: Buffer.concat(out).toString(), code }));
  });
}

function chainArgs({ seccomp, cgroupProcs }) {
  return buildSandboxCommand({
    unsharePath: unshare,
    launcherPath: launcher,
    uid: 200_000 + (seq % 60_000),
    gid: 200_000 + (seq % 60_000),
    binds: profile.binds,
    env: profile.env,
    tmpfsBytes: limits.tmpfsBytes,
    phases: [{ name: 'run', argv: profile.run.argv, limits, cgroupProcs }],
    seccomp,
  });
}

const input = (withFilter) => encodeLauncherInput([{ name: profile.sourceFile, content: HELLO }], withFilter ? filter : null);

async function chain({ seccomp, cgroups }) {
  seq++;
  let group = null;
  const t0 = performance.now();
  if (cgroups) group = createExecutionGroup(cg, `layers${process.pid}-${seq}`, { memoryBytes: limits.memoryBytes, processes: limits.processes, cpuQuotaPercent: 100 });
  const cmd = chainArgs({ seccomp, cgroupProcs: group ? group.procsPaths : [] });
  const r = await spawn6(cmd.file, cmd.args, input(seccomp));
  if (group) {
    group.stats();
    await group.kill();
    await group.remove();
  }
  return { ms: performance.now() - t0, ok: r.stdout === EXPECTED, detail: r };
}

const layers = [
  ['spawn static launcher, exits at once', async () => ({ ...(await spawn6(launcher, ['--bogus'])), ok: true })],
  ['unshare (no namespaces) -- launcher', async () => ({ ...(await spawn6(unshare, ['--', launcher, '--bogus'])), ok: true })],
  ['unshare --net -- launcher', async () => ({ ...(await spawn6(unshare, ['--net', '--', launcher, '--bogus'])), ok: true })],
  ['unshare pid,mnt,net,ipc,uts -- launcher', async () => ({ ...(await spawn6(unshare, ['--pid', '--mount', '--net', '--ipc', '--uts', '--', launcher, '--bogus'])), ok: true })],
  [
    'raw python',
    () =>
      new Promise((resolve) => {
        const t0 = performance.now();
        const c = spawn(PYTHON, ['-I', '-B', 'main.py'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: {} });
        const out = [];
        c.stdout.on('data', (d) => out.push(d));
        c.on('close', () => resolve({ ms: performance.now() - t0, ok: Buffer.concat(out).toString() === EXPECTED }));
      }),
  ],
  ['chain: no cgroups, no seccomp', () => chain({ seccomp: false, cgroups: false })],
  ['chain: + seccomp', () => chain({ seccomp: true, cgroups: false })],
  ['chain: + seccomp + cgroups', () => chain({ seccomp: true, cgroups: true })],
  [
    'runInSandbox (execa)',
    async () => {
      const r = await sandbox.run(HELLO);
      return { ms: r.ms, ok: r.outcome.stdout === EXPECTED };
    },
  ],
  [
    'execa python (run.ts options, 6 fds, cleanup)',
    async () => {
      const t0 = performance.now();
      const r = await execa(PYTHON, ['-I', '-B', 'main.py'], {
        cwd: dir,
        stdio: ['pipe', 'pipe', 'pipe', 'pipe', 'pipe', 'pipe'],
        extendEnv: false,
        env: {},
        reject: false,
        encoding: 'buffer',
        stripFinalNewline: false,
        killSignal: 'SIGKILL',
        forceKillAfterDelay: false,
        cleanup: true,
      });
      return { ms: performance.now() - t0, ok: Buffer.from(r.stdout).toString() === EXPECTED };
    },
  ],
  [
    'execa python, cleanup: false',
    async () => {
      const t0 = performance.now();
      const r = await execa(PYTHON, ['-I', '-B', 'main.py'], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe', 'pipe', 'pipe', 'pipe'], extendEnv: false, env: {}, reject: false, encoding: 'buffer', stripFinalNewline: false, cleanup: false });
      return { ms: performance.now() - t0, ok: Buffer.from(r.stdout).toString() === EXPECTED };
    },
  ],
  [
    'cgroup create+limits+stats+remove only',
    async () => {
      seq++;
      const t0 = performance.now();
      const g = createExecutionGroup(cg, `layers${process.pid}-${seq}`, { memoryBytes: limits.memoryBytes, processes: limits.processes, cpuQuotaPercent: 100 });
      g.stats();
      await g.kill();
      await g.remove();
      return { ms: performance.now() - t0, ok: true };
    },
  ],
];

const times = new Map(layers.map(([name]) => [name, []]));
const bad = new Map(layers.map(([name]) => [name, 0]));
const cpu = new Map(layers.map(([name]) => [name, 0]));
const rounds = 5;
try {
  for (const [, f] of layers) for (let i = 0; i < 3; i++) await f(); // warm-up
  for (let r = 0; r < rounds; r++) {
    for (const [name, f] of layers) {
      const c0 = cpuMs();
      for (let i = 0; i < Math.ceil(n / rounds); i++) {
        const x = await f();
        if (x.ok) times.get(name).push(x.ms);
        else bad.set(name, bad.get(name) + 1);
      }
      cpu.set(name, cpu.get(name) + cpuMs() - c0);
    }
  }
} finally {
  await sandbox.close();
  await releaseWorkerDir(cg).catch(() => {});
  fs.rmSync(dir, { recursive: true, force: true });
}
const rows = layers.map(([name]) => {
  const s = summarize(times.get(name));
  return [name, s.n, s.median, s.p90, s.mean, cpu.get(name) / (s.n + bad.get(name)), bad.get(name)];
});
console.log(table(['layer', 'n', 'median ms', 'p90 ms', 'mean ms', 'CPU ms/run', 'bad'], rows));
void FD;
void fmt;
