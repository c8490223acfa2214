// What attaching codexec's seccomp filter costs the program: the CPU of the seccomp() call, which
// the sandboxed program's process pays (in its cgroup, so in `cpu_time_ms`) before its execve.
// Against the floor: a one-instruction filter (RET ALLOW) attached the same way, in the same run.
// The filters take turns run by run (bench/native/seccomp-attach.c).
//
//   node bench/seccomp-attach.mjs [--short] [--n=RUNS] [--filter=FILE,...]
//
// --filter adds filter files to compare (raw sock_filter bytes, e.g. written by an earlier commit:
// `node -e "import('./dist/sandbox/seccomp/index.js').then(async (m) => fs.writeFileSync(FILE,
// (await m.loadSeccompProfile('sandbox-profiles', 'default')).filter))"`). Needs `npm run build`
// and a C compiler; no root.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs, isMain } from './lib/args.mjs';
import { summarize, fmt } from './lib/stats.mjs';
import { runStandalone } from './lib/report.mjs';
import { nativeTool, buildDir, parseLine } from './lib/native.mjs';
import { importDist, root } from './lib/sandbox.mjs';

export async function main(opts) {
  const runs = opts.n ?? (opts.short ? 20 : 1000);
  const { loadSeccompProfile } = await importDist('sandbox/seccomp/index.js');
  const compiled = await loadSeccompProfile(path.join(root, 'sandbox-profiles'), 'default');
  fs.mkdirSync(buildDir, { recursive: true });
  const files = [
    { name: 'one instruction (RET ALLOW): the floor', file: path.join(buildDir, 'seccomp-allow.bin'), bytes: Buffer.from([0x06, 0, 0, 0, 0, 0, 0xff, 0x7f]) },
    { name: "codexec's default profile", file: path.join(buildDir, 'seccomp-default.bin'), bytes: compiled.filter },
  ];
  for (const f of files) fs.writeFileSync(f.file, f.bytes);
  const extra = typeof opts.extra?.filter === 'string' ? opts.extra.filter.split(',') : [];
  for (const file of extra) files.push({ name: file, file, bytes: fs.readFileSync(file) });
  const r = spawnSync(nativeTool('seccomp-attach'), [String(runs), ...files.map((f) => f.file)], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`seccomp-attach failed: ${r.stderr}`);
  const byFile = files.map(() => []);
  for (const line of r.stdout.split('\n').filter(Boolean)) {
    const l = parseLine(line);
    byFile[l.file].push(Math.round(l.cpu_ns / 1e3)); // µs
  }
  const floor = summarize(byFile[0]).median;
  const rows = files.map((f, i) => {
    const s = summarize(byFile[i]);
    return [f.name, f.bytes.length / 8, s.n, s.median, s.p90, s.p99, s.median - floor];
  });
  const def = summarize(byFile[1]).median;
  return {
    name: 'Attaching the seccomp filter (bench/native/seccomp-attach.c)',
    command: `node bench/seccomp-attach.mjs${opts.short ? ' --short' : ''}${opts.n ? ` --n=${opts.n}` : ''}`,
    tables: [{ title: 'CPU of the seccomp() call, µs per attach', headers: ['filter', 'instructions', 'n', 'median', 'p90', 'p99', 'above the floor'], rows }],
    targets: [{ target: 'attach CPU of the default profile (charged to each run)', measured: `${fmt(def)} µs (${fmt(def - floor)} µs above the floor)`, baseline: `one-instruction filter, same run: ${fmt(floor)} µs`, met: null }],
    notes: [`${runs} attaches per filter, the filters taking turns; thread CPU clock of the attaching process.`],
  };
}

if (isMain(import.meta.url)) runStandalone(main, parseArgs());
