import { Writable } from 'node:stream';
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import type { Config } from '../config/schema.js';

// Learners' code and input are theirs, and can be large: they never reach a log line, even when a
// request or a job object is logged whole. API keys are credentials.
export const REDACTED_PATHS = [
  'source_code',
  'stdin',
  'expected_output',
  'sourceCode',
  'expectedOutput',
  '*.source_code',
  '*.stdin',
  '*.expected_output',
  '*.sourceCode',
  '*.expectedOutput',
  'req.body.source_code',
  'req.body.stdin',
  'req.body.expected_output',
  'req.headers["x-api-key"]',
  'req.headers.authorization',
  'req.headers.cookie',
];

/** pino options shared by the standalone logger and Fastify's request logger. */
export function loggerOptions(config: Pick<Config, 'logLevel'>): LoggerOptions {
  return {
    level: config.logLevel,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  };
}

/** The process's logger: JSON lines on stdout (or `destination`), at CODEXEC_LOG_LEVEL. */
export function createLogger(config: Pick<Config, 'logLevel'>, destination?: DestinationStream): Logger {
  return pino(loggerOptions(config), destination ?? stdoutPerTurn());
}

let stdout: PerTurn | null = null;

/** A log destination that writes what a turn of the event loop logged once that turn ends. */
export interface PerTurn extends DestinationStream {
  /** Writes the pending lines now. */
  flush(): void;
}

/**
 * Standard output for log lines, written once per turn of the event loop (perTurn). Lines still
 * pending are written when the process exits, an uncaught error included; only a SIGKILL loses
 * them, the lines of the turn it cuts. One buffer per process, however many loggers write to it.
 */
export function stdoutPerTurn(): PerTurn {
  if (stdout) return stdout;
  stdout = perTurn(pino.destination({ dest: 1, sync: true }));
  process.on('exit', stdout.flush);
  return stdout;
}

const PER_TURN_MAX_CHARS = 64 * 1024;

/**
 * The lines logged while a request or a run is on its way go to `out` after that turn's answers
 * and sandbox requests, in one write, instead of each in front of them. A synchronous write to a
 * pipe wakes its reader (the log collector): after an idle moment one took ~0.14 ms of a run's
 * path here, and a run logs two on it (bench/RESULTS.md, sixteenth session). A turn that logs more
 * than 64 Ki characters writes them as they pass that size.
 */
export function perTurn(out: { write(text: string): unknown }): PerTurn {
  let pending = '';
  const flush = () => {
    if (pending === '') return;
    const lines = pending;
    pending = '';
    out.write(lines);
  };
  return {
    write(line: string) {
      if (pending === '') setImmediate(flush);
      pending += line;
      // A turn that logs a lot writes as it goes: what waits for the turn's end stays small.
      if (pending.length >= PER_TURN_MAX_CHARS) flush();
    },
    flush,
  };
}

const LEVEL_NAMES: Record<number, string> = { 60: 'fatal', 50: 'error', 40: 'warning', 30: 'info', 20: 'debug', 10: 'trace' };

/**
 * A logger for commands a person runs (`codexec run`): one readable line per entry on stderr,
 * `codexec: warning: message`, so that nothing but the program's output reaches stdout.
 */
export function createCliLogger(config: Pick<Config, 'logLevel'>, out: NodeJS.WritableStream = process.stderr): Logger {
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue;
        try {
          const entry = JSON.parse(line) as { level: number; msg?: string };
          out.write(`codexec: ${LEVEL_NAMES[entry.level] ?? 'log'}: ${entry.msg ?? ''}\n`);
        } catch {
          out.write(`${line}\n`);
        }
      }
      done();
    },
  });
  return pino(loggerOptions(config), stream);
}

export type { Logger };
