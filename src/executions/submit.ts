import { randomUUID } from 'node:crypto';
import type { Config } from '../config/schema.js';
import { IdempotencyConflictError, InvalidRequestError, RateLimitedError } from '../domain/errors.js';
import type { ExecutionRecord } from '../domain/execution.js';
import type { LimitOverrides } from '../domain/limits.js';
import type { ComparisonMode, ExecutionPlan, TestCase } from '../domain/plan.js';
import { assertFaithfulText, assertMaxBytes } from '../domain/text.js';
import type { LanguageProfile } from '../languages/profile.js';
import type { LanguageRegistry } from '../languages/registry.js';
import type { EnqueueOptions, JobStore, NewExecution } from '../queue/job-store.js';
import type { Session } from '../sessions/session.js';
import { checkCallbackUrl } from '../webhooks/callback-url.js';
import { buildPlan } from './plan.js';
import { runRequestHash } from './request-hash.js';

// Submitting a run: the one path every entry point takes (the HTTP route, `codexec run` without a
// server, batch and the compatible APIs). In order: the input is checked (sizes, text, test
// cases); the language is resolved and the plan made (plan.ts); then, for a session's run, under
// the session's lock (no autosave, close or other run of it can interleave, on any node): the
// session must be ACTIVE, the cooldown passed, and the job is enqueued with the idempotency,
// in-flight and depth checks done atomically by the queue. On PostgreSQL the plain case (the
// session unchanged between a read and the enqueue, no cooldown, no refusal) is one statement
// after a read instead of a transaction held across the enqueue (SessionRuns.runInOneStatement);
// the same checks hold, and anything else takes the locked path. Executors hear of it through
// the queue's events.

/** A run's job, as the submit path builds it from a session's code. */
export interface SessionJob {
  input: NewExecution;
  opts: EnqueueOptions;
}

/** What a session store must offer the submit path (sessions/session-store.ts). */
export interface SessionRuns {
  submitRun<T>(id: string, decide: (session: Session) => Promise<{ value: T; accepted: boolean }>, now?: number): Promise<T>;
  /**
   * The plain case of a run in two round trips and no lock held between them (PostgreSQL, whose
   * sessions share the queue's database): the session is read; `job` builds the job from it, or
   * says null (not this way); then one statement locks the session, and only if it is unchanged
   * since the read, enqueues the job and records the run. Returns the new execution, or null for
   * anything else (the session not ACTIVE or changed meanwhile, a limit reached, an earlier job
   * with the key): the caller then takes submitRun, which decides and explains every case.
   */
  runInOneStatement?(id: string, job: (session: Session) => SessionJob | null, now?: number): Promise<ExecutionRecord | null>;
}

export interface SubmitDeps {
  config: Pick<
    Config,
    | 'maxSourceBytes'
    | 'maxStdinBytes'
    | 'outputBytes'
    | 'maxTestCases'
    | 'maxAttempts'
    | 'sessionMaxInFlight'
    | 'queueMaxDepth'
    | 'runCooldownMs'
    | 'webhookSecret'
    | 'webhookAllow'
  >;
  jobs: JobStore;
  languages: Pick<LanguageRegistry, 'resolve'>;
  /** Needed for runs of a session; inline runs need none. */
  sessions?: SessionRuns;
}

export interface TestCaseInput {
  name?: string;
  stdin?: string;
  expectedOutput: string;
  hidden?: boolean;
}

export interface RunSubmission {
  /** A session's current code, or code given inline with its language. */
  source: { sessionId: string } | { language: string; sourceCode: string };
  /** Who submits (an API key's id), or null. */
  owner?: string | null;
  stdin?: string;
  expectedOutput?: string | null;
  testCases?: TestCaseInput[] | null;
  comparison?: ComparisonMode;
  timeLimitMs?: number;
  /** The run's wall-clock and CPU limits apart (Judge0's wall_time_limit / cpu_time_limit); each wins over timeLimitMs. */
  wallTimeMs?: number;
  cpuTimeMs?: number;
  memoryLimitBytes?: number;
  /** Lower the compile phase's limits (Piston's compile_timeout, ...); never above the profile's. */
  compileLimits?: LimitOverrides;
  /** Arguments after the program's own command (Piston's args, Judge0's command_line_arguments). */
  args?: string[];
  idempotencyKey?: string | null;
  /** POST the result here when it finishes (a signed webhook; webhooks/callback-url.ts checks it). */
  callbackUrl?: string | null;
  /** The owner's quota of executions in flight (API keys), when it has one. */
  maxInFlightPerOwner?: number;
}

export interface Submitted {
  execution: ExecutionRecord;
  /** false: an idempotent replay returned the earlier execution. */
  created: boolean;
}

