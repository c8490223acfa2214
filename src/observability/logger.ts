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

export type { Logger };
