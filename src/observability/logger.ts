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
  return destination ? pino(loggerOptions(config), destination) : pino(loggerOptions(config));
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
