import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { CONFIG_SCHEMA } from '../../src/config/schema.js';
import { ConfigError } from '../../src/domain/errors.js';

describe('loadConfig', () => {
  it('has a default for every variable and freezes the result', () => {
    const c = loadConfig({});
    for (const [k, spec] of Object.entries(CONFIG_SCHEMA)) expect((c as Record<string, unknown>)[k]).toEqual(spec.default);
    // The defaults themselves pass their own parsers (what the documentation's ranges promise).
    for (const spec of Object.values(CONFIG_SCHEMA)) {
      if (spec.default !== '') expect((spec.parse as (raw: string) => unknown)(String(spec.default)), spec.env).toEqual(spec.default);
    }
    expect(Object.isFrozen(c)).toBe(true);
  });
  it('parses values from the environment', () => {
    const c = loadConfig({ CODEXEC_PORT: '9000', CODEXEC_INSECURE_ALLOW_UNISOLATED: 'true', CODEXEC_LOG_LEVEL: 'debug' });
    expect(c.port).toBe(9000);
    expect(c.insecureAllowUnisolated).toBe(true);
    expect(c.logLevel).toBe('debug');
  });
  it('reports every invalid variable at once, by name', () => {
    try {
      loadConfig({ CODEXEC_PORT: 'http', CODEXEC_MEMORY_BYTES: '12', CODEXEC_LOG_LEVEL: 'loud', CODEXEC_TYPO: '1' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const msg = (err as Error).message;
      for (const name of ['CODEXEC_PORT', 'CODEXEC_MEMORY_BYTES', 'CODEXEC_LOG_LEVEL', 'CODEXEC_TYPO']) expect(msg).toContain(name);
    }
  });
  it('lets CLI flags override the environment', () => {
    expect(loadConfig({ CODEXEC_PORT: '9000' }, { port: 7000 }).port).toBe(7000);
  });
  it('puts the unit in the name of every numeric limit', () => {
    // Counts have no unit; everything else numeric is a duration or a size and says which.
    const COUNT = /(_PORT|_EXECUTORS|_CONCURRENCY|_PROCESSES|_ATTEMPTS|_UID_BASE|_IN_FLIGHT|_DEPTH|_PER_MINUTE|_CASES|_RUNS|_READERS)$/;
    for (const spec of Object.values(CONFIG_SCHEMA)) {
      if (typeof spec.default === 'number' && !COUNT.test(spec.env)) expect(spec.env, spec.env).toMatch(/_(MS|BYTES)$/);
    }
  });
});
