// Delay before retry number `attempt` (1 = the retry after the first failure): exponential, capped,
// with full jitter (a uniform pick in [0, min(cap, base * 2^(attempt-1)))). Full jitter spreads
// the retries of jobs that failed together (an executor killed with many jobs) instead of sending
// them back in one wave. `random` is injectable for tests.
export function backoffMs(attempt: number, baseMs: number, capMs = 30_000, random: () => number = Math.random): number {
  const exponent = Math.max(0, Math.floor(attempt) - 1);
  const ceiling = Math.min(capMs, baseMs * 2 ** exponent);
  if (!(ceiling > 0)) return 0;
  return Math.floor(random() * ceiling);
}
