import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { CONFIG_SCHEMA } from '../../src/config/schema.js';
import { ROOT, read } from './markdown.js';

// docs/codexec.service, the unit docs/operations.md installs. No systemd runs here: the unit is
// read as systemd would (systemd-analyze verify, when present) and checked against the code.

const unit = read('docs/codexec.service');
const settings = new Map<string, string[]>();
for (const line of unit.split('\n')) {
  const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
  if (m) settings.set(m[1], [...(settings.get(m[1]) ?? []), m[2]]);
}
const one = (key: string) => settings.get(key)?.[0];

describe('docs/codexec.service', () => {
  it('delegates a cgroup subtree and survives a learner\'s OOM kill', () => {
    expect(one('Delegate')).toBe('yes');
    expect(one('OOMPolicy')).toBe('continue');
    expect(one('User')).toBe('root');
  });

  it('stops with SIGTERM and leaves time for the drain', () => {
    expect(one('KillSignal')).toBe('SIGTERM');
    expect(Number(one('TimeoutStopSec')) * 1000).toBeGreaterThan(CONFIG_SCHEMA.shutdownGraceMs.default);
  });

  it('starts `codexec serve` from the installed package', () => {
    const [node, bin, command] = one('ExecStart')!.split(/\s+/);
    expect(node).toMatch(/\/node$/);
    expect(command).toBe('serve');
    expect(path.relative(one('WorkingDirectory')!, bin)).toBe(path.join('bin', 'codexec'));
    expect(fs.existsSync(path.join(ROOT, 'bin', 'codexec'))).toBe(true);
  });

  it('sets only valid settings: the data directory and loopback', () => {
    const env = Object.fromEntries((settings.get('Environment') ?? []).map((e) => e.split('=', 2) as [string, string]));
    expect(env).toEqual({ CODEXEC_DATA_DIR: '/var/lib/codexec', CODEXEC_HOST: '127.0.0.1' });
    expect(() => loadConfig(env)).not.toThrow();
    expect(one('EnvironmentFile')).toBe('-/etc/codexec/codexec.env');
  });

  it.skipIf(!fs.existsSync('/usr/bin/systemd-analyze'))('systemd-analyze verify finds nothing to say', async () => {
    // The unit's name must end in .service; verify checks syntax and the ExecStart binary.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'codexec-unit-'));
    try {
      const file = path.join(dir, 'codexec.service');
      fs.writeFileSync(file, unit.replace(/^ExecStart=\S+/m, `ExecStart=${process.execPath}`));
      const r = await execa('systemd-analyze', ['verify', file], { reject: false });
      expect(r.stderr.split('\n').filter((l) => l && !/Failed to (connect|open)|not running as systemd|are not supported/i.test(l))).toEqual([]);
      expect(r.exitCode).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
