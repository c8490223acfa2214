import { afterAll, afterEach, beforeAll, beforeEach, expect, vi } from 'vitest';
import { openSecurityEnv, runProgram, type Lang, type RunOptions, type RunResult, type SecurityEnv } from './helpers.js';
import { hostProblems, isClean, leftoverCgroups, ownForkServers, ownWorkerDirs, snapshotHost, type HostSnapshot } from './host-state.js';

// Hooks every attack file registers inside its describe(): open the real sandbox host once, take a
// snapshot of the host before each test and check after it that nothing was left behind
// (processes, execution cgroups, mounts, files in /tmp), and release the cgroup worker directory
// at the end.

export interface SecuritySuite {
  env(): SecurityEnv;
  run(lang: Lang, source: string, opts?: RunOptions): Promise<RunResult>;
  /** Multiplies wall limits on slow hosts. */
  slow(): number;
}

export function securitySuite(): SecuritySuite {
  let env: SecurityEnv | null = null;
  let before: HostSnapshot | null = null;

  beforeAll(async () => {
    env = await openSecurityEnv();
    // Wall limits in the tests grow with the slow factor; so must the time a test may take.
    vi.setConfig({ testTimeout: 30_000 * env.slow, hookTimeout: 30_000 * env.slow });
  }, 120_000);

  afterAll(async () => {
    if (!env) return;
    const opts = { uidBase: env.settings.uidBase, cgroupParent: env.settings.cgroupParent };
    await env.close();
    // Closing the host ends its fork servers (their stdin closes).
    const end = Date.now() + 5000;
    while (ownForkServers().length > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 25));
    expect(ownForkServers()).toEqual([]);
    // releaseWorkerDir leaves no directory of ours under the cgroup parent.
    expect(leftoverCgroups(opts)).toEqual([]);
    expect(ownWorkerDirs(opts)).toEqual([]);
  }, 60_000);

  beforeEach(() => {
    before = snapshotHost();
  });

  afterEach(async () => {
    if (!env || !before) return;
    const problems = await hostProblems(before, { uidBase: env.settings.uidBase, cgroupParent: env.settings.cgroupParent });
    if (!isClean(problems)) {
      // Fails this test with everything that was found; the next test starts from a fresh snapshot.
      throw new Error(`the host was not left as it was: ${JSON.stringify(problems, null, 1).slice(0, 3000)}`);
    }
  }, 30_000);

  const get = () => {
    if (!env) throw new Error('the sandbox host did not open (see beforeAll)');
    return env;
  };
  return {
    env: get,
    run: (lang, source, opts) => runProgram(get(), lang, source, opts),
    slow: () => get().slow,
  };
}
