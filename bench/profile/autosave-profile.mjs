// CPU profile of `codexec serve` (API only) under the autosave load of bench/autosave.mjs:
//
//   node bench/profile/autosave-profile.mjs [SECONDS=5] [OUT_DIR=/tmp/codexec-autosave-prof]
//   node bench/profile/summarize-cpuprofile.mjs OUT_DIR/<file>.cpuprofile
import fs from 'node:fs';
import autocannon from 'autocannon';
import { startServer, createSessions } from '../lib/server.mjs';

const seconds = Number(process.argv[2] ?? 5);
const out = process.argv[3] ?? '/tmp/codexec-autosave-prof';
if (!Number.isInteger(seconds) || seconds <= 0 || seconds > 120) throw new Error('usage: autosave-profile.mjs [SECONDS] [OUT_DIR]');
fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });
const spawnedAt = performance.now();
const server = await startServer({
  env: { CODEXEC_RATE_LIMIT_AUTOSAVES_PER_MINUTE: '0' },
  executors: 0,
  nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${out}`, '--cpu-prof-interval=250'],
});
try {
  const ids = await createSessions(server.client, 200, 'print("hi")\n');
  const body = JSON.stringify({ source_code: `# autosave\n${'x = 1\n'.repeat(40)}print(x)\n` });
  let next = 0;
  const from = performance.now() - spawnedAt;
  const r = await autocannon({
    url: server.url,
    connections: 100,
    duration: seconds,
    requests: [{ method: 'PATCH', headers: { 'content-type': 'application/json' }, body, setupRequest: (req) => ({ ...req, path: `/code-sessions/${ids[next++ % ids.length]}` }) }],
  });
  console.log(`load window: --window=${Math.round(from)}-${Math.round(performance.now() - spawnedAt)} (ms since the server was spawned, ~ since its profile started)`);
  console.log(`${r.requests.total} PATCH in ${seconds} s: ${r.requests.average} req/s, p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms, non-2xx ${r.non2xx}`);
} finally {
  await server.stop();
}
console.log(`profiles in ${out}:\n${fs.readdirSync(out).join('\n')}`);
