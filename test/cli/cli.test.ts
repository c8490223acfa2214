import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { corePatternCheck } from '../../src/cli/doctor-checks.js';
import { workerCgroupDirs } from '../support/cgroup-dirs.js';

// The real `codexec` executable (bin/codexec -> dist/), as an instructor runs it.
const BIN = path.resolve(__dirname, '..', '..', 'bin', 'codexec');
const isRoot = process.geteuid?.() === 0;
let dir: string;
const env = () => ({ CODEXEC_DATA_DIR: path.join(dir, 'data'), PATH: process.env.PATH ?? '/usr/bin:/bin' });
const codexec = (args: string[], opts: { input?: string } = {}) =>
  execa(process.execPath, [BIN, ...args], { cwd: dir, env: env(), extendEnv: false, reject: false, timeout: 60_000, input: opts.input, stripFinalNewline: false });

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'codexec-cli-'));
  fs.writeFileSync(path.join(dir, 'hello.py'), 'print("Hello World")\n');
  fs.writeFileSync(path.join(dir, 'exit3.py'), 'import sys\nprint("partial")\nsys.exit(3)\n');
  fs.writeFileSync(path.join(dir, 'double.js'), 'const n = Number(require("fs").readFileSync(0, "utf8")); console.log(n * 2);\n');
  fs.writeFileSync(path.join(dir, 'in.txt'), '21\n');
  fs.writeFileSync(path.join(dir, 'want.txt'), '42\n');
  fs.writeFileSync(path.join(dir, 'notes.xyz'), 'x');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('codexec --help', () => {
  it('documents every command and the configuration variables', async () => {
    const r = await codexec(['--help']);
    expect(r.exitCode).toBe(0);
    for (const cmd of ['serve', 'worker', 'run', 'status', 'doctor', 'languages']) expect(r.stdout).toContain(cmd);
    expect(r.stdout).toContain('CODEXEC_DATA_DIR');
  });
  it('each subcommand has its own help with an example', async () => {
    const r = await codexec(['run', '--help']);
    expect(r.stdout).toContain('--stdin');
    expect(r.stdout).toContain('Examples');
  });
});

describe.skipIf(!isRoot)('codexec run (local database, needs root for the sandbox)', () => {
  it('prints the program output and exits 0', async () => {
    const r = await codexec(['run', 'hello.py']);
    expect(r.stdout).toBe('Hello World\n');
    expect(r.stderr).toContain('COMPLETED');
    expect(r.exitCode).toBe(0);
  });
  it('exits with the program\'s exit code', async () => {
    const r = await codexec(['run', 'exit3.py']);
    expect(r.stdout).toBe('partial\n');
    expect(r.exitCode).toBe(3);
  });
  it('feeds --stdin and judges --expected; --json prints the execution object', async () => {
    const r = await codexec(['run', 'double.js', '--stdin', 'in.txt', '--expected', 'want.txt', '--json']);
    expect(r.exitCode).toBe(0);
    const e = JSON.parse(r.stdout);
    expect(e.status).toBe('COMPLETED');
    expect(e.stdout).toBe('42\n');
    expect(e.verdict).toBe('passed');
    expect(e.language).toBe('javascript');
  });
  it('shows the execution in `codexec status`', async () => {
    const r = await codexec(['status', '--json']);
    expect(r.exitCode).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.counts.COMPLETED).toBeGreaterThanOrEqual(2);
    const text = await codexec(['status']);
    expect(text.stdout).toMatch(/COMPLETED\s+\d+/);
  });
});

describe('codexec errors are short, without a stack trace', () => {
  it('a missing file', async () => {
    const r = await codexec(['run', 'nope.py']);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/^codexec: source file nope.py: no such file/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
  it('an unknown extension', async () => {
    const r = await codexec(['run', 'notes.xyz']);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain('--language');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
  it('an invalid configuration names the variable', async () => {
    const r = await execa(process.execPath, [BIN, 'status'], { cwd: dir, env: { ...env(), CODEXEC_PORT: 'x' }, extendEnv: false, reject: false });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain('CODEXEC_PORT');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
  it('--verbose adds the stack', async () => {
    const r = await codexec(['--verbose', 'run', 'nope.py']);
    expect(r.stderr).toMatch(/\n\s+at /);
  });
});

describe('codexec languages', () => {
  it('lists python and javascript as available, with versions', async () => {
    const r = await codexec(['languages', '--json']);
    expect(r.exitCode).toBe(0);
    const list = JSON.parse(r.stdout) as { id: string; available: boolean; version: string | null }[];
    for (const id of ['python', 'javascript']) {
      const l = list.find((x) => x.id === id);
      expect(l?.available, id).toBe(true);
      expect(l?.version, id).toMatch(/^\d+\.\d+/);
    }
  });
});

describe('codexec doctor: core dumps', () => {
  it('warns when kernel.core_pattern pipes core dumps to a host helper, which RLIMIT_CORE=0 does not stop', () => {
    const piped = corePatternCheck('|/usr/lib/systemd/systemd-coredump %P %u %g %s %t %c %h\n');
    expect(piped).toMatchObject({ name: 'core dumps', ok: false, warning: true });
    expect(piped.detail).toContain('/usr/lib/systemd/systemd-coredump');
    expect(piped.hint).toMatch(/core_pattern=core/);
    expect(corePatternCheck('core\n')).toMatchObject({ ok: true });
    expect(corePatternCheck('/var/crash/core.%p')).toMatchObject({ ok: true });
  });
});

describe.skipIf(!isRoot)('codexec doctor', () => {
  it('reports every isolation capability ok on this host, and a sandboxed smoke run', async () => {
    const doctor = codexec(['doctor', '--json']);
    const r = await doctor;
    const checks = JSON.parse(r.stdout) as { name: string; ok: boolean; detail: string }[];
    const essential = checks.filter((c) => !c.name.startsWith('language:') && !(c as { warning?: boolean }).warning);
    expect(essential.filter((c) => !c.ok)).toEqual([]);
    expect(checks.map((c) => c.name)).toContain('core dumps');
    expect(checks.map((c) => c.name)).toContain('sandbox smoke test');
    expect(r.exitCode).toBe(0);
    // The smoke run's cgroup directories went with it.
    expect(workerCgroupDirs(doctor.pid!)).toEqual([]);
  });
});
