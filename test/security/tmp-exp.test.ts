import { describe, it } from 'vitest';
import { describeOutcome } from './helpers.js';
import { securitySuite } from './suite.js';
describe('exp', () => {
  const s = securitySuite();
  it('look', async () => {
    for (let i = 0; i < 2; i++) {
    const r = await s.run('javascript', `const cp = require('child_process');
cp.spawn('/bin/sh', ['-c', 'b(){ b | b & }; b'], { detached: true, stdio: 'ignore' }).unref();
const errors = new Set();
let ok = 0;
const end = Date.now() + 1500;
while (Date.now() < end) {
  const r = cp.spawnSync('/bin/true');
  if (r.error) errors.add(r.error.code); else ok++;
}
console.log(JSON.stringify({ ok, errors: [...errors] }));
`, { overrides: { wallTimeMs: 5000 } });
    console.log(r.elapsedMs, describeOutcome(r.outcome));
    }
  });
});
