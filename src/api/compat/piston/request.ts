import { UnsupportedFieldError } from '../../../domain/errors.js';
import type { LimitOverrides } from '../../../domain/limits.js';
import type { RunSubmission } from '../../../executions/submit.js';
import type { LanguageRegistry } from '../../../languages/registry.js';
import { decodeText } from '../encoding.js';
import { MIN_MEMORY_BYTES, MIN_TIME_MS, requestedLimit, runTimes } from '../limits.js';
import { resolveRuntime } from './runtimes.js';
import type { ExecuteBody } from './schemas.js';

// A Piston execute request as a codexec run. Limits are Piston's: -1 (or absent) means "the
// server's own", here the language's default (run) or its compile limits (compile); a value
// above the language's maximum is refused, as Piston refuses one above its configured maximum.
// A compile limit may only lower the profile's. File names are not used: the source is saved
// under the language's own name (main.py; Java: its public class).

type Ms = number | null | undefined;
const given = (v: Ms): number | undefined => (v === undefined || v === null || v === -1 ? undefined : v);

/** The run and the language's profile of a Piston execute request. */
export function pistonRun(body: ExecuteBody, languages: Pick<LanguageRegistry, 'find'>) {
  const profile = resolveRuntime(body.language, body.version ?? undefined, languages);
  if (body.files.length > 1) {
    throw new UnsupportedFieldError('files', `codexec runs one source file; got ${body.files.length} (send the program alone)`);
  }
  const file = body.files[0]!;
  const sourceCode = decodeText(file.content, file.encoding ?? 'utf8', 'files[0].content');
  const { default: def, maximum } = profile.limits;

  const limit = (field: keyof ExecuteBody, v: Ms, unit: 'ms' | 'bytes', max: number) => {
    const n = given(v);
    return n === undefined ? undefined : requestedLimit(field, n, 1, unit, unit === 'ms' ? MIN_TIME_MS : MIN_MEMORY_BYTES, max);
  };
  const wall = limit('run_timeout', body.run_timeout, 'ms', maximum.wallTimeMs);
  const cpu = limit('run_cpu_time', body.run_cpu_time, 'ms', maximum.cpuTimeMs);
  // run_timeout alone bounds CPU time too (Piston before run_cpu_time existed).
  const times = wall !== undefined && cpu === undefined ? { wallTimeMs: wall, cpuTimeMs: Math.min(wall, maximum.cpuTimeMs) } : runTimes(cpu, wall, { default: def, maximum });
  const memoryLimitBytes = limit('run_memory_limit', body.run_memory_limit, 'bytes', maximum.memoryBytes);

  const compileLimits: LimitOverrides = {};
  if (profile.compile) {
    const c = profile.compile.limits;
    const cw = limit('compile_timeout', body.compile_timeout, 'ms', c.wallTimeMs);
    const cc = limit('compile_cpu_time', body.compile_cpu_time, 'ms', c.cpuTimeMs);
    const cm = limit('compile_memory_limit', body.compile_memory_limit, 'bytes', c.memoryBytes);
    if (cw !== undefined) compileLimits.wallTimeMs = cw;
    if (cc !== undefined) compileLimits.cpuTimeMs = cc;
    if (cm !== undefined) compileLimits.memoryBytes = cm;
  }

  const submission: RunSubmission = {
    source: { language: profile.id, sourceCode },
    stdin: body.stdin ?? undefined,
    ...(times.wallTimeMs === undefined ? {} : { wallTimeMs: times.wallTimeMs }),
    ...(times.cpuTimeMs === undefined ? {} : { cpuTimeMs: times.cpuTimeMs }),
    ...(memoryLimitBytes === undefined ? {} : { memoryLimitBytes }),
    ...(Object.keys(compileLimits).length === 0 ? {} : { compileLimits }),
    ...(body.args && body.args.length > 0 ? { args: body.args } : {}),
  };
  return { submission, profile };
}
