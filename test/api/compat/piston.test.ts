import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pistonRun } from '../../../src/api/compat/piston/request.js';
import { versionMatches } from '../../../src/api/compat/piston/runtimes.js';
import { buildPlan } from '../../../src/executions/plan.js';
import { submitRun } from '../../../src/executions/submit.js';
import { call, startHarness, type Harness } from '../harness.js';
import { PISTON } from './fixtures.js';

// The Piston v2 subset through the real app, without an executor: runtimes, and every refusal
// (they come before anything is queued) with its status, Piston's {"message"} and codexec's code.
// What a request becomes (limits, args) is read from pistonRun over the real language registry.

const CODE = 'codexec-error-code';
const exec = (h: Harness, body: unknown, headers: Record<string, string> = {}) => call(h, 'POST', '/api/v2/execute', body, headers);
const one = (content: string, extra: Record<string, unknown> = {}) => ({ language: 'python', version: '*', files: [{ content }], ...extra });

describe('piston API (no executor)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ shippedProfiles: true, config: { compat: ['piston'] } });
  });
  afterAll(async () => h.close());

  it('runtimes: every installed language with its version and aliases; C++ is "c++"; also under /api/v2/piston', async () => {
    const res = await call(h, 'GET', '/api/v2/runtimes');
    expect(res.status).toBe(200);
    const names = res.json.map((r: { language: string }) => r.language).sort();
    const installed = h.languages.list().filter((p) => p.available).map((p) => (p.id === 'cpp' ? 'c++' : p.id));
    expect(names).toEqual(installed.sort());
    expect(names).toContain('c++');
    const python = res.json.find((r: { language: string }) => r.language === 'python');
    expect(python).toEqual({ language: 'python', version: h.languages.find('python')!.version, aliases: ['python3', 'py'] });
    expect(res.json.find((r: { language: string }) => r.language === 'c++').aliases).toContain('cpp');
    expect(res.json.find((r: { language: string }) => r.language === 'bash').version).toMatch(/^\d+\.\d+\.\d+$/);
    expect((await call(h, 'GET', '/api/v2/piston/runtimes')).json).toEqual(res.json);
    // Judge0 is not enabled here.
    expect((await call(h, 'GET', '/judge0/statuses')).status).toBe(404);
  });

  it('versions: "*", exact, a prefix or x parts match; ranges are refused', () => {
    expect(versionMatches('*', '3.11.2')).toBe(true);
    expect(versionMatches('3.11.2', '3.11.2')).toBe(true);
    expect(versionMatches('3.11', '3.11.2')).toBe(true);
    expect(versionMatches('3.x', '3.11.2')).toBe(true);
    expect(versionMatches('3.10', '3.11.2')).toBe(false);
    expect(versionMatches('3.11.2.1', '3.11.2')).toBe(false);
    expect(() => versionMatches('^3.0.0', '3.11.2')).toThrow(/not ranges/);
  });

  it('refuses an unknown language or version, a range, more than one file, with 422', async () => {
    const unknown = await exec(h, { ...PISTON.execute.body, language: 'cobol' });
    expect(unknown.status).toBe(422);
    expect(unknown.json).toEqual({ message: expect.stringMatching(/^cobol-\* runtime is unknown/) });
    expect(unknown.headers[CODE]).toBe('unsupported_language');
    const version = await exec(h, one('print(1)', { version: '2.7' }));
    expect(version.status).toBe(422);
    expect(version.json.message).toMatch(/python-2\.7 runtime is unknown \(this host has python /);
    const range = await exec(h, one('print(1)', { version: '>=3' }));
    expect(range.status).toBe(422);
    expect(range.headers[CODE]).toBe('unsupported_field');
    const files = await exec(h, { ...one('print(1)'), files: [{ name: 'main.py', content: 'import util' }, { name: 'util.py', content: '' }] });
    expect(files.status).toBe(422);
    expect(files.json.message).toMatch(/^files: codexec runs one source file/);
    expect(files.headers[CODE]).toBe('unsupported_field');
  });

  it('refuses limits above the language\'s maximum (422) and below codexec\'s minimum (400)', async () => {
    for (const [field, value] of [['run_timeout', 60_000], ['run_cpu_time', 60_000], ['run_memory_limit', 8 * 1024 ** 3]] as const) {
      const res = await exec(h, one('print(1)', { [field]: value }));
      expect(res.status, field).toBe(422);
      expect(res.json.message, field).toMatch(new RegExp(`^${field}: must be at most`));
      expect(res.headers[CODE], field).toBe('limit_above_maximum');
    }
    const compile = await exec(h, { language: 'c++', files: [{ content: 'int main(){}' }], compile_timeout: 120_000 });
    expect(compile.status).toBe(422);
    expect(compile.json.message).toMatch(/^compile_timeout: must be at most 60000 \(ms\)/);
    for (const [field, value] of [['run_timeout', 0], ['run_memory_limit', 1024]] as const) {
      const res = await exec(h, one('print(1)', { [field]: value }));
      expect(res.status, field).toBe(400);
      expect(res.headers[CODE], field).toBe('invalid_request');
    }
  });

  it('refuses args a program cannot receive, fields Piston does not have, bad encodings, too much', async () => {
    const cases: [unknown, number, string][] = [
      [one('print(1)', { args: ['a\u0000b'] }), 400, 'invalid_request'],
      [one('print(1)', { args: [''] }), 400, 'invalid_request'],
      [one('print(1)', { args: Array(33).fill('x') }), 400, 'invalid_request'],
      [one('print(1)', { run_timeout: 'soon' }), 400, 'invalid_request'],
      [one('print(1)', { timeout: 5 }), 400, 'invalid_request'],
      [{ ...one(''), files: [{ content: '%%%', encoding: 'base64' }] }, 400, 'invalid_encoding'],
      [{ ...one(''), files: [{ content: 'zz', encoding: 'hex' }] }, 400, 'invalid_encoding'],
      [{ ...one(''), files: [{ content: Buffer.from([0xc3, 0x28]).toString('base64'), encoding: 'base64' }] }, 400, 'invalid_encoding'],
      [{ ...one(''), files: [{ content: 'x', encoding: 'utf16' }] }, 400, 'invalid_request'],
      [{ files: [{ content: 'print(1)' }] }, 400, 'invalid_request'],
      [one('x'.repeat(h.config.maxSourceBytes + 1)), 413, 'source_too_large'],
      [one('print(1)', { stdin: 'x'.repeat(h.config.maxStdinBytes + 1) }), 413, 'stdin_too_large'],
      [one('print(1)', { stdin: 'x'.repeat(h.config.maxBodyBytes) }), 413, 'body_too_large'],
    ];
    for (const [body, status, code] of cases) {
      const res = await exec(h, body);
      expect([res.status, res.headers[CODE]], JSON.stringify(body).slice(0, 120)).toEqual([status, code]);
      expect(Object.keys(res.json)).toEqual(['message']);
    }
  });

  it('takes its JSON as text/plain too (the npm piston-client sends it so); codexec\'s own routes do not', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: '/api/v2/execute',
      headers: { 'content-type': 'text/plain;charset=UTF-8' },
      payload: JSON.stringify({ ...PISTON.execute.body, language: 'cobol' }),
    });
    expect(res.statusCode).toBe(422); // parsed, then refused for its language
    const bad = await h.app.inject({ method: 'POST', url: '/api/v2/execute', headers: { 'content-type': 'text/plain' }, payload: '{"language": ' });
    expect(bad.statusCode).toBe(400);
    expect(bad.headers[CODE]).toBe('invalid_json');
    const native = await h.app.inject({ method: 'POST', url: '/code-sessions', headers: { 'content-type': 'text/plain' }, payload: '{"language":"python"}' });
    expect(native.statusCode).toBe(415);
  });

  it('what a request becomes: -1 is the language\'s own limit, run_timeout bounds CPU too, compile limits only lower', () => {
    const { submission } = pistonRun(PISTON.execute.body as never, h.languages);
    expect(submission).toMatchObject({ source: { language: 'javascript' }, wallTimeMs: 3000, cpuTimeMs: 3000, args: ['1', '2', '3'] });
    expect(submission.memoryLimitBytes).toBeUndefined();
    expect(submission.compileLimits).toBeUndefined(); // JavaScript compiles nothing
    const cpp = pistonRun({ language: 'cpp', version: '*', files: [{ content: 'int main(){}' }], compile_timeout: 10_000, compile_memory_limit: 256 * 1024 ** 2, run_cpu_time: 1000 }, h.languages);
    expect(cpp.profile.id).toBe('cpp');
    expect(cpp.submission).toMatchObject({ compileLimits: { wallTimeMs: 10_000, memoryBytes: 256 * 1024 ** 2 }, cpuTimeMs: 1000, wallTimeMs: 5000 });
    const hex = pistonRun({ language: 'py', files: [{ content: Buffer.from('print("hé")').toString('hex'), encoding: 'hex' }] }, h.languages);
    expect(hex.submission.source).toEqual({ language: 'python', sourceCode: 'print("hé")' });
  });

  it('the stored plan carries it: compile limits lowered (never raised), args after the program\'s command', async () => {
    const { submission } = pistonRun({ language: 'c++', files: [{ content: 'int main(){}' }], compile_timeout: 10_000, args: ['a', 'b c'] }, h.languages);
    const { execution } = await submitRun({ config: h.config, jobs: h.jobs, languages: h.languages }, submission);
    const cpp = h.languages.find('cpp')!;
    expect(execution.plan!.compile!.limits).toEqual({ ...cpp.compile!.limits, wallTimeMs: 10_000 });
    expect(execution.plan!.run.argv).toEqual([...cpp.run.argv, 'a', 'b c']);
    // buildPlan itself never lets a compile override raise the profile's limit.
    const raised = buildPlan(cpp, { sourceCode: 'int main(){}', stdin: '', expectedOutput: null, testCases: null, overrides: {}, compileOverrides: { wallTimeMs: 999_999, memoryBytes: 1 } });
    expect(raised.compile!.limits).toEqual({ ...cpp.compile!.limits, memoryBytes: 1 });
  });
});
