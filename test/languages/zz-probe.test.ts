import { test } from 'vitest';
import { loadRegistry, openIsolatedHost, run, describeOutcome } from './helpers.js';
import { PROGRAMS } from './programs.js';

test('probe', async () => {
  const reg = await loadRegistry();
  const { host, reason } = await openIsolatedHost();
  if (!host) throw new Error(reason);
  const only = process.env.LANGS?.split(',');
  const what = (process.env.WHAT ?? 'hello').split(',');
  for (const p of reg.list()) {
    if (only && !only.includes(p.id)) continue;
    console.log(p.id, p.version, p.available, p.missing);
    for (const w of what) {
      const src = (PROGRAMS[p.id] as any)[w];
      if (!src) continue;
      const t0 = Date.now();
      const o = await run(host, p, src, { stdin: 'abc def\n', limits: w === 'memoryBomb' ? { memoryBytes: 128 << 20 } : w === 'infiniteLoop' ? { wallTimeMs: 1500, cpuTimeMs: 1000 } : {} });
      console.log(`  ${w} total=${Date.now() - t0}ms compile=${o.compile?.timeMs}`, describeOutcome(o));
    }
  }
}, 600_000);
