import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import type { JobQueue } from '../../src/queue/core/job-queue.js';
import type { WebhookDelivery } from '../../src/queue/webhook-outbox.js';
import { WebhookDispatcher, type WebhookConfig } from '../../src/webhooks/dispatcher.js';
import type { Lookup } from '../../src/webhooks/resolve.js';
import { verifySignature } from '../../src/webhooks/signature.js';
import { completedResult, newExecution } from '../queue/helpers.js';
import { startReceiver, watchConnects, type Receiver } from './helpers.js';

// Webhook delivery against a real queue (SQLite or PostgreSQL) and a real receiver on 127.0.0.1:
// the outbox row is written with the terminal state, whatever ends the run; delivery is signed,
// retried, recorded, bounded in time and size, never lost across a restart or a crash mid-send,
// sent once with several dispatchers; refused addresses are never connected to.

export interface DeliveryHarness {
  /** A new connection to the same queue (another process, another host). */
  open(): Promise<JobQueue>;
  cleanup(): Promise<void>;
}

const SECRET = 'test-webhook-secret-0123456789';
const quiet = pino({ level: 'silent' });

export function deliverySuite(name: string, makeHarness: () => Promise<DeliveryHarness>): void {
  describe(`webhook delivery: ${name}`, () => {
    let h: DeliveryHarness;
    let store: JobQueue;
    let receiver: Receiver;
    const dispatchers: WebhookDispatcher[] = [];
    beforeEach(async () => {
      h = await makeHarness();
      store = await h.open();
      receiver = await startReceiver();
    });
    afterEach(async () => {
      for (const d of dispatchers.splice(0)) await d.stop(100);
      await receiver.close();
      await store.close();
      await h.cleanup();
    });

    const config = (over: Partial<Record<keyof WebhookConfig, unknown>> = {}): WebhookConfig =>
      loadConfig({}, { webhookSecret: SECRET, webhookAllow: ['127.0.0.1/32'], webhookTimeoutMs: 2000, webhookMaxAttempts: 3, webhookRetryBaseMs: 20, ...over });
    const dispatcher = (s: JobQueue, over: Partial<Record<keyof WebhookConfig, unknown>> = {}, lookup?: Lookup) => {
      const d = new WebhookDispatcher({ store: s, config: config(over), logger: quiet, lookup, pollMs: 50 });
      dispatchers.push(d);
      d.start();
      return d;
    };
    async function finished(callbackUrl: string, s = store): Promise<string> {
      const { execution } = await s.enqueue(newExecution({ sessionId: null, callbackUrl }));
      const claimed = await s.claim('executor', 10_000);
      expect(claimed?.id).toBe(execution.id);
      expect(await s.finish(execution.id, 'executor', 'COMPLETED', completedResult('42\n'))).toBe(true);
      return execution.id;
    }
    async function settled(id: string, s = store, timeoutMs = 20_000): Promise<WebhookDelivery> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const d = await s.webhooks.get(id);
        if (d && d.state !== 'pending') return d;
        if (Date.now() > deadline) throw new Error(`webhook of ${id} still ${d?.state ?? 'missing'}: ${JSON.stringify(d?.attempts)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    }

    it('the terminal state writes the delivery; it is POSTed once, signed, and recorded', async () => {
      const id = await finished(`${receiver.url}/hooks/codexec?run=1`);
      const pending = await store.webhooks.get(id);
      expect(pending).toMatchObject({ state: 'pending', url: `${receiver.url}/hooks/codexec?run=1`, attemptCount: 0 });
      const { value: d, connects } = await watchConnects(async () => {
        dispatcher(store);
        return settled(id);
      });
      expect(connects).toContain(`127.0.0.1:${receiver.port}`); // what the refusal test below watches for
      expect(d).toMatchObject({ state: 'delivered', attemptCount: 1 });
      expect(d.attempts).toEqual([expect.objectContaining({ attempt: 1, statusCode: 204, error: null })]);
      expect(receiver.received).toHaveLength(1);
      const got = receiver.received[0]!;
      expect(got.path).toBe('/hooks/codexec?run=1');
      expect(got.headers).toMatchObject({ 'content-type': 'application/json', 'x-codexec-event': 'execution.finished', 'x-codexec-delivery': id, 'x-codexec-attempt': '1' });
      const headers = { signature: got.headers['x-codexec-signature'] as string, timestamp: got.headers['x-codexec-timestamp'] as string };
      expect(verifySignature(SECRET, headers, got.body)).toBe(true);
      expect(verifySignature(SECRET, headers, got.body.replace('42', '43'))).toBe(false);
      expect(verifySignature('another-secret-of-16+', headers, got.body)).toBe(false);
      expect(JSON.parse(got.body)).toMatchObject({ type: 'execution.finished', execution: { execution_id: id, status: 'COMPLETED', stdout: '42\n' } });
    });

    it('a canceled queued run gets its webhook too', async () => {
      const { execution } = await store.enqueue(newExecution({ sessionId: null, callbackUrl: `${receiver.url}/c` }));
      expect((await store.cancel(execution.id)).kind).toBe('canceled');
      dispatcher(store);
      expect((await settled(execution.id)).state).toBe('delivered');
      expect(JSON.parse(receiver.received[0]!.body).execution).toMatchObject({ status: 'FAILED', failure_reason: 'canceled' });
    });

    it('a receiver answering 500 is retried with backoff, then recorded as failed', async () => {
      receiver.behaviour = 'fail';
      const id = await finished(`${receiver.url}/h`);
      dispatcher(store);
      const d = await settled(id);
      expect(d.state).toBe('failed');
      expect(d.attempts.map((a) => [a.attempt, a.statusCode, a.error])).toEqual([
        [1, 500, 'the receiver answered 500'],
        [2, 500, 'the receiver answered 500'],
        [3, 500, 'the receiver answered 500'],
      ]);
      expect(receiver.received.map((r) => r.headers['x-codexec-attempt'])).toEqual(['1', '2', '3']);
    });

    it('a receiver that never answers is cut at the timeout, retried, then recorded as failed', async () => {
      receiver.behaviour = 'hang';
      const id = await finished(`${receiver.url}/h`);
      dispatcher(store, { webhookTimeoutMs: 300, webhookMaxAttempts: 2 });
      const d = await settled(id);
      expect(d.state).toBe('failed');
      expect(d.attempts.map((a) => a.error)).toEqual(['no answer within 300 ms', 'no answer within 300 ms']);
      expect(receiver.received).toHaveLength(2);
    });

    it('a redirect is not followed; a huge answer is read only up to its cap', async () => {
      receiver.behaviour = 'redirect';
      const id = await finished(`${receiver.url}/h`);
      dispatcher(store, { webhookMaxAttempts: 1 });
      const d = await settled(id);
      expect(d.attempts[0]).toMatchObject({ statusCode: 302, error: 'redirect 302 not followed' });
      expect(receiver.received.map((r) => r.path)).toEqual(['/h']);

      receiver.behaviour = 'huge';
      const big = await finished(`${receiver.url}/big`);
      expect((await settled(big)).state).toBe('delivered');
      await new Promise((r) => setTimeout(r, 200));
      expect(receiver.hugeWritten).toBeLessThan(64 * 1024 * 1024);
    });

    it('refuses 127.0.0.1, 10.0.0.1, 169.254.169.254 and [::1] without the allow list, connecting to none of them', async () => {
      const answers: Record<string, string> = { 'a.hooks.test': '127.0.0.1', 'b.hooks.test': '10.0.0.1', 'c.hooks.test': '169.254.169.254', 'd.hooks.test': '::1' };
      const lookup: Lookup = async (host) => [{ address: answers[host]!, family: answers[host]!.includes(':') ? 6 : 4 }];
      const ids: string[] = [];
      for (const host of Object.keys(answers)) ids.push(await finished(`http://${host}:${receiver.port}/h`));
      const { value: deliveries, connects } = await watchConnects(async () => {
        dispatcher(store, { webhookAllow: [] }, lookup);
        return Promise.all(ids.map((id) => settled(id)));
      });
      for (const [i, d] of deliveries.entries()) {
        expect(d.state).toBe('failed');
        expect(d.attempts).toHaveLength(1); // a refused address is not retried
        expect(d.attempts[0]!.error).toContain(`refused: ${Object.values(answers)[i]}`);
      }
      expect(receiver.received).toHaveLength(0);
      expect(connects.filter((c) => /127\.0\.0\.1|10\.0\.0\.1|169\.254|::1/.test(c) && c.endsWith(`:${receiver.port}`))).toEqual([]);
    });

    it('is never lost: a delivery written while no dispatcher runs is sent after a restart', async () => {
      const id = await finished(`${receiver.url}/later`);
      await store.close();
      store = await h.open();
      dispatcher(store);
      expect((await settled(id)).state).toBe('delivered');
      expect(receiver.received).toHaveLength(1);
    });

    it('a dispatcher that dies while sending: its claim expires, another sends it, the lost attempt is recorded', async () => {
      const id = await finished(`${receiver.url}/crash`);
      const lost = await store.webhooks.claim('dead-process', 100);
      expect(lost?.executionId).toBe(id);
      await new Promise((r) => setTimeout(r, 150));
      dispatcher(store);
      const d = await settled(id);
      expect(d.state).toBe('delivered');
      expect(d.attempts.map((a) => [a.attempt, a.statusCode])).toEqual([
        [1, null],
        [2, 204],
      ]);
      expect(d.attempts[0]!.error).toMatch(/interrupted/);
    });

    it('with several dispatchers on several connections, each webhook is sent exactly once', async () => {
      const other = await h.open();
      try {
        const ids: string[] = [];
        for (let i = 0; i < 30; i++) ids.push(await finished(`${receiver.url}/n/${i}`));
        dispatcher(store);
        dispatcher(other);
        dispatcher(store);
        await Promise.all(ids.map((id) => settled(id)));
        const counts = new Map<string, number>();
        for (const r of receiver.received) counts.set(r.path, (counts.get(r.path) ?? 0) + 1);
        expect(counts.size).toBe(30);
        expect([...counts.values()].every((n) => n === 1)).toBe(true);
      } finally {
        for (const d of dispatchers.splice(0)) await d.stop(100);
        await other.close();
      }
    });
  });
}
