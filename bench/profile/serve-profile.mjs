// CPU profile of a real `codexec serve` (main thread and each pool thread) while it serves
// COUNT sequential runs (latency path), then COUNT runs from 16 clients at once (throughput path):
//
//   node bench/profile/serve-profile.mjs [COUNT=200] [OUT_DIR=/tmp/codexec-serve-prof]
//   node bench/profile/summarize-cpuprofile.mjs OUT_DIR/<file>.cpuprofile
//
// Also prints where the wall time of one sequential run goes, from the execution's timestamps.
import fs from 'node:fs';
import { startServer, createSessions, TERMINAL, sleep } from '../lib/server.mjs';
import { summarize, fmt, table } from '../lib/stats.mjs';
import { HELLO } from '../lib/spawn.mjs';

const n = Number(process.argv[2] ?? 200);
const out = process.argv[3] ?? '/tmp/codexec-serve-prof';
if (!Number.isInteger(n) || n <= 0 || n > 20_000) throw new Error('usage: serve-profile.mjs [COUNT] [OUT_DIR]');
fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });

const spawnedAt = performance.now();
const server = await startServer({
  env: { CODEXEC_RATE_LIMIT_RUNS_PER_MINUTE: '0' },
  nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${out}`, '--cpu-prof-interval=250'],
});
const c = server.client;
const parts = { post: [], queue: [], run: [], afterFinish: [], e2e: [] };
try {
  const sessions = await createSessions(c, 16, HELLO);
  const once = async (session, pollMs) => {
    const t0 = performance.now();
    const wall0 = Date.now();
    const p = await c.request('POST', `/code-sessions/${session}/run`);
    if (p.status !== 202) throw new Error(`POST: ${p.status} ${JSON.stringify(p.body)}`);
    const tPost = performance.now();
    for (;;) {
      const g = await c.request('GET', `/executions/${p.body.execution_id}`);
      if (TERMINAL.has(g.body.status)) {
        const t1 = performance.now();
        const wall1 = Date.now();
        const q = Date.parse(g.body.queued_at);
        const s = Date.parse(g.body.started_at);
        const f = Date.parse(g.body.finished_at);
        return { e2e: t1 - t0, post: tPost - t0, queue: s - q, run: f - s, afterFinish: wall1 - f, wall0 };
      }
      await sleep(pollMs);
    }
  };
  for (let i = 0; i < 5; i++) await once(sessions[0], 2);
  const seqFrom = performance.now() - spawnedAt;
  for (let i = 0; i < n; i++) {
    const r = await once(sessions[0], 2);
    for (const k of Object.keys(parts)) parts[k].push(r[k]);
    await sleep(5);
  }
  console.log(`sequential window: --window=${Math.round(seqFrom)}-${Math.round(performance.now() - spawnedAt)}`);
  let left = n;
  const t0 = performance.now();
  await Promise.all(
    sessions.map(async (s) => {
      while (left > 0) {
        left--;
        await once(s, 20);
      }
    }),
  );
  console.log(`throughput window: --window=${Math.round(t0 - spawnedAt)}-${Math.round(performance.now() - spawnedAt)}`);
  console.log(`throughput phase: ${n} runs in ${fmt((performance.now() - t0) / 1000)} s = ${fmt((n / (performance.now() - t0)) * 1000)} runs/s`);
} finally {
  await server.stop();
}
console.log(
  table(
    ['sequential run, part (ms)', 'median', 'p90', 'p99'],
    [
      ['POST /run answered', ...pick(parts.post)],
      ['queued -> started (timestamps)', ...pick(parts.queue)],
      ['started -> finished (timestamps)', ...pick(parts.run)],
      ['finished -> result read by client', ...pick(parts.afterFinish)],
      ['end to end', ...pick(parts.e2e)],
    ],
  ),
);
console.log(`profiles in ${out}:\n${fs.readdirSync(out).join('\n')}`);

function pick(xs) {
  const s = summarize(xs);
  return [s.median, s.p90, s.p99];
}
