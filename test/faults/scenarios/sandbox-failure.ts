import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { LanguageRegistry } from '../../../src/languages/registry.js';
import { enqueuePython } from '../lib/enqueue.js';
import { Cluster, attemptErrors, figures, makeProfilesDir, removeTempDir, resultOf, type Server } from '../lib/cluster.js';
import { ROOT, killAll, waitFor } from '../lib/procs.js';

// A sandbox that cannot be set up, injected without a test hook in the product: the python
// profile's toolchain is a copy of the interpreter in a directory of ours (bound read-only into
// the sandbox), resolved at startup; deleting the copy while the server runs makes the launcher's
// execve fail -> setup_error -> sandbox_error -> a transient failure, retried with backoff.

const MAX_ATTEMPTS = 3;
const RETRY_BASE_MS = 300;

/** First python3 the shipped profile names that exists here. */
function hostPython(): string {
  const profile = JSON.parse(fs.readFileSync(path.join(ROOT, 'sandbox-profiles', 'languages', 'python.json'), 'utf8')) as {
    toolchain: { python: string[] };
  };
  const found = profile.toolchain.python.find((p) => fs.existsSync(p));
  if (!found) throw new Error('no python3 on this host');
  return fs.realpathSync(found);
}

export function sandboxFailureScenario(): void {
  describe('a sandbox that cannot be set up', () => {
    let root: string;
    let binDir: string;
    let python: string;
    let cluster: Cluster;
    let server: Server;

    beforeAll(async () => {
      // Not under /tmp: the sandbox mounts its own /tmp, which would hide a bind below it.
      root = fs.mkdtempSync('/var/tmp/codexec-faults-sandbox-');
      binDir = path.join(root, 'toolchain');
      fs.mkdirSync(binDir);
      python = path.join(binDir, 'python3');
      fs.copyFileSync(hostPython(), python);
      fs.chmodSync(python, 0o755);
      const profiles = makeProfilesDir(root, (p) => {
        p.toolchain = { python: [python] };
        p.binds = [...((p.binds as string[] | undefined) ?? []), binDir];
      });
      cluster = new Cluster(root, { CODEXEC_EXECUTORS: 1, CODEXEC_MAX_ATTEMPTS: MAX_ATTEMPTS, CODEXEC_RETRY_BASE_MS: RETRY_BASE_MS }, profiles);
      server = await cluster.serve();
    }, 120_000);

    afterAll(async () => {
      server?.proc.signal('SIGTERM');
      await server?.proc.waitExit(30_000);
      const leaked = await killAll();
      removeTempDir(root);
      expect(leaked).toEqual([]);
    }, 120_000);

    async function metric(name: string): Promise<number> {
      const text = (await server.api.get('/metrics')).body as string;
      const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
      return line ? Number(line.split(' ').pop()) : 0;
    }

    it('with the toolchain in place, the copy runs (the fault below is the injected one)', async () => {
      const id = await server.api.submit('import sys\nprint(sys.executable)\n');
      const [row] = await cluster.waitTerminal(60_000, [id]);
      expect(row.status).toBe('COMPLETED');
      expect(resultOf(row).stdout).toBe(`${python}\n`);
    }, 90_000);

    it('the toolchain deleted after startup: sandbox_error on every attempt, then FAILED internal_error after the last', async () => {
      fs.rmSync(python);
      const retriesBefore = await metric('codexec_retries_total');
      const started = Date.now();
      const id = await server.api.submit('print("never runs")\n');
      const [row] = await cluster.waitTerminal(60_000, [id]);
      const ms = Date.now() - started;

      expect(row.status).toBe('FAILED');
      expect(row.attempt).toBe(MAX_ATTEMPTS);
      const result = resultOf(row);
      expect(result.failureReason).toBe('internal_error');
      expect(result.stdout).toBe('');
      const errors = attemptErrors(row);
      expect(errors.map((e) => [e.attempt, e.code])).toEqual(Array.from({ length: MAX_ATTEMPTS }, (_, i) => [i + 1, 'sandbox_error']));
      for (const e of errors) expect(e.message).toMatch(/exec/);
      // The API shows the same: attempts and each attempt's error.
      const view = await server.api.get(`/executions/${id}`);
      expect(view.body).toMatchObject({ status: 'FAILED', failure_reason: 'internal_error', attempts: MAX_ATTEMPTS, max_attempts: MAX_ATTEMPTS });
      expect(view.body.attempt_errors.map((e: { code: string }) => e.code)).toEqual(Array(MAX_ATTEMPTS).fill('sandbox_error'));
      const retries = (await metric('codexec_retries_total')) - retriesBefore;
      expect(retries).toBe(MAX_ATTEMPTS - 1);
      figures('sandbox setup failure', { jobs: 1, attempts: row.attempt, retries, errors: errors.map((e) => e.code).join(','), time_ms: ms });
    }, 90_000);

    it('a fault that heals between attempts: retried with backoff, then COMPLETED, the failed attempts recorded', async () => {
      expect(fs.existsSync(python)).toBe(false);
      // Planned while the interpreter exists (a run is planned with the toolchain as it is then),
      // enqueued once it is gone, with more attempts than the server's default, so that the
      // retries outlast the moment the toolchain comes back, whatever the jitter.
      fs.copyFileSync(hostPython(), python);
      fs.chmodSync(python, 0o755);
      const languages = await LanguageRegistry.load(cluster.profilesDir, loadConfig({}), { probeVersions: false });
      fs.rmSync(python);
      const [id] = await enqueuePython(cluster.jobDbFile, ['print("healed")\n'], { languages, maxAttempts: 10 });
      await waitFor('a first failed attempt', () => (cluster.row(id) && attemptErrors(cluster.row(id)!).length > 0) || undefined, 60_000, 50);
      fs.copyFileSync(hostPython(), python);
      fs.chmodSync(python, 0o755);
      const [row] = await cluster.waitTerminal(60_000, [id]);

      expect(row.status).toBe('COMPLETED');
      expect(resultOf(row).stdout).toBe('healed\n');
      const errors = attemptErrors(row);
      expect(errors.length).toBe(row.attempt - 1);
      expect(errors.every((e) => e.code === 'sandbox_error')).toBe(true);
      // Each retry started after the failure before it (backoff is a delay, never negative).
      for (let i = 1; i < errors.length; i++) expect(errors[i].at).toBeGreaterThanOrEqual(errors[i - 1].at);
      expect(row.started_at!).toBeGreaterThanOrEqual(errors[errors.length - 1].at);
      figures('sandbox failure that heals', { jobs: 1, attempts: row.attempt, retries: errors.length });
    }, 90_000);
  });
}
