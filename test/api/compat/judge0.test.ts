import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { call, createSession, startHarness, type Harness } from '../harness.js';
import { C_GREETER, JUDGE0 } from './fixtures.js';

// The Judge0 CE subset through the real app (no executor: executions stay In Queue): its
// documentation's examples as our own fixtures, every refusal with its status, body and code.

const CODE = 'codexec-error-code';
const DEFAULT_FIELDS = ['compile_output', 'memory', 'message', 'status', 'stderr', 'stdout', 'time', 'token'];
const compat = { compat: ['judge0', 'piston'] };
const post = (h: Harness, body: unknown, query = '') => call(h, 'POST', `/judge0/submissions${query}`, body);

describe('judge0 API (no executor)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ shippedProfiles: true, config: compat });
  });
  afterAll(async () => h.close());

  it('is off unless CODEXEC_COMPAT lists it', async () => {
    const off = await startHarness();
    try {
      expect(off.config.compat).toEqual([]);
      expect((await call(off, 'GET', '/judge0/statuses')).json.error.code).toBe('route_not_found');
      expect((await call(off, 'GET', '/api/v2/runtimes')).status).toBe(404);
    } finally {
      await off.close();
    }
  });

  it('statuses: Judge0\'s fourteen, by id', async () => {
    const res = await call(h, 'GET', '/judge0/statuses');
    expect(res.status).toBe(200);
    expect(res.json.map((s: { id: number }) => s.id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
    expect(res.json.slice(0, 6).map((s: { description: string }) => s.description)).toEqual([
      'In Queue', 'Processing', 'Accepted', 'Wrong Answer', 'Time Limit Exceeded', 'Compilation Error',
    ]);
    expect(res.json[6]).toEqual({ id: 7, description: 'Runtime Error (SIGSEGV)' });
    expect(res.json[10]).toEqual({ id: 11, description: 'Runtime Error (NZEC)' });
    expect(res.json[12]).toEqual({ id: 13, description: 'Internal Error' });
  });

  it('languages: one Judge0 id per installed language, named with this host\'s version, by name', async () => {
    const res = await call(h, 'GET', '/judge0/languages');
    expect(res.status).toBe(200);
    const ids = res.json.map((l: { id: number }) => l.id);
    expect(new Set(ids).size).toBe(ids.length);
    const shipped: Record<string, number> = { bash: 46, c: 50, cpp: 54, go: 60, java: 62, javascript: 63, php: 68, python: 71, ruby: 72, rust: 73, typescript: 74, perl: 85 };
    const installed = Object.entries(shipped).filter(([id]) => h.languages.find(id)?.available).map(([, n]) => n);
    expect(ids.sort((a: number, b: number) => a - b)).toEqual(installed.sort((a, b) => a - b));
    const python = h.languages.find('python')!.version!;
    expect(res.json).toContainEqual({ id: 71, name: `Python (${python})` });
    const names = res.json.map((l: { name: string }) => l.name);
    expect(names).toEqual([...names].sort((a: string, b: string) => a.localeCompare(b)));
  });

  it('creates a submission: 201 {"token"}, the token is the execution, GET shows Judge0\'s eight fields', async () => {
    const res = await post(h, JUDGE0.create.body);
    expect(res.status, res.body).toBe(201);
    expect(Object.keys(res.json)).toEqual(['token']);
    const job = await h.jobs.get(res.json.token);
    expect(job).toMatchObject({ sessionId: null, language: 'c', sourceCode: C_GREETER, status: 'QUEUED' });
    expect(job!.plan!.stdin).toBe('world');
    const got = await call(h, 'GET', `/judge0/submissions/${res.json.token}`);
    expect(got.status).toBe(200);
    expect(Object.keys(got.json).sort()).toEqual(DEFAULT_FIELDS);
    expect(got.json).toMatchObject({ token: res.json.token, stdout: null, time: null, memory: null, status: { id: 1, description: 'In Queue' } });
    // Another Judge0 id of the same language runs the same language; a numeric string is a number.
    expect((await h.jobs.get((await post(h, { ...JUDGE0.create.body, language_id: '103' })).json.token))!.language).toBe('c');
  });

  it('?fields: the ones asked for, * for all, an unknown one is 400', async () => {
    const { token } = (await post(h, JUDGE0.create.body)).json;
    const some = await call(h, 'GET', `/judge0/submissions/${token}?fields=stdout,stderr,status_id,language_id`);
    expect(some.json).toEqual({ stdout: null, stderr: null, status_id: 1, language_id: 50 });
    const all = await call(h, 'GET', `/judge0/submissions/${token}?fields=*`);
    expect(all.json).toMatchObject({ source_code: C_GREETER, stdin: 'world', language: { id: 50 }, cpu_time_limit: '5.0', memory_limit: 262144, number_of_runs: 1 });
    const bad = await call(h, 'GET', `/judge0/submissions/${token}?fields=stdout,bogus`);
    expect(bad.status).toBe(400);
    expect(bad.json).toEqual({ error: 'invalid fields: [bogus]' });
    expect(bad.headers[CODE]).toBe('invalid_request');
    const b64 = await call(h, 'GET', `/judge0/submissions/${token}?fields=source_code,stdin&base64_encoded=true`);
    expect(Buffer.from(b64.json.stdin, 'base64').toString()).toBe('world');
    expect(Buffer.from(b64.json.source_code, 'base64').toString()).toBe(C_GREETER);
  });

  it('refuses what it cannot honour, in Judge0\'s shape, with codexec\'s code', async () => {
    const missing = await post(h, JUDGE0.missingLanguage.body);
    expect(missing.status).toBe(JUDGE0.missingLanguage.status);
    expect(Object.keys(missing.json)).toEqual([JUDGE0.missingLanguage.field]);
    expect(missing.headers[CODE]).toBe('invalid_request');

    const unknown = await post(h, JUDGE0.unknownLanguage.body);
    expect(unknown.status).toBe(422);
    expect(unknown.json).toEqual({ language_id: [expect.stringMatching(/language with id 150000 doesn't exist/)] });
    expect(unknown.headers[CODE]).toBe('unsupported_language');
    expect((await post(h, { ...JUDGE0.create.body, language_id: 70 })).headers[CODE]).toBe('unsupported_language'); // Python 2

    const high = await post(h, JUDGE0.limitsTooHigh.body);
    expect(high.status).toBe(422);
    expect(high.json).toEqual({ wall_time_limit: [expect.stringMatching(/must be at most 30 \(s\)/)] });
    expect(high.headers[CODE]).toBe('limit_above_maximum');
    expect((await post(h, { ...JUDGE0.create.body, memory_limit: 4 * 1024 * 1024 })).headers[CODE]).toBe('limit_above_maximum');
    const low = await post(h, { ...JUDGE0.create.body, memory_limit: 1000 });
    expect(low.status).toBe(400);
    expect(Object.keys(low.json)).toEqual(['memory_limit']);

    const unsupported: Record<string, unknown> = {
      compiler_options: '-O3',
      cpu_extra_time: 0.5,
      stack_limit: 64000,
      max_processes_and_or_threads: 60,
      enable_per_process_and_thread_time_limit: true,
      enable_per_process_and_thread_memory_limit: true,
      max_file_size: 1024,
      redirect_stderr_to_stdout: true,
      number_of_runs: 2,
      callback_url: 'http://127.0.0.1:9/cb',
      additional_files: 'UEsDBA==',
      enable_network: true,
    };
    for (const [field, value] of Object.entries(unsupported)) {
      const res = await post(h, { ...JUDGE0.create.body, [field]: value });
      expect(res.status, field).toBe(422);
      expect(Object.keys(res.json), field).toEqual([field]);
      expect(res.headers[CODE], field).toBe('unsupported_field');
    }
    // Their "off" values, and null for any of them, are fine; so are an answer's fields sent back.
    const off = await post(h, {
      ...JUDGE0.create.body,
      ...Object.fromEntries(Object.keys(unsupported).map((f) => [f, null])),
      cpu_extra_time: 0,
      number_of_runs: 1,
      enable_network: false,
      stdout: null,
      token: null,
      status: { id: 1, description: 'In Queue' },
    });
    expect(off.status, off.body).toBe(201);

    const unknownField = await post(h, { ...JUDGE0.create.body, input: 'SnVkZ2Uw' });
    expect(unknownField.status).toBe(400);
    expect(Object.keys(unknownField.json)).toEqual(['input']);
  });

  it('base64_encoded=true: decodes strictly; what is not base64, or not UTF-8, is 400 invalid_encoding', async () => {
    const ok = await post(h, JUDGE0.base64.body, '?base64_encoded=true');
    expect(ok.status, ok.body).toBe(201);
    const job = await h.jobs.get(ok.json.token);
    expect(job!.sourceCode).toBe(C_GREETER);
    expect(job!.plan!.stdin).toBe('Judge0');
    // Lines wrapped as Ruby's and MIME's base64 wrap them are fine.
    const wrapped = Buffer.from(C_GREETER).toString('base64').replace(/(.{60})/g, '$1\n');
    expect((await post(h, { ...JUDGE0.base64.body, source_code: wrapped }, '?base64_encoded=true')).status).toBe(201);

    const notBase64 = await post(h, { ...JUDGE0.base64.body, stdin: 'this is not base64!' }, '?base64_encoded=true');
    expect(notBase64.status).toBe(400);
    expect(notBase64.json).toEqual({ stdin: [expect.stringMatching(/not base64/)] });
    expect(notBase64.headers[CODE]).toBe('invalid_encoding');
    const notText = await post(h, { ...JUDGE0.base64.body, source_code: Buffer.from([0xff, 0xfe, 0x00]).toString('base64') }, '?base64_encoded=true');
    expect(notText.status).toBe(400);
    expect(notText.json).toEqual({ source_code: [expect.stringMatching(/UTF-8/)] });
    expect(notText.headers[CODE]).toBe('invalid_encoding');
  });

  it('too large: source, stdin and body, each with its code', async () => {
    const source = await post(h, { ...JUDGE0.create.body, source_code: 'x'.repeat(h.config.maxSourceBytes + 1) });
    expect(source.status).toBe(413);
    expect(Object.keys(source.json)).toEqual(['source_code']);
    expect(source.headers[CODE]).toBe('source_too_large');
    const stdin = await post(h, { ...JUDGE0.create.body, stdin: 'x'.repeat(h.config.maxStdinBytes + 1) });
    expect(stdin.status).toBe(413);
    expect(stdin.headers[CODE]).toBe('stdin_too_large');
    const body = await post(h, { ...JUDGE0.create.body, stdin: 'x'.repeat(h.config.maxBodyBytes) });
    expect(body.status).toBe(413);
    expect(body.json).toEqual({ error: expect.stringMatching(/body too large/) });
    expect(body.headers[CODE]).toBe('body_too_large');
    const lone = await post(h, { ...JUDGE0.create.body, stdin: '\ud800x' });
    expect(lone.status).toBe(400);
    expect(lone.headers[CODE]).toBe('invalid_text');
  });

  it('limits: seconds and KB become the plan\'s limits; a CPU limit alone raises the wall-clock one to it', async () => {
    const plan = async (extra: Record<string, unknown>) => (await h.jobs.get((await post(h, { ...JUDGE0.create.body, ...extra })).json.token))!.plan!;
    expect((await plan({ cpu_time_limit: 2 })).run.limits).toMatchObject({ cpuTimeMs: 2000, wallTimeMs: 5000 });
    expect((await plan({ cpu_time_limit: '8.5' })).run.limits).toMatchObject({ cpuTimeMs: 8500, wallTimeMs: 8500 });
    expect((await plan({ cpu_time_limit: 1, wall_time_limit: 3 })).run.limits).toMatchObject({ cpuTimeMs: 1000, wallTimeMs: 3000 });
    expect((await plan({ memory_limit: 65536 })).run.limits.memoryBytes).toBe(64 * 1024 * 1024);
    expect((await plan({ command_line_arguments: ' alpha  beta=2 ' })).run.argv.slice(-2)).toEqual(['alpha', 'beta=2']);
    const quoted = await post(h, { ...JUDGE0.create.body, command_line_arguments: '"two words"' });
    expect(quoted.status).toBe(422);
    expect(quoted.headers[CODE]).toBe('unsupported_field');
    // Words that look like launcher options are the program's words (the launcher counts them:
    // test/security/argv.test.ts runs them).
    expect((await plan({ command_line_arguments: 'x --end --no-seccomp' })).run.argv.slice(-3)).toEqual(['x', '--end', '--no-seccomp']);
  });

  it('GET: an unknown token, a malformed one and a session\'s execution are 404', async () => {
    const unknown = await call(h, 'GET', '/judge0/submissions/00000000-0000-4000-8000-000000000000');
    expect(unknown.status).toBe(404);
    expect(unknown.json).toEqual({ error: expect.any(String) });
    expect(unknown.headers[CODE]).toBe('execution_not_found');
    expect((await call(h, 'GET', '/judge0/submissions/not-a-token')).status).toBe(404);
    const s = await createSession(h, { language: 'python', source_code: 'print(1)' });
    const run = await call(h, 'POST', `/code-sessions/${s.session_id}/run`, {});
    expect((await call(h, 'GET', `/judge0/submissions/${run.json.execution_id}`)).status).toBe(404);
  });

  it('batch: created and refused ones answered in order; GET batch answers null for unknown tokens', async () => {
    const res = await call(h, 'POST', '/judge0/submissions/batch', JUDGE0.batch.body);
    expect(res.status).toBe(201);
    expect(res.json).toHaveLength(3);
    const tokens = res.json.map((t: { token: string }) => t.token);
    expect((await Promise.all(tokens.map((t: string) => h.jobs.get(t)))).map((j) => j!.language)).toEqual(['bash', 'python', 'ruby']);

    const mixed = await call(h, 'POST', '/judge0/submissions/batch', {
      submissions: [JUDGE0.create.body, JUDGE0.unknownLanguage.body, { source_code: 1, language_id: 50 }, { ...JUDGE0.create.body, stack_limit: 1 }],
    });
    expect(mixed.status).toBe(201);
    expect(mixed.json[0]).toEqual({ token: expect.any(String) });
    expect(Object.keys(mixed.json[1])).toEqual(['language_id']);
    expect(Object.keys(mixed.json[2])).toEqual(['source_code']);
    expect(Object.keys(mixed.json[3])).toEqual(['stack_limit']);
    const none = await call(h, 'POST', '/judge0/submissions/batch', { submissions: [JUDGE0.unknownLanguage.body] });
    expect(none.status).toBe(422);
    expect(none.headers[CODE]).toBe('unsupported_language');
    expect((await call(h, 'POST', '/judge0/submissions/batch', { submissions: [] })).status).toBe(400);
    const many = await call(h, 'POST', '/judge0/submissions/batch', { submissions: Array(21).fill(JUDGE0.create.body) });
    expect(many.status).toBe(400);
    expect(many.json.error).toMatch(/less than or equal to 20/);

    const got = await call(h, 'GET', `/judge0/submissions/batch?tokens=${tokens[0]},${tokens[2]},00000000-0000-4000-8000-000000000000&fields=token,status_id`);
    expect(got.status).toBe(200);
    expect(got.json).toEqual({ submissions: [{ token: tokens[0], status_id: 1 }, { token: tokens[2], status_id: 1 }, null] });
    expect((await call(h, 'GET', '/judge0/submissions/batch?tokens=')).status).toBe(400);
    expect((await call(h, 'GET', `/judge0/submissions/batch?tokens=${Array(21).fill(tokens[0]).join(',')}`)).status).toBe(400);
  });

  it('wait=true answers with the submission as it is when it can wait no longer (here: the server shuts down)', async () => {
    const h2 = await startHarness({ shippedProfiles: true, config: compat });
    try {
      const pending = post(h2, JUDGE0.create.body, '?wait=true');
      while ((await h2.jobs.stats()).counts.QUEUED === 0) await new Promise((r) => setTimeout(r, 10));
      h2.app.codexec.beginShutdown();
      const res = await pending;
      expect(res.status).toBe(201);
      expect(Object.keys(res.json).sort()).toEqual(DEFAULT_FIELDS);
      expect(res.json.status).toEqual({ id: 1, description: 'In Queue' });
      expect((await h2.jobs.get(res.json.token))!.status).toBe('QUEUED'); // still there to be polled
    } finally {
      await h2.close();
    }
  });

  it('is in the OpenAPI document under the judge0 and piston tags (the /api/v2/piston aliases hidden)', async () => {
    const doc = (await call(h, 'GET', '/openapi.json')).json;
    expect(doc.paths['/judge0/submissions'].post.tags).toEqual(['judge0']);
    expect(doc.paths['/judge0/submissions/{token}'].get.tags).toEqual(['judge0']);
    expect(doc.paths['/api/v2/execute'].post.tags).toEqual(['piston']);
    expect(doc.paths['/api/v2/runtimes'].get.tags).toEqual(['piston']);
    expect(doc.paths['/api/v2/piston/execute']).toBeUndefined();
  });
});

describe('judge0 API limits shared with codexec\'s own', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness({ shippedProfiles: true, config: { ...compat, rateLimitRunsPerMinute: 3, queueMaxDepth: 4 } });
  });
  afterEach(async () => h.close());

  it('each submission, in a batch too, counts against CODEXEC_RATE_LIMIT_RUNS_PER_MINUTE', async () => {
    expect((await call(h, 'POST', '/judge0/submissions/batch', { submissions: [JUDGE0.create.body, JUDGE0.create.body] })).status).toBe(201);
    expect((await post(h, JUDGE0.create.body)).status).toBe(201);
    const limited = await post(h, JUDGE0.create.body);
    expect(limited.status).toBe(429);
    expect(limited.json).toEqual({ error: expect.stringMatching(/at most 3 runs per minute/) });
    expect(limited.headers[CODE]).toBe('rate_limited');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    // Another client (another X-Api-Key) has its own count.
    expect((await call(h, 'POST', '/judge0/submissions', JUDGE0.create.body, { 'x-api-key': 'other' })).status).toBe(201);
  });

  it('a full queue is 503 queue_full', async () => {
    for (let i = 0; i < 4; i++) expect((await call(h, 'POST', '/judge0/submissions', JUDGE0.create.body, { 'x-api-key': `k${i}` })).status).toBe(201);
    const full = await call(h, 'POST', '/judge0/submissions', JUDGE0.create.body, { 'x-api-key': 'k9' });
    expect(full.status).toBe(503);
    expect(full.json).toEqual({ error: expect.stringMatching(/queue is full/) });
    expect(full.headers[CODE]).toBe('queue_full');
  });
});
