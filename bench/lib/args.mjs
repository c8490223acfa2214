import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// Command-line options shared by the benchmarks: --short (CI: small counts, checks that the
// benchmark works, not how fast), --n=COUNT, --json=FILE (append this benchmark's result).

export function parseArgs(argv = process.argv.slice(2)) {
  const out = { short: false, json: null, n: null, extra: {} };
  for (const a of argv) {
    if (a === '--short') out.short = true;
    else if (a.startsWith('--json=')) out.json = a.slice(7);
    else if (a.startsWith('--n=')) out.n = positiveInt(a.slice(4), '--n');
    else if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      out.extra[eq < 0 ? a.slice(2) : a.slice(2, eq)] = eq < 0 ? true : a.slice(eq + 1); // a value may hold '='
    } else throw new Error(`unexpected argument ${a}`);
  }
  return out;
}

export function positiveInt(raw, name) {
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name}: expected a positive whole number, got ${raw}`);
  return n;
}

/** True when this module is the script node was started with (not imported by run-all). */
export function isMain(importMetaUrl) {
  if (!process.argv[1]) return false;
  try {
    return fileURLToPath(importMetaUrl) === fs.realpathSync(path.resolve(process.argv[1]));
  } catch {
    return false;
  }
}
