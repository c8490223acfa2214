import { defineConfig } from 'vitest/config';

// The test layers (CONTRIBUTING.md, "Tests"). `npm test` runs them all; `npm run test:unit` only
// the first, which needs no root, no language toolchain, no PostgreSQL and no build, and runs on
// every core (--maxWorkers=100%: vitest's default leaves one core free, half of a 2-core machine);
// the other layers keep the default, their timings and cgroups share the machine.
//   unit         rules, parsers, schemas, stores on SQLite, the API without executors
//   integration  real executions (root, toolchains), the CLI, PostgreSQL, the documentation
//   security     the attack suite: one test per attack on the sandbox and the API
//   faults       kill -9, restarts and contention between real processes
export const UNIT = [
  'test/config/**/*.test.ts',
  'test/domain/**/*.test.ts',
  'test/queue/backoff.test.ts',
  'test/queue/claim-race.test.ts',
  'test/queue/sqlite-events.test.ts',
  'test/queue/sqlite-wal.test.ts',
  'test/queue/sqlite-job-store.test.ts',
  'test/sessions/session-cache.test.ts',
  'test/sessions/session-store.test.ts',
  'test/sessions/wal-checkpointer.test.ts',
  'test/sessions/sqlite-keyv-store.test.ts',
  'test/webhooks/addresses.test.ts',
  'test/keys/keys.test.ts',
  'test/live/recorder.test.ts',
  'test/languages/profiles.test.ts',
  'test/languages/install-script.test.ts',
  'test/sandbox/outcome.test.ts',
  'test/sandbox/output.test.ts',
  'test/sandbox/spec.test.ts',
  'test/observability/metrics-listener.test.ts',
  'test/api/autosave.test.ts',
  'test/api/batch.test.ts',
  'test/api/compat/judge0.test.ts',
  'test/api/compat/piston.test.ts',
  'test/api/limits.test.ts',
  'test/api/malformed.test.ts',
  'test/api/ownership.test.ts',
  'test/api/quotas.test.ts',
  'test/api/auth.test.ts',
  'test/bench/**/*.test.ts',
  'test/api/runs.test.ts',
  'test/api/sessions.test.ts',
  'test/docs/readme.test.ts',
  'test/docker/compose-env.test.ts',
];
const SECURITY = ['test/security/**/*.test.ts'];
const FAULTS = ['test/faults/**/*.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    projects: [
      { extends: true, test: { name: 'unit', include: UNIT } },
      { extends: true, test: { name: 'integration', include: ['test/**/*.test.ts'], exclude: [...UNIT, ...SECURITY, ...FAULTS] } },
      { extends: true, test: { name: 'security', include: SECURITY } },
      { extends: true, test: { name: 'faults', include: FAULTS } },
    ],
  },
});
