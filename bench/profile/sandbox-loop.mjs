// N sequential runInSandbox calls of print("hi"), for profilers:
//   node --cpu-prof --cpu-prof-dir=/tmp/prof bench/profile/sandbox-loop.mjs 200
//   strace -f -tt -e trace=execve,clone,clone3,mount,pivot_root,wait4,exit_group -o /tmp/st node bench/profile/sandbox-loop.mjs 1
import fs from 'node:fs';
import { openSandbox } from '../lib/sandbox.mjs';
import { summarize, fmt } from '../lib/stats.mjs';
import { HELLO, EXPECTED, helloDir, referenceVariants, timedSpawn } from '../lib/spawn.mjs';

// --raw: spawn /usr/bin/python3 -I -B main.py directly instead (the reference, same loop).
// --ballast=MIB: first fill the heap with MIB MiB of small objects, to see what a larger spawning
// process (the serve process is ~130-150 MiB) costs each spawn (fork copies its page tables).
const raw = process.argv.includes('--raw');
const ballastMiB = Number(process.argv.find((a) => a.startsWith('--ballast='))?.slice(10) ?? 0);
const ballast = [];
for (let m = 0; m < ballastMiB; m++) {
  const chunk = [];
  for (let i = 0; i < 16_384; i++) chunk.push({ a: i, b: `x${i}` });
  ballast.push(chunk);
}
const n = Number(process.argv.slice(2).find((a) => !a.startsWith('--')) ?? 200);
if (!Number.isInteger(n) || n <= 0 || n > 100_000) throw new Error('usage: sandbox-loop.mjs [COUNT] [--raw]');
const sandbox = raw ? rawRunner() : await openSandbox();

function rawRunner() {
  const dir = helloDir();
  const v = referenceVariants(dir)[0];
  return {
    async run() {
      const r = await timedSpawn(v.argv, v.cwd);
      return { ms: r.ms, outcome: { kind: r.code === 0 ? 'completed' : 'failed', stdout: r.stdout, executionTimeMs: r.ms } };
    },
    async close() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
const times = [];
const inner = [];
let bad = 0;
try {
  for (let i = 0; i < n; i++) {
    const r = await sandbox.run(HELLO);
    if (r.outcome.kind !== 'completed' || r.outcome.stdout !== EXPECTED) bad++;
    times.push(r.ms);
    inner.push(r.outcome.executionTimeMs);
  }
} finally {
  await sandbox.close();
}
const s = summarize(times);
const p = summarize(inner);
console.log(`${raw ? 'raw python' : 'runInSandbox'}, RSS ${Math.round(process.memoryUsage().rss / 2 ** 20)} MiB (ballast ${ballast.length} MiB): ${n} runs: wall median ${fmt(s.median)} ms, p90 ${fmt(s.p90)}, p99 ${fmt(s.p99)}; launcher-reported program wall median ${fmt(p.median)} ms; ${bad} bad`);
