import fs from 'node:fs';
import path from 'node:path';
import { CodexecError } from '../domain/errors.js';
import type { ExecutionResponse } from '../api/schemas/executions.js';

// `codexec run main.py --tests DIR/`: an exercise's cases as files, NAME.in (optional: no input)
// and NAME.out (the expected output), and the table of their verdicts.

export interface CaseFiles {
  name: string;
  stdin: string;
  expectedOutput: string;
}

const usage = (message: string) => new CodexecError('invalid_flag', 2, `--tests: ${message}`);

/** The cases of `dir`, in natural order of their names (2 before 10). */
export function readTestDir(dir: string, limits: { maxCases: number; maxInputBytes: number; maxOutputBytes: number }): CaseFiles[] {
  let entries: string[];
  try {
    entries = fs.readdirSync(dir);
  } catch {
    throw usage(`${dir} is not a directory`);
  }
  const outs = entries.filter((f) => f.endsWith('.out')).map((f) => f.slice(0, -4));
  const orphans = entries.filter((f) => f.endsWith('.in') && !outs.includes(f.slice(0, -3)));
  if (orphans.length > 0) throw usage(`${orphans.join(', ')} in ${dir} has no .out file with the expected output`);
  if (outs.length === 0) throw usage(`${dir} holds no NAME.out files (each case: NAME.in with its input, NAME.out with the expected output)`);
  if (outs.length > limits.maxCases) throw usage(`${dir} holds ${outs.length} cases; at most ${limits.maxCases} (CODEXEC_MAX_TEST_CASES)`);
  const read = (file: string, max: number) => {
    const st = fs.statSync(file);
    if (st.size > max) throw usage(`${file} is ${st.size} bytes; the limit is ${max}`);
    return fs.readFileSync(file, 'utf8');
  };
  return outs
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
    .map((name) => {
      const input = path.join(dir, `${name}.in`);
      return {
        name,
        stdin: fs.existsSync(input) ? read(input, limits.maxInputBytes) : '',
        expectedOutput: read(path.join(dir, `${name}.out`), limits.maxOutputBytes),
      };
    });
}

/** One line per case (name, status, time), then the first lines of feedback of those that failed. */
export function casesTable(e: ExecutionResponse): string {
  const cases = e.test_cases ?? [];
  const width = Math.max(4, ...cases.map((c) => c.name.length));
  const lines = [`${'CASE'.padEnd(width)}  ${'STATUS'.padEnd(14)}  TIME`];
  for (const c of cases) {
    const time = c.time_ms === null ? '-' : `${c.time_ms} ms`;
    lines.push(`${c.name.padEnd(width)}  ${c.status.padEnd(14)}  ${time}${c.hidden ? '  (hidden)' : ''}`);
  }
  for (const c of cases) if (c.status !== 'passed' && c.feedback) lines.push(`  ${c.name}: ${c.feedback}`);
  return `${lines.join('\n')}\n`;
}
