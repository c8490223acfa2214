import { openSandboxHost, type SandboxHostSettings } from '../sandbox/host.js';
import { runSandbox, type SandboxHost } from '../sandbox/run.js';
import type { SandboxRunner } from './sandbox-port.js';

/**
 * The sandbox an executor runs plans in, from the settings probed at startup: runSandbox over the
 * isolated host (fork servers: an execution is a request to a helper process, then its output,
 * non-blocking I/O on this thread), or over the development host when the operator allowed
 * unisolated runs. That one spawns from Node, which blocks the event loop (unisolated-pool.ts): with
 * `pool` it runs on `slots` worker threads, off the thread that serves HTTP.
 */
export async function openSandboxRunner(settings: SandboxHostSettings, opts: { slots: number; pool: boolean }): Promise<SandboxRunner> {
  return sandboxRunner(await openSandboxHost(settings, { threads: opts.pool ? opts.slots : 0 }));
}

/** The executor's port over one sandbox host. */
export function sandboxRunner(host: SandboxHost): SandboxRunner {
  return {
    run: (req) => runSandbox(host, req),
    close: () => host.close(),
  };
}
