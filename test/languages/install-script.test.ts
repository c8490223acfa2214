import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { defaultProfilesDir, LanguageRegistry } from '../../src/languages/registry.js';

// .ci/install-toolchains.sh keeps its own table of toolchain paths (bash cannot read the JSON
// profiles without extra tools). These tests keep that table and the profiles in step, so that CI
// and the Docker image install what every shipped profile resolves.

const script = path.resolve(defaultProfilesDir(), '..', '.ci', 'install-toolchains.sh');

/** The `path|provider` entries of the script's TOOLCHAINS array, with $TS_DIR expanded. */
function scriptTable(): Map<string, string> {
  const text = fs.readFileSync(script, 'utf8');
  const tsDir = /^TS_DIR=(\S+)$/m.exec(text)?.[1];
  const block = /^TOOLCHAINS=\(\n([\s\S]*?)\n\)$/m.exec(text)?.[1];
  if (!tsDir || !block) throw new Error(`cannot find TS_DIR and TOOLCHAINS in ${script}`);
  const table = new Map<string, string>();
  for (const m of block.matchAll(/^\s*"([^"|]+)\|([^"]+)"\s*$/gm)) table.set(m[1].replace('$TS_DIR', tsDir), m[2]);
  return table;
}

describe('.ci/install-toolchains.sh', () => {
  it('installs a candidate path of every toolchain of every shipped profile', async () => {
    const table = scriptTable();
    expect(table.size).toBeGreaterThan(0);
    const registry = await LanguageRegistry.load(defaultProfilesDir(), loadConfig({}), { probeVersions: false });
    const uncovered: string[] = [];
    for (const profile of registry.list()) {
      const json = JSON.parse(fs.readFileSync(profile.file, 'utf8')) as { toolchain: Record<string, string[]> };
      for (const [tool, candidates] of Object.entries(json.toolchain)) {
        if (!candidates.some((c) => table.has(c))) uncovered.push(`${profile.id}: $${tool} (${candidates.join(', ')})`);
      }
    }
    expect(uncovered, 'toolchains the script does not install').toEqual([]);
  });

  it('installs nothing the sandbox cannot see: every path is under /usr or /bin', () => {
    for (const p of scriptTable().keys()) expect(p, p).toMatch(/^\/(usr|bin)\//);
  });

  it('--check agrees with the registry: it passes exactly when every language is available here', async () => {
    const registry = await LanguageRegistry.load(defaultProfilesDir(), loadConfig({}), { probeVersions: false });
    const missing = registry.list().filter((p) => !p.available).map((p) => p.id);
    const r = await execa('bash', [script, '--check'], { reject: false });
    expect(r.exitCode, `${r.stdout}\n${r.stderr}\nunavailable here: ${missing.join(', ')}`).toBe(missing.length === 0 ? 0 : 1);
  });

  it('refuses unknown arguments', async () => {
    const r = await execa('bash', [script, '--bogus'], { reject: false });
    expect(r.exitCode).toBe(2);
  });
});