// How far back an idempotent replay is looked for when a cooldown would refuse the run: the
// original run is at most one cooldown old, so it is among the session's newest executions.
const REPLAY_LOOKBACK = 100;
const CASE_NAME = /^[A-Za-z0-9][A-Za-z0-9 _.:-]{0,63}$/;
// A run phase's argv is at most 64 words (sandbox/spec.ts): the profile's command takes the rest.
const MAX_ARGS = 32;
const MAX_ARGS_BYTES = 8192;

/** Program arguments reach the launcher as its own command line (sandbox/launcher-args.ts). */
function checkArgs(args: string[] | undefined): void {
  if (!args) return;
  if (args.length > MAX_ARGS) throw new InvalidRequestError(`at most ${MAX_ARGS} program arguments; got ${args.length}`, { limit: MAX_ARGS });
  let bytes = 0;
  for (const [i, arg] of args.entries()) {
    // A word is passed to execve as a C string: a NUL would cut it. The launcher counts the words
    // (native/PROTOCOL.md), so any other text, "--no-seccomp" included, reaches the program as is.
    if (arg === '' || arg.includes('\0')) throw new InvalidRequestError(`args[${i}]: a program argument cannot be empty or hold a NUL character`);
    assertFaithfulText(arg, `args[${i}]`);
    bytes += Buffer.byteLength(arg, 'utf8');
  }
  if (bytes > MAX_ARGS_BYTES) throw new InvalidRequestError(`the program arguments take ${bytes} bytes: at most ${MAX_ARGS_BYTES}`, { limit_bytes: MAX_ARGS_BYTES });
}

/** Checks a run's input against the limits; returns its test cases with names and defaults filled. */
export function checkRunInput(config: SubmitDeps['config'], s: RunSubmission): TestCase[] | null {
  assertMaxBytes(s.stdin, config.maxStdinBytes, 'stdin_too_large');
  assertMaxBytes(s.expectedOutput, config.outputBytes, 'expected_output_too_large');
  assertFaithfulText(s.stdin, 'stdin');
  assertFaithfulText(s.expectedOutput, 'expected_output');
  checkArgs(s.args);
  if (!s.testCases) return null;
  if (s.stdin !== undefined || (s.expectedOutput !== undefined && s.expectedOutput !== null)) {
    throw new InvalidRequestError('give either test_cases or stdin/expected_output, not both');
  }
  if (s.testCases.length === 0) throw new InvalidRequestError('test_cases is empty: give at least one case, or leave it out');
  if (s.testCases.length > config.maxTestCases) {
    throw new InvalidRequestError(`at most ${config.maxTestCases} test cases per run (CODEXEC_MAX_TEST_CASES); got ${s.testCases.length}`, { limit: config.maxTestCases });
  }
  const names = new Set<string>();
  return s.testCases.map((c, i) => {
    const name = c.name ?? String(i + 1);
    if (!CASE_NAME.test(name)) throw new InvalidRequestError(`test case ${i + 1}: name ${JSON.stringify(name.slice(0, 80))} must be 1-64 letters, digits, spaces or _.:-`);
    if (names.has(name)) throw new InvalidRequestError(`test case name ${JSON.stringify(name)} is used twice`);
    names.add(name);
    assertMaxBytes(c.stdin, config.maxStdinBytes, 'stdin_too_large');
    assertMaxBytes(c.expectedOutput, config.outputBytes, 'expected_output_too_large');
    assertFaithfulText(c.stdin, `test_cases[${i}].stdin`);
    assertFaithfulText(c.expectedOutput, `test_cases[${i}].expected_output`);
    return { name, stdin: c.stdin ?? '', expectedOutput: c.expectedOutput, hidden: c.hidden ?? false };
  });
}

function overridesOf(s: RunSubmission): LimitOverrides {
  const o: LimitOverrides = {};
  if (s.timeLimitMs !== undefined) o.wallTimeMs = o.cpuTimeMs = s.timeLimitMs;
  if (s.wallTimeMs !== undefined) o.wallTimeMs = s.wallTimeMs;
  if (s.cpuTimeMs !== undefined) o.cpuTimeMs = s.cpuTimeMs;
  if (s.memoryLimitBytes !== undefined) o.memoryBytes = s.memoryLimitBytes;
  return o;
}

