// The execution state machine, written down once. DESIGN.md draws the same graph.
export const EXECUTION_STATUSES = ['QUEUED', 'RUNNING', 'COMPLETED', 'FAILED', 'TIMEOUT'] as const;
export type ExecutionStatus = (typeof EXECUTION_STATUSES)[number];

export const TERMINAL_STATUSES: readonly ExecutionStatus[] = ['COMPLETED', 'FAILED', 'TIMEOUT'];

// Every allowed edge. RUNNING -> QUEUED is the retry/rescue edge (lost lease, transient failure, a
// shutdown's hand-back). QUEUED -> FAILED is a cancel before it ran (POST .../cancel, its session
// closed); RUNNING -> FAILED covers a cancel while it runs (failure_reason canceled). The job
// tables of both databases refuse every other change of status (a trigger; migration 2), and the
// conformance suite walks every edge against each database.
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
