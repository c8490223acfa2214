// Self time per function (top N) and per source area of a .cpuprofile written by node --cpu-prof.
//   node bench/profile/summarize-cpuprofile.mjs FILE.cpuprofile [TOP] [--window=FROM-TO] [--callers=NAME]
import fs from 'node:fs';

const [file, topRaw] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
if (!file) throw new Error('usage: summarize-cpuprofile.mjs FILE.cpuprofile [TOP]');
const top = Number(topRaw ?? 30);
const prof = JSON.parse(fs.readFileSync(file, 'utf8'));
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const self = new Map();
// --window=FROM-TO (ms since the profile started): only samples in that window (e.g. the load
// phase, without startup); the profiling scripts print the window of their load phase.
const windowArg = process.argv.find((a) => a.startsWith('--window='));
const [fromMs, toMs] = windowArg ? windowArg.slice(9).split('-').map(Number) : [0, Infinity];
let at = 0;
// timeDeltas[i] is the time before sample i; attribute it to that sample's node.
for (let i = 0; i < prof.samples.length; i++) {
  at += prof.timeDeltas[i] ?? 0;
  if (at / 1000 < fromMs || at / 1000 > toMs) continue;
  self.set(prof.samples[i], (self.get(prof.samples[i]) ?? 0) + (prof.timeDeltas[i] ?? 0));
}
const total = [...self.values()].reduce((a, b) => a + b, 0);

function area(url) {
  if (!url) return '(native/vm)';
  if (url.includes('/node_modules/')) return `npm:${url.split('/node_modules/')[1].split('/').slice(0, url.includes('/node_modules/@') ? 2 : 1).join('/')}`;
  if (url.startsWith('node:')) return url;
  if (url.includes('/dist/')) return `codexec:${url.split('/dist/')[1]}`;
  if (url.includes('/bench/')) return 'bench';
  return url;
}

const fn = new Map();
const areas = new Map();
for (const [id, us] of self) {
  const n = byId.get(id);
  const cf = n.callFrame;
  const key = `${cf.functionName || '(anonymous)'}  ${area(cf.url)}:${cf.lineNumber + 1}`;
  fn.set(key, (fn.get(key) ?? 0) + us);
  const a = cf.functionName === '(idle)' ? '(idle)' : cf.functionName === '(garbage collector)' ? '(gc)' : cf.functionName === '(program)' ? '(program)' : area(cf.url);
  areas.set(a, (areas.get(a) ?? 0) + us);
}
const pct = (us) => ((100 * us) / total).toFixed(1).padStart(5);
const ms = (us) => (us / 1000).toFixed(1).padStart(9);
console.log(`total sampled ${(total / 1000).toFixed(1)} ms (${prof.samples.length} samples)\n\nby area (self time):`);
for (const [k, us] of [...areas].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`${ms(us)} ms ${pct(us)}%  ${k}`);
console.log(`\ntop ${top} functions (self time):`);
for (const [k, us] of [...fn].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${ms(us)} ms ${pct(us)}%  ${k}`);

// --callers=NAME: where the self time of functions called NAME comes from (stacks, 6 deep).
const callersArg = process.argv.find((a) => a.startsWith('--callers='));
if (callersArg) {
  const name = callersArg.slice(10);
  const parent = new Map();
  for (const node of prof.nodes) for (const c of node.children ?? []) parent.set(c, node.id);
  const stacks = new Map();
  for (const [id, us] of self) {
    const node = byId.get(id);
    if (node.callFrame.functionName !== name) continue;
    const chain = [];
    for (let p = parent.get(id); p !== undefined && chain.length < 6; p = parent.get(p)) {
      const cf = byId.get(p).callFrame;
      chain.push(`${cf.functionName || '(anon)'}@${area(cf.url)}:${cf.lineNumber + 1}`);
    }
    const key = chain.join(' < ');
    stacks.set(key, (stacks.get(key) ?? 0) + us);
  }
  console.log(`\ncallers of ${name}:`);
  for (const [k, us] of [...stacks].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`${ms(us)} ms  ${k}`);
}
