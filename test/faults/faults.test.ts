import { describe } from 'vitest';
import { contentionScenario } from './scenarios/contention.js';
import { drainScenario } from './scenarios/drain.js';
import { killExecutorScenario } from './scenarios/kill-executor.js';
import { killServeScenario } from './scenarios/kill-serve.js';
import { leaseRenewalScenario } from './scenarios/lease-renewal.js';
import { postgresScenario } from './scenarios/postgres.js';
import { postgresRestartsScenario } from './scenarios/postgres-restarts.js';
import { sandboxFailureScenario } from './scenarios/sandbox-failure.js';
import { shutdownScenario } from './scenarios/shutdown.js';
import { topologyScenario } from './scenarios/topology.js';

// The fault tests of issue 4: real `codexec serve` and `codexec worker` processes on real SQLite
// files, killed, stopped, signalled and overloaded. They run dist/ (build first; `npm test` does).
//
// Every scenario is in this one file so that they run one after another: each starts several
// processes, and some time lease expiries that a scenario running beside them on the same cores
// would skew. Each prints its figures ("[faults] ..." lines). Run one scenario with
//   npx vitest run test/faults -t '<words of its name>'
// FAULTS_KEEP_DIRS=1 keeps each scenario's directory (data and process logs) for a post-mortem.

describe.sequential('fault tests', () => {
  killExecutorScenario();
  leaseRenewalScenario();
  sandboxFailureScenario();
  shutdownScenario();
  killServeScenario();
  contentionScenario();
  drainScenario();
  postgresScenario();
  postgresRestartsScenario();
  topologyScenario();
});
