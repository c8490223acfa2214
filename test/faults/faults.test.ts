import { describe } from 'vitest';
import { killExecutorScenario } from './scenarios/kill-executor.js';

// The fault tests of issue 4: real `codexec serve` and `codexec worker` processes on real SQLite
// files, killed, stopped and overloaded. They run dist/ (build first; `npm test` does). All
// scenarios are in this one file so that they run one after another: each starts several
// processes and some measure lease expiry, which a parallel scenario on the same cores would skew.
// Run one with: npx vitest run test/faults -t '<words of its name>'

describe.sequential('fault tests', () => {
  killExecutorScenario();
});
