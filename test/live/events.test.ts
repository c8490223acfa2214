import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { call, createSession } from '../api/harness.js';
import { liveRig, openStream, program, scriptedSandbox, textOf, type LiveRig } from './helpers.js';

// GET /executions/{id}/events over a real app and a real executor (its own queue connection, as
// another process would have), with a sandbox that plays chunk sequences: state changes, output
// as it comes (a UTF-8 character split between chunks, stderr interleaved), per-case events,
// Last-Event-ID, heartbeats, a late watcher, and what the stream never shows (hidden cases).

const SPLIT = Buffer.from('é', 'utf8').toString('hex'); // c3a9: sent as two chunks below

async function submit(r: LiveRig, body: Record<string, unknown>, sourceCode: string): Promise<string> {
  const s = await createSession(r.h, { language: 'python', source_code: sourceCode });
  const run = await call(r.h, 'POST', `/code-sessions/${s.session_id}/run`, body);
  expect(run.status, run.body).toBe(202);
  return run.json.execution_id;
}

/** A stream that has received its first state. */
async function s0(r: LiveRig, id: string) {
  const s = await openStream(r.url, id);
  await s.next('state');
  return s;
}

describe('live output (SQLite, scripted sandbox)', () => {
  let r: LiveRig;
  beforeEach(async () => {
    r = await liveRig(scriptedSandbox(), { config: { eventsHeartbeatMs: 100 } });
  });
  afterEach(async () => r.close());

  it('streams state, output as it comes and the result; the output events add up to the stored output', async () => {
    const src = program({
      out: [
        ['stdout', 'line 1\n', 150],
        ['stderr', 'warn\n', 50],
        ['stdout', { hex: SPLIT.slice(0, 2) }, 50],
        ['stdout', { hex: SPLIT.slice(2) }, 50],
        ['stdout', '\nline 2\n', 50],
      ],
    });
    const id = await submit(r, {}, src);
    const s = await openStream(r.url, id);
    expect(s.status).toBe(200);
    await s.ended;
    const names = s.events.map((e) => e.event);
    expect(names[0]).toBe('state');
    expect(names.at(-1)).toBe('result');
    expect(s.events.filter((e) => e.event === 'output' && e.data.stream === 'stdout').length).toBeGreaterThan(1); // in pieces, as printed
    expect(s.events.filter((e) => e.event === 'state').map((e) => e.data.status)).toContain('RUNNING');
    const result = s.events.at(-1)!.data;
    expect(result).toMatchObject({ execution_id: id, status: 'COMPLETED', stdout: 'line 1\né\nline 2\n', stderr: 'warn\n' });
    expect(textOf(s.events, 'stdout')).toBe(result.stdout);
    expect(textOf(s.events, 'stderr')).toBe(result.stderr);
    // Every output event has an id, in increasing order.
    const ids = s.events.filter((e) => e.event === 'output').map((e) => e.id!);
    expect(ids.every((i) => /^\d+\.\d+$/.test(i))).toBe(true);
    expect(s.comments).toBeGreaterThan(0); // heartbeats every 100 ms
    // Polling is as it was.
    expect((await call(r.h, 'GET', `/executions/${id}`)).json).toMatchObject({ status: 'COMPLETED', stdout: result.stdout, webhook: null });
  });

  it('Last-Event-ID resumes after the last event seen, without repeating or losing any', async () => {
    const src = program({ out: Array.from({ length: 8 }, (_, i) => ['stdout', `chunk ${i}\n`, 60] as [string, string, number]) as never });
    const id = await submit(r, {}, src);
    const first = await openStream(r.url, id);
    // Leave after the third output event, then come back with its id.
    for (;;) {
      if (first.events.filter((e) => e.event === 'output').length >= 3) break;
      await new Promise((res) => setTimeout(res, 10));
    }
    first.close();
    const seen = first.events.filter((e) => e.event === 'output');
    const last = seen.at(-1)!.id!;
    const second = await openStream(r.url, id, { 'last-event-id': last });
    await second.ended;
    const all = textOf(seen, 'stdout') + textOf(second.events, 'stdout');
    expect(all).toBe(Array.from({ length: 8 }, (_, i) => `chunk ${i}\n`).join(''));
    expect(second.events.at(-1)!.event).toBe('result');
    // The same through the query parameter, after the end: nothing repeated, the result again.
    const third = await openStream(r.url, id, {}, `?last_event_id=${encodeURIComponent(second.events.filter((e) => e.event === 'output').at(-1)!.id!)}`);
    await third.ended;
    expect(third.events.map((e) => e.event)).toEqual(['state', 'result']);
  });

  it('a watcher who comes while it runs gets what was printed before it came, then the rest, as recorded rows', async () => {
    const id = await submit(r, {}, program({ out: [['stdout', 'early\n', 0], ['stderr', 'early err\n', 0], ['stdout', 'late\n', 700]] }));
    for (;;) {
      if ((await call(r.h, 'GET', `/executions/${id}`)).json.status === 'RUNNING') break;
      await new Promise((res) => setTimeout(res, 10));
    }
    await new Promise((res) => setTimeout(res, 150)); // "early" is printed, nobody watching yet
    const s = await openStream(r.url, id);
    await s.ended;
    expect(textOf(s.events, 'stdout')).toBe('early\nlate\n');
    expect(textOf(s.events, 'stderr')).toBe('early err\n');
    expect(s.events.filter((e) => e.event === 'output').every((e) => /^\d+\.\d+$/.test(e.id!))).toBe(true);
  });

  it('a watcher who comes after the end gets the whole output from the stored result, then the result', async () => {
    const id = await submit(r, {}, program({ out: [['stdout', 'hello\n', 0], ['stderr', 'bye\n', 0]] }));
    await call(r.h, 'GET', `/executions/${id}?wait_ms=10000`);
    const s = await openStream(r.url, id);
    await s.ended;
    expect(s.events.map((e) => e.event)).toEqual(['state', 'output', 'output', 'result']);
    expect(textOf(s.events, 'stdout')).toBe('hello\n');
    expect(s.events[1]!.id).toBe('end.0');
    // Resuming inside those: only what follows.
    const again = await openStream(r.url, id, { 'last-event-id': 'end.0' });
    await again.ended;
    expect(again.events.map((e) => e.event)).toEqual(['state', 'output', 'result']);
    expect(textOf(again.events, 'stderr')).toBe('bye\n');
  });

  it('test cases: per-case events in order; a hidden case shows only its status, never its output', async () => {
    const src = program({ out: [['stdout', 'got $STDIN\n', 30]] });
    const id = await submit(
      r,
      {
        test_cases: [
          { name: 'one', stdin: 'a', expected_output: 'got a' },
          { name: 'secret', stdin: 'hidden-in-4b2', expected_output: 'nope', hidden: true },
          { name: 'three', stdin: 'c', expected_output: 'wrong' },
        ],
      },
      src,
    );
    const s = await openStream(r.url, id);
    await s.ended;
    const seq = s.events.filter((e) => e.event !== 'state').map((e) => `${e.event}:${e.data.case ?? ''}`);
    expect(seq).toEqual(['case_started:0', 'output:0', 'case_finished:0', 'case_started:1', 'case_finished:1', 'case_started:2', 'output:2', 'case_finished:2', 'result:']);
    expect(textOf(s.events, 'stdout', 0)).toBe('got a\n');
    const finished = s.events.filter((e) => e.event === 'case_finished').map((e) => e.data);
    expect(finished.map((c) => [c.name, c.status])).toEqual([
      ['one', 'passed'],
      ['secret', 'wrong_answer'],
      ['three', 'wrong_answer'],
    ]);
    expect(finished[1]).toMatchObject({ hidden: true, stdout: '', feedback: null });
    expect(s.events.find((e) => e.event === 'output' && e.data.case === 0)!.data.case_name).toBe('one');
    expect(JSON.stringify(s.events)).not.toContain('hidden-in-4b2');
  });

  it('shutdown ends the open streams at once, and the server closes; the run is not affected', async () => {
    const id = await submit(r, {}, program({ out: [['stdout', 'a\n', 0], ['stdout', 'b\n', 1500]] }));
    const s = await s0(r, id);
    r.h.app.codexec.beginShutdown();
    await s.ended;
    expect(s.events.at(-1)?.event).not.toBe('result');
    await r.h.app.close(); // does not wait for the streams
    const done = await r.execStore.get(id);
    expect(['RUNNING', 'COMPLETED']).toContain(done?.status);
  });

  it('answers 404 for an unknown execution and 400 for a Last-Event-ID it never sent', async () => {
    const missing = await openStream(r.url, '00000000-0000-4000-8000-000000000000');
    expect(missing.status).toBe(404);
    const id = await submit(r, {}, program({ out: [] }));
    expect((await openStream(r.url, id, { 'last-event-id': 'bogus' })).status).toBe(400);
  });
});
