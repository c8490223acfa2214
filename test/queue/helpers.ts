import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ExecutionResult } from '../../src/domain/execution.js';
import type { Limits } from '../../src/domain/limits.js';
import type { ExecutionPlan } from '../../src/domain/plan.js';
import type { NewExecution } from '../../src/queue/job-store.js';

export function makeTempDir(prefix = 'codexec-queue-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

export const TEST_LIMITS: Limits = {
  wallTimeMs: 5000,
  cpuTimeMs: 5000,
  memoryBytes: 256 * 1024 * 1024,
  processes: 64,
  stdoutBytes: 65536,
  stderrBytes: 65536,
  fileSizeBytes: 16 * 1024 * 1024,
  tmpfsBytes: 32 * 1024 * 1024,
  openFiles: 64,
};

/** A plan as the submit path would make for python (the queue stores it as given). */
export function testPlan(overrides: Partial<ExecutionPlan> = {}): ExecutionPlan {
  return {
    version: 1,
    language: { id: 'python', name: 'Python 3', version: '3.11.2', profileDigest: 'd'.repeat(64) },
    sourceFile: 'main.py',
    compile: null,
    run: { argv: ['/usr/bin/python3', '-I', '-B', 'main.py'], limits: TEST_LIMITS },
    env: { PYTHONUNBUFFERED: '1' },
    binds: [],
    seccomp: { name: 'default', digest: 's'.repeat(64) },
    stdin: '',
    expectedOutput: null,
    testCases: null,
    comparison: 'trailing_whitespace',
    ...overrides,
  };
}

export function newExecution(overrides: Partial<NewExecution> = {}): NewExecution {
  return {
    id: `ex_${randomUUID()}`,
    sessionId: 'ses_default',
    owner: null,
    sourceCode: 'print("Hello World")\n',
    plan: testPlan(),
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
