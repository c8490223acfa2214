import type { ComparisonMode } from './plan.js';

// Comparing a program's output with an expected output, in the three modes a run may ask for:
//   exact                every byte (a Windows line ending is a difference);
//   trailing_whitespace  (the default) \r\n is \n, each line's trailing whitespace and the
//                        trailing blank lines are ignored;
//   tokens               whitespace-separated tokens must be equal, however they are spaced.
// A comparison says where the outputs first differ, for the learner's feedback line.

export interface Comparison {
  passed: boolean;
  /** "line 2" / "token 5" / "byte 17"; null when passed. */
  where: string | null;
  expected: string | null;
  actual: string | null;
}

const PASSED: Comparison = { passed: true, where: null, expected: null, actual: null };

function lines(s: string): string[] {
  const out = s.replace(/\r\n/g, '\n').split('\n').map((l) => l.replace(/\s+$/, ''));
  while (out.length > 0 && out[out.length - 1] === '') out.pop();
  return out;
}

function firstDifference(a: string[], e: string[], unit: string): Comparison {
  const n = Math.max(a.length, e.length);
  for (let i = 0; i < n; i++) if (a[i] !== e[i]) return { passed: false, where: `${unit} ${i + 1}`, expected: e[i] ?? null, actual: a[i] ?? null };
  return PASSED;
}

export function compareOutput(actual: string, expected: string, mode: ComparisonMode = 'trailing_whitespace'): Comparison {
  switch (mode) {
    case 'exact': {
      if (actual === expected) return PASSED;
      let i = 0;
      while (i < actual.length && i < expected.length && actual[i] === expected[i]) i++;
      const at = (s: string) => (i < s.length ? s.slice(i, i + 20) : null);
      return { passed: false, where: `character ${i + 1}`, expected: at(expected), actual: at(actual) };
    }
    case 'trailing_whitespace':
      return firstDifference(lines(actual), lines(expected), 'line');
    case 'tokens': {
      const tokens = (s: string) => s.split(/\s+/).filter((t) => t !== '');
      return firstDifference(tokens(actual), tokens(expected), 'token');
    }
  }
}

/** "Wrong answer: line 2 differs: expected "3", got "4"." */
export function describeDifference(c: Comparison): string {
  const cut = (s: string | null) => (s === null ? '(nothing)' : JSON.stringify(s.length > 60 ? `${s.slice(0, 60)}…` : s));
  return `Wrong answer: ${c.where} differs: expected ${cut(c.expected)}, got ${cut(c.actual)}.`;
}
