import { describe, expect, it } from 'vitest';
import { clampLimits, type Limits } from '../../src/domain/limits.js';

const def: Limits = { wallTimeMs: 5000, cpuTimeMs: 5000, memoryBytes: 256 << 20, processes: 64, stdoutBytes: 65536, stderrBytes: 65536, fileSizeBytes: 1 << 24, tmpfsBytes: 1 << 25, openFiles: 64 };
const max: Limits = { ...def, wallTimeMs: 20000, cpuTimeMs: 20000, memoryBytes: 1 << 30 };

describe('clampLimits', () => {
  it('uses the defaults when nothing is asked', () => {
    expect(clampLimits(def, max)).toEqual(def);
  });
  it('honours an override within the maximum', () => {
    expect(clampLimits(def, max, { wallTimeMs: 10000 }).wallTimeMs).toBe(10000);
  });
  it('clamps an override above the maximum', () => {
    const l = clampLimits(def, max, { wallTimeMs: 10 ** 9, memoryBytes: 2 ** 40 });
    expect(l.wallTimeMs).toBe(20000);
    expect(l.memoryBytes).toBe(1 << 30);
  });
  it('ignores nonsense overrides', () => {
    expect(clampLimits(def, max, { wallTimeMs: -1, cpuTimeMs: Number.NaN, memoryBytes: 0 })).toEqual(def);
  });
  it('clamps defaults that exceed the maximum', () => {
    expect(clampLimits({ ...def, processes: 999 }, max).processes).toBe(64);
  });
});
