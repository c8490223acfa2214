import { describe, expect, it } from 'vitest';
import { EXECUTION_STATUSES, TRANSITIONS, canTransition, isTerminal } from '../../src/domain/states.js';

describe('execution state machine', () => {
  // Every edge the product relies on, and nothing else.
  const allowed = new Set([
    'QUEUED->RUNNING',
    'QUEUED->FAILED',
    'RUNNING->COMPLETED',
    'RUNNING->FAILED',
    'RUNNING->TIMEOUT',
    'RUNNING->QUEUED',
  ]);

  it('walks every edge and rejects every other pair', () => {
    for (const from of EXECUTION_STATUSES) {
      for (const to of EXECUTION_STATUSES) {
        expect(canTransition(from, to), `${from}->${to}`).toBe(allowed.has(`${from}->${to}`));
      }
    }
  });

  it('terminal states have no way out', () => {
    for (const s of EXECUTION_STATUSES) expect(isTerminal(s)).toBe(TRANSITIONS[s].length === 0);
    expect(EXECUTION_STATUSES.filter(isTerminal)).toEqual(['COMPLETED', 'FAILED', 'TIMEOUT']);
  });
});
