// The execution state machine, written down once. DESIGN.md draws the same graph.
export const EXECUTION_STATUSES = ['QUEUED', 'RUNNING', 'COMPLETED', 'FAILED', 'TIMEOUT'] as const;
export type ExecutionStatus = (typeof EXECUTION_STATUSES)[number];

export const TERMINAL_STATUSES: readonly ExecutionStatus[] = ['COMPLETED', 'FAILED', 'TIMEOUT'];

// Every allowed edge. RUNNING -> QUEUED is the retry/rescue edge (lost lease, transient failure).
// QUEUED -> FAILED covers executions cancelled before they ran (session closed, shutdown give-up).
export const TRANSITIONS: Readonly<Record<ExecutionStatus, readonly ExecutionStatus[]>> = {
  QUEUED: ['RUNNING', 'FAILED'],
  RUNNING: ['COMPLETED', 'FAILED', 'TIMEOUT', 'QUEUED'],
  COMPLETED: [],
  FAILED: [],
  TIMEOUT: [],
};

export function isTerminal(status: ExecutionStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

export function canTransition(from: ExecutionStatus, to: ExecutionStatus): boolean {
  return TRANSITIONS[from].includes(to);
}
