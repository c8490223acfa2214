import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { ProfileError, UnsupportedLanguageError } from '../../src/domain/errors.js';
import { fillLimits } from '../../src/languages/limit-placeholders.js';
import { LanguageRegistry, defaultProfilesDir, parseProfile } from '../../src/languages/registry.js';

const config = loadConfig({});
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** A profiles dir with the shipped seccomp profiles and the given language files. */
function profilesWith(langs: Record<string, unknown>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'codexec-profiles-'));
  dirs.push(dir);
  fs.cpSync(path.join(defaultProfilesDir(), 'seccomp'), path.join(dir, 'seccomp'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'languages'));
  for (const [name, json] of Object.entries(langs)) fs.writeFileSync(path.join(dir, 'languages', `${name}.json`), typeof json === 'string' ? json : JSON.stringify(json));
  return dir;
}

const python = {
  id: 'python', name: 'Python 3', aliases: ['py'], extensions: ['.py'], sourceFile: 'main.py',
  toolchain: { python: ['/usr/bin/python3'] }, version: { command: ['$python', '--version'], pattern: 'Python (\\S+)' },
  run: { command: ['$python', 'main.py'] }, seccomp: 'default', template: "print('Hello World')\n",
};

describe('shipped profiles', () => {
  it('every file in sandbox-profiles/languages validates against the schema', () => {
    const dir = path.join(defaultProfilesDir(), 'languages');
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThanOrEqual(12);
    for (const f of files) expect(() => parseProfile(f, fs.readFileSync(path.join(dir, f), 'utf8')), f).not.toThrow();
  });
  it('loads with unique ids and aliases, each with a template and a seccomp profile', async () => {
    const reg = await LanguageRegistry.load(defaultProfilesDir(), config, { probeVersions: false });
    for (const id of ['python', 'javascript', 'typescript', 'c', 'cpp', 'java', 'go', 'rust', 'ruby', 'php', 'bash', 'perl']) {
      const p = reg.find(id);
      expect(p, id).toBeDefined();
      expect(p!.template.length, id).toBeGreaterThan(0);
    }
  });
});

describe('LanguageRegistry', () => {
  it('resolves toolchains, expands $names and probes the version once', async () => {
    const reg = await LanguageRegistry.load(profilesWith({ python }), config);
    const p = reg.resolve('py');
    expect(p.id).toBe('python');
    expect(p.run.argv).toEqual(['/usr/bin/python3', 'main.py']);
    expect(p.version).toMatch(/^3\.\d+/);
    expect(reg.forFile('x/solution.PY')?.id).toBe('python');
  });
  it('applies config defaults and profile limits, and a maximum at least the default', async () => {
    const reg = await LanguageRegistry.load(profilesWith({ python: { ...python, limits: { default: { memoryBytes: 128 << 20 }, maximum: { wallTimeMs: 9000 } } } }), config, { probeVersions: false });
    const p = reg.resolve('python');
    expect(p.limits.default.memoryBytes).toBe(128 << 20);
    expect(p.limits.default.wallTimeMs).toBe(config.wallTimeMs);
    expect(p.limits.maximum.wallTimeMs).toBe(9000);
    for (const k of Object.keys(p.limits.default) as (keyof typeof p.limits.default)[]) expect(p.limits.maximum[k]).toBeGreaterThanOrEqual(p.limits.default[k]);
  });
  it('refuses unknown languages and missing toolchains with 422', async () => {
    const reg = await LanguageRegistry.load(profilesWith({ python, ghost: { ...python, id: 'ghost', aliases: [], extensions: ['.gh'], toolchain: { python: ['/nonexistent/python'] } } }), config, { probeVersions: false });
    expect(() => reg.resolve('cobol')).toThrow(UnsupportedLanguageError);
    try {
      reg.resolve('ghost');
      expect.unreachable();
    } catch (err) {
      expect((err as UnsupportedLanguageError).statusCode).toBe(422);
      expect((err as UnsupportedLanguageError).details).toMatchObject({ reason: 'toolchain_missing' });
    }
    expect(reg.find('ghost')?.available).toBe(false);
  });
  it('a broken profile stops loading, naming the file and the field', async () => {
    const bad = { ...python, sourceFile: '../evil.py' };
    await expect(LanguageRegistry.load(profilesWith({ python: bad }), config)).rejects.toThrow(/python\.json[\s\S]*sourceFile/);
    await expect(LanguageRegistry.load(profilesWith({ python: '{ nope' }), config)).rejects.toThrow(ProfileError);
    await expect(LanguageRegistry.load(profilesWith({ python: { ...python, run: { command: ['$nodejs', 'x'] } } }), config)).rejects.toThrow(/\$nodejs is not declared/);
    await expect(LanguageRegistry.load(profilesWith({ python: { ...python, run: { command: ['$python', '-X{memory_gib}', 'main.py'] } } }), config)).rejects.toThrow(/run\.command: \{memory_gib\} is not a known placeholder/);
    await expect(LanguageRegistry.load(profilesWith({ python: { ...python, seccomp: 'none-such' } }), config)).rejects.toThrow(/seccomp/);
    await expect(LanguageRegistry.load(profilesWith({ python: { ...python, extra: 1 } }), config)).rejects.toThrow(ProfileError);
    // A bind at or under /dev or /proc would cover what the sandbox builds there (native/args.c refuses it too).
    for (const bad of ['/proc', '/proc/1/root', '/dev/shm']) await expect(LanguageRegistry.load(profilesWith({ python: { ...python, binds: [bad] } }), config)).rejects.toThrow(/binds/);
    await expect(LanguageRegistry.load(profilesWith({ python: { ...python, binds: ['/process', '/devices'] } }), config)).resolves.toBeDefined();
  });
  it('fills {memory_mib} in a command with the phase\'s memory limit, and leaves other words alone', async () => {
    const reg = await LanguageRegistry.load(profilesWith({ python: { ...python, run: { command: ['$python', '-Xheap={memory_mib}m', 'main.py'] } } }), config, { probeVersions: false });
    const p = reg.resolve('python');
    expect(fillLimits(p.run.argv, { ...p.limits.default, memoryBytes: 300 * 1024 * 1024 + 5 })).toEqual(['/usr/bin/python3', '-Xheap=300m', 'main.py']);
    expect(fillLimits(['{x}', 'a{memory_mib}b{memory_mib}'], { ...p.limits.default, memoryBytes: 64 << 20 })).toEqual(['{x}', 'a64b64']);
  });
  it('two profiles may not claim the same name', async () => {
    await expect(LanguageRegistry.load(profilesWith({ python, python2: { ...python, id: 'python2', aliases: ['py'] } }), config)).rejects.toThrow(/"py"/);
  });
});
