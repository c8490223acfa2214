import fs from 'node:fs';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { execa } from 'execa';
import path from 'node:path';
import { createCliLogger, createLogger, perTurn } from '../../src/observability/logger.js';
import { Metrics } from '../../src/observability/metrics.js';
import type { QueueStats } from '../../src/queue/job-store.js';
import { call, createSession, startHarness } from './harness.js';

function capture(): { stream: Writable; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(String(chunk));
      cb();
    },
  });
  return {
    stream,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('logger', () => {
  it('redacts learners\' code, input and API keys wherever they appear', () => {
    const out = capture();
    const log = createLogger({ logLevel: 'info' }, out.stream);
    log.info({ source_code: 'secret1', stdin: 'secret2', expected_output: 'secret3' }, 'top');
    log.info({ job: { sourceCode: 'secret4', stdin: 'secret5' } }, 'nested');
    log.info({ req: { body: { source_code: 'secret6' }, headers: { 'x-api-key': 'secret7', host: 'h' } } }, 'request');
    const text = JSON.stringify(out.lines());
    for (let i = 1; i <= 7; i++) expect(text).not.toContain(`secret${i}`);
    expect(text).toContain('[redacted]');
    expect(text).toContain('"host":"h"');
  });

  it('writes the lines a turn of the event loop logged once that turn ends, all in one write', async () => {
    const writes: string[] = [];
    const log = createLogger({ logLevel: 'info' }, perTurn({ write: (text) => writes.push(text) }));
    log.info('first');
    log.warn('second');
    expect(writes).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(writes).toHaveLength(1);
    expect(writes[0]!.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(['first', 'second']);
    log.info('third');
    await new Promise((resolve) => setImmediate(resolve));
    expect(writes).toHaveLength(2);
    expect(writes[1]).toContain('"msg":"third"');
  });

  it('a turn that logs a lot writes as it goes, so what waits for the end of the turn stays small', () => {
    const writes: string[] = [];
    const log = createLogger({ logLevel: 'info' }, perTurn({ write: (text) => writes.push(text) }));
    const big = 'x'.repeat(1000);
    for (let i = 0; i < 200; i++) log.info({ big }, `line ${i}`);
    expect(writes.length).toBeGreaterThanOrEqual(2);
    for (const w of writes) expect(w.length).toBeLessThan(64 * 1024 + 2000);
  });

  it("writes the lines still pending when the process exits, on stdout", async () => {
    // The built logger (dist/), in a process that logs and exits in the same turn.
    const logger = path.resolve(__dirname, '..', '..', 'dist', 'observability', 'logger.js');
    const script = `import(${JSON.stringify(logger)}).then((m) => { const log = m.createLogger({ logLevel: 'info' }); log.info('before exit'); process.exit(3); });`;
    const r = await execa(process.execPath, ['-e', script], { reject: false });
    expect(r.exitCode).toBe(3);
    expect(JSON.parse(r.stdout)).toMatchObject({ msg: 'before exit', level: 30 });
  });

  it('for a person at a terminal: one readable line per entry, redacted like the JSON ones', () => {
    const chunks: string[] = [];
    const out = new Writable({
      write(chunk, _enc, cb) {
        chunks.push(String(chunk));
        cb();
      },
    });
    const log = createCliLogger({ logLevel: 'warn' }, out);
    log.info('hidden');
    log.warn({ source_code: 'secret' }, 'sandbox warning: seccomp unavailable');
    log.error('it broke');
    expect(chunks.join('')).toBe('codexec: warning: sandbox warning: seccomp unavailable\ncodexec: error: it broke\n');
  });

  it('respects the level', () => {
    const out = capture();
    const log = createLogger({ logLevel: 'warn' }, out.stream);
    log.info('hidden');
    log.warn('shown');
    expect(out.lines().map((l) => l.msg)).toEqual(['shown']);
  });
});

describe('app logging and 500s', () => {
  it('an unexpected failure is a bare 500 internal_error; the cause is logged, not sent', async () => {
    const out = capture();
    const h = await startHarness({ deps: { logger: createLogger({ logLevel: 'debug' }, out.stream) } });
    try {
      const s = await createSession(h);
      const run = await call(h, 'POST', `/code-sessions/${s.session_id}/run`, { stdin: 'private input' });
      expect(run.status).toBe(202);
      await h.sessions.close(); // the session database goes away under the app
      const res = await call(h, 'PATCH', `/code-sessions/${s.session_id}`, { source_code: 'print("private code")' });
      expect(res.status).toBe(500);
      expect(res.json).toEqual({ error: { code: 'internal_error', message: 'internal error' } });
      expect(res.body).not.toMatch(/SQLITE|sqlite|at .*\(/);

      const lines = out.lines();
      const failure = lines.find((l) => l.msg === 'request failed');
      expect(failure).toBeDefined();
      expect(JSON.stringify(failure)).toMatch(/SQLITE|closed|Database/i);
      const queued = lines.find((l) => l.msg === 'execution queued');
      expect(queued).toMatchObject({ execution_id: run.json.execution_id, session_id: s.session_id, status: 'QUEUED' });
      expect(lines.some((l) => l.msg === 'request' && l.route === '/code-sessions/:session_id/run' && l.status === 202)).toBe(true);
      const all = JSON.stringify(lines);
      expect(all).not.toContain('private code');
      expect(all).not.toContain('private input');
    } finally {
      // Not h.close(): its session store is closed already.
      await h.app.close();
      await h.jobs.close();
      fs.rmSync(h.dir, { recursive: true, force: true });
    }
  });
});

describe('Metrics', () => {
  it('counts outcomes, observes histograms, and reads queue and executors from the stats source', async () => {
    const stats: QueueStats = {
      counts: { QUEUED: 4, RUNNING: 2, COMPLETED: 10, FAILED: 1, TIMEOUT: 0 },
      oldestQueuedAgeMs: 1200,
      executors: [
        { id: 'a', hostname: 'h', pid: 1, slots: 4, busy: 2, startedAt: 0, heartbeatAt: 0 },
        { id: 'b', hostname: 'h', pid: 2, slots: 2, busy: 0, startedAt: 0, heartbeatAt: 0 },
      ],
      apiNodes: [],
      recentFailures: [],
    };
    const m = new Metrics({ queueStats: async () => stats });
    m.observeFinished('COMPLETED', null, 10, 100);
    m.observeFinished('TIMEOUT', 'wall_time_limit', 10, 5000);
    m.observeFinished('FAILED', 'compile_error', null, null);
    m.retry();
    m.retry();
    m.rescue(3);
    const { body, contentType } = await m.render();
    expect(contentType).toMatch(/^text\/plain/);
    // Read from the database: the same on every node, so marked global (max() across nodes).
    expect(body).toContain('codexec_queue_depth{status="QUEUED",scope="global"} 4');
    expect(body).toContain('codexec_queue_depth{status="RUNNING",scope="global"} 2');
    expect(body).toContain('codexec_executors{state="busy",scope="global"} 2');
    expect(body).toContain('codexec_executors{state="idle",scope="global"} 4');
    expect(body).toMatch(/# HELP codexec_queue_depth .*global/);
    // This process runs no executor: no process-scoped slots.
    expect(body).not.toMatch(/^codexec_executors\{[^}]*scope="process"/m);
    expect(body).toContain('codexec_executions_total{outcome="completed"} 1');
    expect(body).toContain('codexec_executions_total{outcome="timeout"} 1');
    expect(body).toContain('codexec_executions_total{outcome="compile_error"} 1');
    expect(body).toContain('codexec_retries_total 2');
    expect(body).toContain('codexec_rescues_total 3');
    expect(body).toContain('codexec_queue_wait_seconds_count 2');
    expect(body).toContain('codexec_run_seconds_count 2');
    expect(body).toMatch(/process_cpu_user_seconds_total/);
  });

  it('without a stats source (a worker): its own slots only, no queue depth; two instances do not share a registry', async () => {
    const a = new Metrics({ defaultMetrics: false });
    const b = new Metrics({ defaultMetrics: false });
    a.setExecutors(3, 1);
    a.retry();
    const body = (await a.render()).body;
    expect(body).toContain('codexec_executors{state="busy",scope="process"} 3');
    expect(body).not.toMatch(/^codexec_\w+\{[^}]*scope="global"/m);
    expect(body).not.toMatch(/^codexec_queue_depth\{/m); // a worker does not read the queue's counts: no zeros that look real
    const other = (await b.render()).body;
    expect(other).not.toContain('codexec_executors{');
    expect(other).toContain('codexec_retries_total 0');
  });
});
