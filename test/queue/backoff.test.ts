import { describe, expect, it } from 'vitest';
import { backoffMs } from '../../src/queue/backoff.js';

describe('backoffMs', () => {
  const almostOne = (): number => 0.999999;
  it('doubles its ceiling per attempt from the base, up to the cap', () => {
    expect([1, 2, 3, 4].map((a) => backoffMs(a, 500, 30_000, almostOne))).toEqual([499, 999, 1999, 3999]);
    expect(backoffMs(10, 500, 30_000, almostOne)).toBe(29_999);
    expect(backoffMs(1000, 500, 30_000, almostOne)).toBe(29_999); // 2^999 does not overflow the cap
    expect(backoffMs(3, 500, undefined, almostOne)).toBe(1999);
  });

  it('is full jitter: anywhere from 0 to the ceiling', () => {
    expect(backoffMs(3, 500, 30_000, () => 0)).toBe(0);
    expect(backoffMs(3, 500, 30_000, () => 0.5)).toBe(1000);
    for (let i = 0; i < 200; i++) {
      const d = backoffMs(4, 100);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThan(800);
      expect(Number.isInteger(d)).toBe(true);
    }
  });

  it('treats attempt 0 like attempt 1 and a zero base as no delay', () => {
    expect(backoffMs(0, 500, 30_000, almostOne)).toBe(499);
    expect(backoffMs(5, 0, 30_000, almostOne)).toBe(0);
  });
});
