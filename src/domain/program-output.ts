import type { RunOutcome } from './execution.js';

// What a program printed and how it exited: the same six fields in a sandbox's outcome, a stored
// result and a test case's result.

export type ProgramOutput = Pick<RunOutcome, 'exitCode' | 'signal' | 'stdout' | 'stderr' | 'stdoutTruncated' | 'stderrTruncated'>;

/** No program ran, or what it printed is not kept: no exit status, no output. */
export const NO_OUTPUT: Readonly<ProgramOutput> = Object.freeze({
  exitCode: null,
  signal: null,
  stdout: '',
  stderr: '',
  stdoutTruncated: false,
  stderrTruncated: false,
});

/** The program-output fields of `from` (an outcome), and no others. */
export function programOutput(from: ProgramOutput): ProgramOutput {
  return {
    exitCode: from.exitCode,
    signal: from.signal,
    stdout: from.stdout,
    stderr: from.stderr,
    stdoutTruncated: from.stdoutTruncated,
    stderrTruncated: from.stderrTruncated,
  };
}
