// Builds native/*.c into build/codexec-launcher during `npm install`, with the C compiler a
// Debian machine with Node already has for node-gyp. Static when libc.a is present (one exec fewer
// dynamic-loader step: the launcher is on every execution's critical path), dynamic otherwise.
// A failure does not fail the install: `codexec doctor` reports the launcher as missing, and
// workers refuse to start without it unless CODEXEC_INSECURE_ALLOW_UNISOLATED=1.
//   node scripts/build-launcher.mjs [--out FILE] [--src DIR]   (tests build other copies)
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, def) => {
  const i = process.argv.indexOf(name);
  return i > 0 && process.argv[i + 1] ? path.resolve(process.argv[i + 1]) : def;
};
const srcDir = arg('--src', path.join(root, 'native'));
const out = arg('--out', path.join(root, 'build', 'codexec-launcher'));
if (process.platform !== 'linux') {
  console.warn('codexec: not Linux: the sandbox launcher is not built (executions need Linux)');
  process.exit(0);
}
const sources = fs.readdirSync(srcDir).filter((f) => f.endsWith('.c')).sort().map((f) => path.join(srcDir, f));
fs.mkdirSync(path.dirname(out), { recursive: true });
const cc = process.env.CC || 'cc';
const flags = ['-O2', '-Wall', '-Wextra', '-D_FORTIFY_SOURCE=2', '-o', out, ...sources];
for (const extra of [['-static'], []]) {
  const r = spawnSync(cc, [...extra, ...flags], { stdio: ['ignore', 'inherit', 'pipe'], encoding: 'utf8' });
  if (r.status === 0) {
    if (r.stderr?.trim()) process.stderr.write(r.stderr);
    console.log(`codexec: built ${path.relative(root, out) || out}${extra.length ? ' (static)' : ''}`);
    process.exit(0);
  }
  if (extra.length === 0) {
    console.warn(`codexec: could not build the sandbox launcher with ${cc}:\n${r.stderr ?? r.error}`);
  }
}
process.exit(0);
