import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { WebhookDispatcher } from '../../src/webhooks/dispatcher.js';
import { completedResult } from '../queue/helpers.js';
import { startReceiver, type Receiver } from '../webhooks/helpers.js';
import { call, createSession, startHarness, type Harness } from './harness.js';

// callback_url through the API: refused at submit for addresses a webhook may not reach (nothing
// queued, nothing sent), off without a secret, part of the idempotent request, and GET
// /executions/{id} shows the delivery and each attempt.

const SECRET = 'api-test-secret-0123456789';

describe('callback_url on runs', () => {
  let h: Harness;
  let receiver: Receiver | null = null;
  let dispatcher: WebhookDispatcher | null = null;
  afterEach(async () => {
    await dispatcher?.stop(100);
    await receiver?.close();
    await h.close();
    dispatcher = null;
    receiver = null;
  });

  it('refuses 127.0.0.1, 10.0.0.1, 169.254.169.254 and [::1] without the allow list; queues nothing', async () => {
    h = await startHarness({ config: { webhookSecret: SECRET, rateLimitRunsPerMinute: 0 } });
    const s = await createSession(h);
    for (const url of ['http://127.0.0.1:9/h', 'http://10.0.0.1/h', 'http://169.254.169.254/latest/meta-data/', 'http://[::1]:9/h', 'http://2130706433/', 'http://0x7f.1/']) {
      const res = await call(h, 'POST', `/code-sessions/${s.session_id}/run`, { callback_url: url });
      expect([res.status, res.json.error.code], url).toEqual([422, 'callback_url_refused']);
    }
    const batch = await call(h, 'POST', '/executions/batch', { runs: [{ language: 'python', source_code: 'x', callback_url: 'http://169.254.169.254/' }] });
    expect(batch.json.results[0]).toMatchObject({ status: 422, error: { code: 'callback_url_refused' } });
    expect((await call(h, 'POST', `/code-sessions/${s.session_id}/run`, { callback_url: 'ftp://example.com/' })).json.error.code).toBe('invalid_callback_url');
    expect((await h.jobs.stats()).counts.QUEUED).toBe(0);
  });

  it('without CODEXEC_WEBHOOK_SECRET, a run with callback_url is refused', async () => {
    h = await startHarness();
    const s = await createSession(h);
    const res = await call(h, 'POST', `/code-sessions/${s.session_id}/run`, { callback_url: 'https://example.com/hook' });
    expect([res.status, res.json.error.code]).toEqual([422, 'webhooks_disabled']);
  });

  it('GET shows the webhook: pending while it runs, then each attempt; the key binds the callback too', async () => {
    receiver = await startReceiver();
    h = await startHarness({ config: { webhookSecret: SECRET, webhookAllow: ['127.0.0.1'], webhookRetryBaseMs: 10, webhookMaxAttempts: 2, rateLimitRunsPerMinute: 0 } });
    const s = await createSession(h);
    const url = `${receiver.url}/hook`;
    const run = await call(h, 'POST', `/code-sessions/${s.session_id}/run`, { callback_url: url }, { 'idempotency-key': 'k1' });
    expect(run.status, run.body).toBe(202);
    const id = run.json.execution_id;
    expect((await call(h, 'GET', `/executions/${id}`)).json.webhook).toEqual({ url, state: 'pending', attempts: [], next_attempt_at: null });
    const other = await call(h, 'POST', `/code-sessions/${s.session_id}/run`, { callback_url: `${receiver.url}/other` }, { 'idempotency-key': 'k1' });
    expect([other.status, other.json.error?.code]).toEqual([409, 'idempotency_key_reused']);

    await h.jobs.claim('executor', 10_000);
    await h.jobs.finish(id, 'executor', 'COMPLETED', completedResult('hi\n'));
    receiver.behaviour = 'fail';
    dispatcher = new WebhookDispatcher({ store: h.jobs, config: h.config, logger: pino({ level: 'silent' }), pollMs: 20 });
    dispatcher.start();
    for (;;) {
      const got = await call(h, 'GET', `/executions/${id}`);
      if (got.json.webhook.state !== 'pending') {
        expect(got.json.webhook).toMatchObject({ url, state: 'failed', next_attempt_at: null });
        expect(got.json.webhook.attempts.map((a: { attempt: number; status_code: number }) => [a.attempt, a.status_code])).toEqual([
          [1, 500],
          [2, 500],
        ]);
        expect(got.json.webhook.attempts[0].duration_ms).toBeGreaterThanOrEqual(0);
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    // The OpenAPI document has the new routes and field.
    const doc = (await call(h, 'GET', '/openapi.json')).json;
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/executions/batch', '/executions/{execution_id}/events']));
    expect(doc.paths['/executions/{execution_id}'].get.responses['200'].content['application/json'].schema.properties.webhook).toBeDefined();
  });
});
