import { describe, expect, it } from 'vitest';
import { IS_ROOT, SKIP_MESSAGE, py, reportOf, describeOutcome } from './helpers.js';
import { securitySuite } from './suite.js';

describe.skipIf(!IS_ROOT)(`smoke (${SKIP_MESSAGE.slice(0,0)})`, () => {
  const s = securitySuite();
  it('python', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await s.run('python', py(`out['uid']=os.getuid()\nout['status']=open('/proc/self/status').read()`));
      console.log(r.elapsedMs, describeOutcome(r.outcome).slice(0, 2000), s.slow());
    }
  });
  it('js', async () => {
    const r = await s.run('javascript', `console.log(JSON.stringify({uid: process.getuid(), v: process.version}))`);
    console.log(r.elapsedMs, describeOutcome(r.outcome));
  });
});
