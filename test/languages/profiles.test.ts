import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { defaultProfilesDir, LanguageRegistry } from '../../src/languages/registry.js';
import { PROGRAMS } from './programs.js';

// Checks of the shipped language profiles that need no sandbox: each has test programs, its version
// is probed, and its limits make sense for what it runs.

const registry = await LanguageRegistry.load(defaultProfilesDir(), loadConfig({}));
const MiB = 1024 * 1024;

describe('shipped language profiles', () => {
  it('ship at least the twelve languages of the issue', () => {
    const ids = registry.list().map((p) => p.id);
    for (const id of ['python', 'javascript', 'typescript', 'c', 'cpp', 'java', 'go', 'rust', 'ruby', 'php', 'bash', 'perl']) expect(ids).toContain(id);
  });

  it('every profile has test programs, with a compile error exactly for compiled languages', () => {
    for (const p of registry.list()) {
      const programs = PROGRAMS[p.id];
      expect(programs, `test/languages/programs.ts has no programs for ${p.id}`).toBeDefined();
      expect(programs.compileError !== undefined, `${p.id}: compileError program iff the profile compiles`).toBe(p.compile !== null);
      expect(programs.stdlib !== undefined, `${p.id}: stdlib program iff the profile compiles`).toBe(p.compile !== null);
    }
    for (const id of Object.keys(PROGRAMS)) expect(registry.find(id)?.id, `programs for unknown language ${id}`).toBe(id);
  });

  for (const p of registry.list()) {
    describe(p.id, () => {
      it.skipIf(!p.available)(`probes its version from the toolchain${p.available ? '' : ` (skipped: missing ${p.missing.join('; ')})`}`, () => {
        expect(p.version).toMatch(/^\d+(\.\d+)*/);
      });

      it.skipIf(!p.available)('runs absolute paths with every $name resolved, never a PATH lookup', () => {
        for (const argv of [p.run.argv, ...(p.compile ? [p.compile.argv] : [])]) {
          expect(argv[0], argv.join(' ')).toMatch(/^\//);
          for (const word of argv) expect(word, `${p.id}: unresolved ${word}`).not.toMatch(/\$[a-z]/);
        }
      });

      it('binds only read-only paths outside the worker home and the data directory', () => {
        for (const b of p.binds) expect(b, b).not.toMatch(/^\/(root|home|var\/lib\/codexec|proc|sys|dev|run)(\/|$)/);
      });

      it('gives the compiler at least the memory, processes and time the program gets by default', () => {
        if (!p.compile) return;
        const c = p.compile.limits;
        const d = p.limits.default;
        expect(c.memoryBytes).toBeGreaterThanOrEqual(d.memoryBytes);
        expect(c.wallTimeMs).toBeGreaterThanOrEqual(d.wallTimeMs);
        expect(c.cpuTimeMs).toBeGreaterThanOrEqual(d.cpuTimeMs);
        // Compilers fork (cc1, as, ld) or start threads (javac, rustc, go).
        expect(c.processes).toBeGreaterThanOrEqual(16);
      });

      it('has default limits within its maximum, and at least 64 MiB of memory', () => {
        const { default: d, maximum: m } = p.limits;
        for (const k of Object.keys(d) as (keyof typeof d)[]) expect(d[k], k).toBeLessThanOrEqual(m[k]);
        expect(d.memoryBytes).toBeGreaterThanOrEqual(64 * MiB);
      });
    });
  }
});