/** Plan and hash of a run of `sourceCode` in `profile`. */
function prepare(deps: SubmitDeps, profile: LanguageProfile, sourceCode: string, s: RunSubmission, testCases: TestCase[] | null, callbackUrl: string | null) {
  assertMaxBytes(sourceCode, deps.config.maxSourceBytes, 'source_too_large');
  assertFaithfulText(sourceCode, 'source_code');
  const plan = buildPlan(profile, {
    sourceCode,
    stdin: s.stdin ?? '',
    expectedOutput: s.expectedOutput ?? null,
    testCases,
    comparison: s.comparison,
    overrides: overridesOf(s),
    compileOverrides: s.compileLimits,
    args: s.args,
  });
  const requestHash = runRequestHash({
    language: profile.id,
    sourceCode,
    stdin: plan.stdin,
    expectedOutput: plan.expectedOutput,
    testCases,
    comparison: plan.comparison,
    timeLimitMs: s.timeLimitMs ?? null,
    memoryLimitBytes: s.memoryLimitBytes ?? null,
    wallTimeMs: s.wallTimeMs,
    cpuTimeMs: s.cpuTimeMs,
    compileLimits: s.compileLimits,
    args: s.args,
    // Absent (not null) without one: the hash of a run without a callback is what it always was.
    callbackUrl: callbackUrl ?? undefined,
  });
  return { plan, requestHash };
}

function jobOf(deps: SubmitDeps, s: RunSubmission, sessionId: string | null, sourceCode: string, plan: ExecutionPlan, requestHash: string, now: number, callbackUrl: string | null): SessionJob {
  return {
    input: { id: randomUUID(), sessionId, owner: s.owner ?? null, sourceCode, plan, maxAttempts: deps.config.maxAttempts, callbackUrl },
    opts: {
      idempotencyKey: s.idempotencyKey ?? null,
      requestHash,
      maxInFlightPerSession: sessionId === null ? undefined : deps.config.sessionMaxInFlight,
      maxInFlightPerOwner: s.maxInFlightPerOwner,
      maxQueueDepth: deps.config.queueMaxDepth,
      now,
    },
  };
}

/** Submits one run; see the comment at the top of this file. */
export async function submitRun(deps: SubmitDeps, s: RunSubmission, now = Date.now()): Promise<Submitted> {
  const testCases = checkRunInput(deps.config, s);
  const callbackUrl = s.callbackUrl ? checkCallbackUrl(s.callbackUrl, deps.config) : null;
  if ('sourceCode' in s.source) {
    const { plan, requestHash } = prepare(deps, deps.languages.resolve(s.source.language), s.source.sourceCode, s, testCases, callbackUrl);
    const job = jobOf(deps, s, null, s.source.sourceCode, plan, requestHash, now, callbackUrl);
    return deps.jobs.enqueue(job.input, job.opts);
  }
  const sessionId = s.source.sessionId;
  const sessions = deps.sessions;
  if (!sessions) throw new Error('submitRun: a session run needs the session store');
  const build = (session: Session) => {
    const { plan, requestHash } = prepare(deps, deps.languages.resolve(session.language), session.sourceCode, s, testCases, callbackUrl);
    return { requestHash, job: jobOf(deps, s, sessionId, session.sourceCode, plan, requestHash, now, callbackUrl) };
  };
  // Never more than the cooldown: a run recorded with a later clock (another node's, or a run
  // submitted a moment after this one that took the lock first) must not refuse this one longer,
  // nor at all when there is no cooldown.
  const cooldown = deps.config.runCooldownMs;
  const cooldownLeftMs = (session: Session) => (session.lastRunAt === null || cooldown === 0 ? 0 : Math.min(cooldown, session.lastRunAt + cooldown - now));
  if (sessions.runInOneStatement) {
    const execution = await sessions.runInOneStatement(sessionId, (session) => (cooldownLeftMs(session) > 0 ? null : build(session).job), now);
    if (execution) {
      // Enqueued outside the job store: told to this process as the store tells its own enqueues.
      deps.jobs.events.own({ kind: 'available', id: execution.id, row: execution });
      return { execution, created: true };
    }
  }
  return sessions.submitRun(
    sessionId,
    async (session) => {
      const { requestHash, job } = build(session);
      const waitMs = cooldownLeftMs(session);
      if (waitMs > 0) {
        // A retry of the run that started the cooldown is answered, not refused.
        const replay = await findReplay(deps.jobs, sessionId, s.idempotencyKey ?? null, requestHash);
        if (replay) return { value: { execution: replay, created: false }, accepted: false };
        throw new RateLimitedError(`this session ran less than ${deps.config.runCooldownMs} ms ago; retry in ${waitMs} ms`, waitMs / 1000, 'run_cooldown');
      }
      const result = await deps.jobs.enqueue(job.input, job.opts);
      return { value: result, accepted: result.created };
    },
    now,
  );
}

/** The earlier run with this Idempotency-Key, if it is recent; 409 when its request differs. */
async function findReplay(jobs: JobStore, sessionId: string, key: string | null, requestHash: string): Promise<ExecutionRecord | null> {
  if (key === null) return null;
  const earlier = (await jobs.listBySession(sessionId, REPLAY_LOOKBACK)).find((e) => e.idempotencyKey === key);
  if (earlier && earlier.requestHash !== requestHash) throw new IdempotencyConflictError();
  return earlier ?? null;
}
