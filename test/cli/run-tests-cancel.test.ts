import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, codexec, tempDir } from './helpers.js';

// `codexec run --tests DIR` and Ctrl-C, on the local database with the command's own executor
// (the real sandbox: needs root), as an instructor uses them.

const isRoot = process.geteuid?.() === 0;
let dir: string;
let env: Record<string, string>;

beforeAll(() => {
  dir = tempDir('codexec-cli-tests-');
  env = cleanEnv({ CODEXEC_DATA_DIR: path.join(dir, 'data') });
  fs.writeFileSync(path.join(dir, 'double.py'), 'print(int(input()) * 2)\n');
  fs.writeFileSync(path.join(dir, 'slow.py'), 'import time\ntime.sleep(60)\n');
  const cases = path.join(dir, 'cases');
  fs.mkdirSync(cases);
  for (const [name, input, want] of [['1', '2', '4'], ['2', '5', '10'], ['10', '7', '14']]) {
    fs.writeFileSync(path.join(cases, `${name}.in`), `${input}\n`);
    fs.writeFileSync(path.join(cases, `${name}.out`), `${want}\n`);
  }
  const failing = path.join(dir, 'failing');
  fs.cpSync(cases, failing, { recursive: true });
  fs.writeFileSync(path.join(failing, '2.out'), '11\n');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('codexec run --tests: usage errors (exit 2)', () => {
  it('refuses a missing directory, a case without its .out, and --tests with --stdin', async () => {
    const missing = await codexec(['run', 'double.py', '--tests', 'nowhere'], { cwd: dir, env });
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toMatch(/--tests: nowhere is not a directory/);
    const orphan = path.join(dir, 'orphan');
    fs.mkdirSync(orphan);
    fs.writeFileSync(path.join(orphan, 'a.in'), '1\n');
    const noOut = await codexec(['run', 'double.py', '--tests', 'orphan'], { cwd: dir, env });
    expect(noOut.exitCode).toBe(2);
    expect(noOut.stderr).toMatch(/a\.in .*has no \.out/);
    fs.writeFileSync(path.join(dir, 'in.txt'), '1\n');
    const both = await codexec(['run', 'double.py', '--tests', 'cases', '--stdin', 'in.txt'], { cwd: dir, env });
    expect(both.exitCode).toBe(2);
  });
});

describe.skipIf(!isRoot)('codexec run --tests and Ctrl-C (needs root for the sandbox)', () => {
  it('prints a table of cases in natural order and exits 0 when every case passes', async () => {
    const r = await codexec(['run', 'double.py', '--tests', 'cases'], { cwd: dir, env, timeout: 90_000 });
    expect(r.exitCode, r.stderr).toBe(0);
    const rows = String(r.stdout).trim().split('\n');
    expect(rows[0]).toMatch(/^CASE\s+STATUS\s+TIME$/);
    expect(rows.slice(1).map((l) => l.split(/\s+/).slice(0, 2))).toEqual([['1', 'passed'], ['2', 'passed'], ['10', 'passed']]);
    expect(r.stderr).toMatch(/All 3 test cases passed/);
  }, 120_000);

  it('exits 1 when a case fails, and says why', async () => {
    const r = await codexec(['run', 'double.py', '--tests', 'failing'], { cwd: dir, env, timeout: 90_000 });
    expect(r.exitCode).toBe(1);
    expect(String(r.stdout)).toMatch(/^2\s+wrong_answer/m);
    expect(String(r.stdout)).toMatch(/2: Wrong answer: line 1 differs: expected "11", got "10"/);
    expect(r.stderr).toMatch(/2\/3 test cases passed/);
  }, 120_000);

  it('Ctrl-C cancels the execution: exit 130, and it ends FAILED/canceled instead of running on', async () => {
    const child = codexec(['run', 'slow.py', '--time-limit', '30000'], { cwd: dir, env, timeout: 60_000 });
    const db = path.join(dir, 'data', 'codexec.db');
    const running = () => {
      if (!fs.existsSync(db)) return false;
      const raw = new Database(db, { readonly: true });
      try {
        return (raw.prepare("SELECT COUNT(*) AS n FROM executions WHERE status = 'RUNNING'").get() as { n: number }).n > 0;
      } finally {
        raw.close();
      }
    };
    for (let i = 0; i < 300 && !running(); i++) await new Promise((r) => setTimeout(r, 100));
    expect(running()).toBe(true);
    child.kill('SIGINT');
    const r = await child;
    expect(r.exitCode).toBe(130);
    expect(r.stderr).toMatch(/execution .* canceled/);
    const raw = new Database(db, { readonly: true });
    const last = raw.prepare("SELECT status, json_extract(result, '$.failureReason') AS reason FROM executions ORDER BY seq DESC LIMIT 1").get();
    raw.close();
    expect(last).toEqual({ status: 'FAILED', reason: 'canceled' });
  }, 90_000);
});
