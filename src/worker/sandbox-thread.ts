import Tinypool from 'tinypool';
import type { RunOutcome } from '../domain/execution.js';
import { runInSandbox, type SandboxHost } from '../sandbox/run.js';
import { openSandboxHost, type SandboxHostSettings } from '../sandbox/host.js';
import type { SandboxTask } from './task.js';

// Entry of a tinypool thread: one sandbox host per thread, made from the settings the main
// thread resolved once (launcher, cgroup parent, profiles dir).
export type SandboxThreadInit = SandboxHostSettings;

// tinypool wraps node's workerData; its own accessor gives ours back.
const host: Promise<SandboxHost> = openSandboxHost(Tinypool.workerData as SandboxThreadInit);

export default async function run(task: SandboxTask): Promise<RunOutcome> {
  return runInSandbox(await host, task);
}
