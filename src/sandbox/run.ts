import { sandboxFailure } from './failure.js';
import { FILE_LIMITS, isSafeRelativePath } from './protocol.js';
import type { SandboxHost, SandboxRequest, SandboxResult } from './request.js';

export type { SandboxFile, SandboxHost, SandboxRequest, SandboxResult } from './request.js';
export { runInSandbox, type RunRequest } from './run-request.js';

const EXECUTION_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,100}$/;

/**
 * Run one request in a fresh sandbox of `host` and say how it ended. Never throws: a request the
 * sandbox cannot run, or a failure around the program, is a `sandbox_error` result.
 */
export async function runSandbox(host: SandboxHost, req: SandboxRequest): Promise<SandboxResult> {
  const problem = requestProblem(req);
  if (problem) return { ...sandboxFailure(new RequestError(problem)), artifacts: null, seccompDigest: '' };
  try {
    return await host.run(req);
  } catch (err) {
    return { ...sandboxFailure(err), artifacts: null, seccompDigest: '' };
  }
}

class RequestError extends Error {
  readonly details = { step: 'request' };
}

function requestProblem(req: SandboxRequest): string | null {
  if (!EXECUTION_ID.test(req.executionId) || req.executionId.includes('..')) return `invalid execution id ${JSON.stringify(req.executionId)}`;
  if (req.phases.length === 0 || req.phases.length > 2 || new Set(req.phases).size !== req.phases.length) return `invalid phases ${JSON.stringify(req.phases)}`;
  if (req.phases.length === 2 && req.phases[0] !== 'compile') return 'compile comes before run';
  if (req.phases.includes('compile') && !req.plan.compile) return 'the plan has no compile phase';
  if (req.files.length > FILE_LIMITS.files) return `${req.files.length} files: at most ${FILE_LIMITS.files}`;
  const paths = new Set<string>();
  for (const f of req.files) {
    if (!isSafeRelativePath(f.path)) return `unsafe file path ${JSON.stringify(f.path)}`;
    if (paths.has(f.path)) return `file ${JSON.stringify(f.path)} given twice`;
    paths.add(f.path);
  }
  return null;
}
