import { openSandboxHost, type SandboxHostSettings } from '../sandbox/host.js';
import { InlineRunner, PoolRunner } from '../worker/runners.js';
import { legacySandbox } from './legacy-sandbox.js';
import type { SandboxRunner } from './sandbox-port.js';

/**
 * The sandbox an executor runs plans in, from the settings probed at startup. With fork servers
 * an execution is non-blocking I/O for this thread (a request to a small helper, then its
 * output), so it runs here. Spawning from Node (the unisolated development mode) forks
 * the whole process and blocks the calling thread meanwhile: pool threads keep that off the HTTP
 * event loop (`pool`).
 */
export async function openSandboxRunner(settings: SandboxHostSettings, opts: { slots: number; pool: boolean }): Promise<SandboxRunner> {
  const spawnBlocks = settings.mode === 'insecure';
  const runner = opts.pool && spawnBlocks ? new PoolRunner(opts.slots, settings) : new InlineRunner(await openSandboxHost(settings));
  return legacySandbox(runner);
}
