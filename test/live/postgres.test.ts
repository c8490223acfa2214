import { afterEach, beforeEach, expect, it } from 'vitest';
import type { JobQueue } from '../../src/queue/core/job-queue.js';
import { openPostgresQueue } from '../../src/queue/open.js';
import { call, startHarness, type Harness } from '../api/harness.js';
import { createSchema, describePostgres, type TestSchema } from '../queue/postgres-helpers.js';
import { liveRig, openStream, program, scriptedSandbox, textOf, type LiveRig, type Script } from './helpers.js';

// Live output on PostgreSQL, as on several hosts: the executor on a connection of its own (its
// NOTIFYs and rows reach the API through the database only), and two API nodes serving readers of
// one execution, 500 each.

describePostgres('live output on PostgreSQL', () => {
  let schema: TestSchema;
  let r: LiveRig;
  let apiStore: JobQueue;
  let second: { h: Harness; store: JobQueue; url: string } | null = null;
  beforeEach(async () => {
    schema = await createSchema();
    apiStore = await openPostgresQueue(schema.url, { poolSize: 4 });
    const execStore = await openPostgresQueue(schema.url, { poolSize: 4 });
    r = await liveRig(scriptedSandbox(), { deps: { jobs: apiStore }, execStore, startExecutor: false });
  });
  afterEach(async () => {
    if (second) {
      await second.h.close();
      await second.store.close();
      second = null;
    }
    await r.close();
    await apiStore.close();
    await schema.drop();
  });

  async function inline(h: Harness, src: string): Promise<string> {
    const res = await call(h, 'POST', '/executions/batch', { runs: [{ language: 'python', source_code: src }] });
    expect(res.json.results[0].status, res.body).toBe(202);
    return res.json.results[0].execution.execution_id;
  }

  it('streams output as it is printed on another host, then the result', async () => {
    r.executor.start();
    const id = await inline(r.h, program({ out: [['stdout', 'a\n', 200], ['stderr', 'b\n', 60], ['stdout', 'c\n', 60]] }));
    const s = await openStream(r.url, id);
    await s.ended;
    const result = s.events.at(-1)!;
    expect(result.event).toBe('result');
    expect(result.data).toMatchObject({ status: 'COMPLETED', stdout: 'a\nc\n', stderr: 'b\n' });
    expect(textOf(s.events, 'stdout')).toBe('a\nc\n');
    expect(s.events.filter((e) => e.event === 'output').every((e) => /^\d+\.\d+$/.test(e.id!))).toBe(true);
  });

  it('1,000 readers on two API nodes: every one gets the whole output and the result', async () => {
    const store2 = await openPostgresQueue(schema.url, { poolSize: 4 });
    const h2 = await startHarness({ deps: { jobs: store2 }, config: { rateLimitRunsPerMinute: 0 } });
    await h2.app.listen({ host: '127.0.0.1', port: 0 });
    second = { h: h2, store: store2, url: `http://127.0.0.1:${(h2.app.server.address() as { port: number }).port}` };
    const lines = Array.from({ length: 15 }, (_, i) => ['stdout', `line ${i}\n`, 30]) as Script['out'];
    const id = await inline(r.h, program({ out: lines }));
    const streams = await Promise.all(Array.from({ length: 1000 }, (_, i) => openStream(i % 2 === 0 ? r.url : second!.url, id)));
    r.executor.start();
    await Promise.all(streams.map((s) => s.ended));
    const want = lines.map((l) => l[1]).join('');
    for (const s of streams) {
      expect(s.events.at(-1)!.event).toBe('result');
      expect(textOf(s.events, 'stdout')).toBe(want);
    }
  }, 90_000);
});
