import { clampLimits, type LimitOverrides } from '../domain/limits.js';
import { DEFAULT_COMPARISON, PLAN_VERSION, type ComparisonMode, type ExecutionPlan, type TestCase } from '../domain/plan.js';
import { detectEntryPoint, type EntryPoint } from '../languages/entry-point.js';
import { fillPlaceholders } from '../languages/placeholders.js';
import type { LanguageProfile } from '../languages/profile.js';

// Turns a request into the plan stored with its job (domain/plan.ts): the language profile as it
// is now, the limits after clamping, the commands with every placeholder filled. Pure: the same
// profile and request give the same plan, and nothing here reads a setting or a file.

export interface PlanInput {
  sourceCode: string;
  stdin: string;
  expectedOutput: string | null;
  testCases: TestCase[] | null;
  comparison?: ComparisonMode;
  overrides: LimitOverrides;
  /** May only lower the profile's compile limits. */
  compileOverrides?: LimitOverrides;
  /** Appended to the run command as they are (no placeholder is filled in them). */
  args?: string[];
}

/** The file the source is saved as and the class to run (Java names them; others use the profile's). */
export function entryPointOf(profile: LanguageProfile, sourceCode: string): EntryPoint {
  const fallback = { sourceFile: profile.sourceFile, mainClass: profile.sourceFile.replace(/\.[^.]+$/, '') };
  return profile.entryPoint ? detectEntryPoint(profile.entryPoint.detect, sourceCode, fallback) : fallback;
}

export function buildPlan(profile: LanguageProfile, input: PlanInput): ExecutionPlan {
  const runLimits = clampLimits(profile.limits.default, profile.limits.maximum, input.overrides);
  const entry = entryPointOf(profile, input.sourceCode);
  const compileLimits = profile.compile ? clampLimits(profile.compile.limits, profile.compile.limits, input.compileOverrides) : null;
  const compile =
    profile.compile && compileLimits ? { argv: fillPlaceholders(profile.compile.argv, { limits: compileLimits, ...entry }), limits: compileLimits } : null;
  return {
    version: PLAN_VERSION,
    language: { id: profile.id, name: profile.name, version: profile.version, profileDigest: profile.digest },
    sourceFile: entry.sourceFile,
    compile,
    run: { argv: [...fillPlaceholders(profile.run.argv, { limits: runLimits, ...entry }), ...(input.args ?? [])], limits: runLimits },
    env: { ...profile.env },
    binds: [...profile.binds],
    seccomp: { name: profile.seccomp, digest: profile.seccompDigest },
    stdin: input.testCases ? '' : input.stdin,
    expectedOutput: input.testCases ? null : input.expectedOutput,
    testCases: input.testCases,
    comparison: input.comparison ?? DEFAULT_COMPARISON,
  };
}
