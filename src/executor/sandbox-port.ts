import type { SandboxRequest, SandboxResult } from '../sandbox/request.js';

// What the executor asks of the sandbox (src/sandbox/run.ts implements it): one sandbox, fresh
// namespaces, filesystem and cgroup each time, running some phases of a plan over some files.
// The request and result are the sandbox's own contract (src/sandbox/request.ts).

export type { SandboxFile, SandboxRequest, SandboxResult } from '../sandbox/request.js';

export interface SandboxRunner {
  run(req: SandboxRequest): Promise<SandboxResult>;
  close(): Promise<void>;
}
