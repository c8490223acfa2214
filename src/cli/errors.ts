import { CommanderError } from 'commander';
import { CodexecError } from '../domain/errors.js';

// How the CLI ends on an error: one line `codexec: message` (the stack only with --verbose) and
// an exit status a script can test. 2 is a usage error (a bad flag, a missing file, an unknown
// option); 1 is everything else (a server that does not answer, an invalid configuration, ...).

/** Codes whose CodexecError means "the command line is wrong" (exit status 2). */
const USAGE_STATUS = 2;

export function exitStatusFor(err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : USAGE_STATUS;
  if (err instanceof CodexecError && err.statusCode === USAGE_STATUS) return USAGE_STATUS;
  return 1;
}

/** The message without the "Error: " prefixes that stringified errors and causes carry. */
export function messageOf(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.replace(/^(?:\w*Error: )+/, '').replace(/^error: /, '');
}

/** Ends the process quietly when the reader of stdout or stderr went away (`codexec status | head`). */
export function exitQuietlyOnClosedPipes(onOtherError: (err: unknown) => void): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') process.exit(process.exitCode ?? 0);
      onOtherError(err);
    });
  }
}
