// What child_process.spawn costs as the spawning process grows. libuv forks (a full fork, not
// vfork) and blocks the calling thread until the child has exec'd, so the page tables of the whole
// process (every thread's heap) are copied, and the parent then takes copy-on-write faults.
//
//   node bench/profile/fork-cost.mjs [COUNT=200]
//
// Spawns a static binary that exits at once (the codexec launcher with a bad argument) with
// 0, 100 and 300 MiB of touched heap ballast; reports wall per spawn and how long spawn() itself
// blocked the thread.
import { spawn } from 'node:child_process';
import { importDist } from '../lib/sandbox.mjs';
import { summarize, table } from '../lib/stats.mjs';

const n = Number(process.argv[2] ?? 200);
if (!Number.isInteger(n) || n <= 0 || n > 10_000) throw new Error('usage: fork-cost.mjs [COUNT]');
const { defaultLauncherPath } = await importDist('sandbox/host.js');
const launcher = defaultLauncherPath();

function once() {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const c = spawn(launcher, ['--bogus'], { stdio: ['ignore', 'ignore', 'ignore'] });
    const blocked = performance.now() - t0;
    c.on('close', () => resolve({ wall: performance.now() - t0, blocked }));
  });
}

const ballast = [];
const rows = [];
for (const mib of [0, 100, 300]) {
  while (ballast.length < mib) {
    // 1 MiB of small objects in the V8 heap (what a server's heap looks like), touched.
    const chunk = [];
    for (let i = 0; i < 16_384; i++) chunk.push({ a: i, b: `x${i}` });
    ballast.push(chunk);
  }
  for (let i = 0; i < 10; i++) await once();
  const wall = [];
  const blocked = [];
  for (let i = 0; i < n; i++) {
    const r = await once();
    wall.push(r.wall);
    blocked.push(r.blocked);
  }
  const rss = process.memoryUsage().rss / 2 ** 20;
  const w = summarize(wall);
  const b = summarize(blocked);
  rows.push([`+${mib} MiB ballast`, Math.round(rss), w.median, w.p90, b.median, b.p90]);
}
console.log(table(['spawning process', 'RSS MiB', 'wall median ms', 'wall p90', 'spawn() blocked median ms', 'blocked p90'], rows));
