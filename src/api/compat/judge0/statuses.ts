import os from 'node:os';
import type { ExecutionRecord } from '../../../domain/execution.js';

// Judge0's status ids and descriptions, and which one an execution has. Judge0 has no status of
// its own for a memory or output limit: codexec shows a memory limit as "Runtime Error (Other)"
// and an output limit as "Runtime Error (SIGXFSZ)" (too much written), each with a message that
// says which; a canceled run or one that failed on our side is "Internal Error".

export interface Judge0Status {
  id: number;
  description: string;
}

export const JUDGE0_STATUSES: readonly Judge0Status[] = [
  { id: 1, description: 'In Queue' },
  { id: 2, description: 'Processing' },
  { id: 3, description: 'Accepted' },
  { id: 4, description: 'Wrong Answer' },
  { id: 5, description: 'Time Limit Exceeded' },
  { id: 6, description: 'Compilation Error' },
  { id: 7, description: 'Runtime Error (SIGSEGV)' },
  { id: 8, description: 'Runtime Error (SIGXFSZ)' },
  { id: 9, description: 'Runtime Error (SIGFPE)' },
  { id: 10, description: 'Runtime Error (SIGABRT)' },
  { id: 11, description: 'Runtime Error (NZEC)' },
  { id: 12, description: 'Runtime Error (Other)' },
  { id: 13, description: 'Internal Error' },
  { id: 14, description: 'Exec Format Error' },
];

const status = (id: number): Judge0Status => JUDGE0_STATUSES[id - 1]!;
const BY_SIGNAL: Record<string, number> = { SIGSEGV: 7, SIGXFSZ: 8, SIGFPE: 9, SIGABRT: 10 };

/** The Judge0 status of an execution. */
export function judge0StatusOf(e: ExecutionRecord): Judge0Status {
  if (e.status === 'QUEUED') return status(1);
  if (e.status === 'RUNNING') return status(2);
  const r = e.result;
  if (!r) return status(13);
  if (e.status === 'COMPLETED') return status(r.verdict === 'wrong_answer' ? 4 : 3);
  switch (r.failureReason) {
    case 'wall_time_limit':
    case 'cpu_time_limit':
      return status(5);
    case 'compile_error':
      return status(6);
    case 'output_limit':
      return status(8);
    case 'memory_limit':
      return status(12);
    case 'runtime_error':
      if (r.signal) return status(BY_SIGNAL[r.signal] ?? 12);
      return status(11);
    default:
      return status(13);
  }
}

/** A signal's number (Judge0's exit_signal), from its name. */
export function signalNumber(name: string | null): number | null {
  if (!name) return null;
  return (os.constants.signals as Record<string, number>)[name] ?? null;
}
