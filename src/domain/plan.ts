import type { Limits } from './limits.js';

// What an execution means, decided once when it is submitted and stored with the job: the
// language's resolved commands, the effective limits, the input and the test cases. Any executor,
// on any host, runs the plan as stored; it never looks at its own language profiles or settings.
// A profile changed or removed after submission cannot change or break a queued job.

export const PLAN_VERSION = 1;

/** How a case's stdout is compared with its expected output. */
export const COMPARISON_MODES = ['exact', 'trailing_whitespace', 'tokens'] as const;
export type ComparisonMode = (typeof COMPARISON_MODES)[number];
export const DEFAULT_COMPARISON: ComparisonMode = 'trailing_whitespace';

export interface TestCase {
  /** Unique within the execution; "1", "2", ... when the request gave none. */
  name: string;
  stdin: string;
  expectedOutput: string;
  /** Its stdin, expected output and the program's output on it are never shown: only its verdict. */
  hidden: boolean;
}

/** One phase's program and limits: argv fully resolved (toolchain paths, placeholders filled). */
export interface PhasePlan {
  argv: string[];
  limits: Limits;
}

export interface ExecutionPlan {
  version: typeof PLAN_VERSION;
  language: {
    id: string;
    name: string;
    /** Toolchain version probed by the process that planned it (null when not probed). */
    version: string | null;
    /** sha256 of the profile file and its resolved toolchain, for tracing which profile planned it. */
    profileDigest: string;
  };
  /** File name of the source in the working directory (Main.java, HelloWorld.java, main.py). */
  sourceFile: string;
  compile: PhasePlan | null;
  run: PhasePlan;
  /** The program's environment beyond the sandbox's base environment. */
  env: Record<string, string>;
  /** Read-only host paths the profile exposes beyond the base system binds. */
  binds: string[];
  /**
   * The seccomp profile by name, and the digest of the file that planned it. The policy itself is
   * the executing host's (a security policy tightened by the operator applies at once, also to
   * queued jobs); the digest recorded in the result says which one ran.
   */
  seccomp: { name: string; digest: string };
  /** Single run: the program's stdin and optional expected output. Unused when testCases is set. */
  stdin: string;
  expectedOutput: string | null;
  /** Test cases: compile once, then each case runs in a fresh sandbox with the run limits. */
  testCases: TestCase[] | null;
  comparison: ComparisonMode;
}
