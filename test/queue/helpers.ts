import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ExecutionResult } from '../../src/domain/execution.js';
import type { NewExecution } from '../../src/queue/job-store.js';

export function makeTempDir(prefix = 'codexec-queue-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

export function newExecution(overrides: Partial<NewExecution> = {}): NewExecution {
  return {
    id: `ex_${randomUUID()}`,
    sessionId: 'ses_default',
    language: 'python',
    sourceCode: 'print("Hello World")\n',
    stdin: '',
    expectedOutput: null,
    limitOverrides: {},
    maxAttempts: 3,
    ...overrides,
  };
}

export function completedResult(stdout = 'Hello World\n'): ExecutionResult {
  return {
    failureReason: null,
    exitCode: 0,
    signal: null,
    stdout,
    stderr: '',
    stdoutTruncated: false,
    stderrTruncated: false,
    outputNotUtf8: false,
    executionTimeMs: 12,
    cpuTimeMs: 10,
    memoryPeakKb: 8000,
    compileOutput: null,
    compileTimeMs: null,
    verdict: null,
    feedback: null,
    warnings: [],
  };
}
