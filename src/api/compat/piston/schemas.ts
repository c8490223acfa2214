import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Nullable } from '../../schemas/common.js';

// Request and response shapes of the Piston v2 subset (its API documentation, read and restated).
// Optional fields may also be sent as null (some clients serialise unset fields so). Any field
// Piston does not define is refused.

const NullableOptional = <T extends TSchema>(t: T) => Type.Optional(Type.Union([t, Type.Null()]));
const Ms = (description: string) => NullableOptional(Type.Number({ description }));

export const PistonFile = Type.Object(
  {
    name: NullableOptional(Type.String({ maxLength: 255, description: 'Accepted, not used: the source is saved under the language\'s own name (main.py; Java: its public class)' })),
    content: Type.String({ description: 'At most CODEXEC_MAX_SOURCE_BYTES once decoded' }),
    encoding: NullableOptional(Type.Union([Type.Literal('utf8'), Type.Literal('base64'), Type.Literal('hex')], { description: 'Default utf8' })),
  },
  { additionalProperties: false },
);

export const ExecuteBody = Type.Object(
  {
    language: Type.String({ minLength: 1, maxLength: 64, description: 'A runtime\'s language or alias (GET /api/v2/runtimes)' }),
    version: NullableOptional(Type.String({ maxLength: 64, description: '"*", a version or a prefix ("3.x"); default "*"' })),
    files: Type.Array(PistonFile, { minItems: 1, maxItems: 64, description: 'One file: codexec runs one source file (more: 422 unsupported_field)' }),
    stdin: NullableOptional(Type.String({ description: 'At most CODEXEC_MAX_STDIN_BYTES' })),
    args: NullableOptional(Type.Array(Type.String(), { maxItems: 64, description: 'At most 32 non-empty arguments, 8 KiB in all' })),
    compile_timeout: Ms('Compile wall-clock limit, ms; -1 or absent: the language\'s; at most it (422 limit_above_maximum)'),
    run_timeout: Ms('Run wall-clock limit, ms (and CPU limit, unless run_cpu_time); -1 or absent: CODEXEC_WALL_TIME_MS; at most the language\'s maximum'),
    compile_cpu_time: Ms('Compile CPU limit, ms; -1 or absent: the language\'s'),
    run_cpu_time: Ms('Run CPU limit, ms; -1 or absent: run_timeout, else CODEXEC_CPU_TIME_MS'),
    compile_memory_limit: Ms('Compile memory limit, bytes; -1 or absent: the language\'s'),
    run_memory_limit: Ms('Run memory limit, bytes (a cgroup: the whole run); -1 or absent: CODEXEC_MEMORY_BYTES'),
  },
  { additionalProperties: false },
);
export type ExecuteBody = Static<typeof ExecuteBody>;

export const Stage = Type.Object({
  stdout: Type.String(),
  stderr: Type.String(),
  output: Type.String({ description: 'stdout, then stderr (codexec keeps the two apart, not their interleaving)' }),
  code: Nullable(Type.Integer({ description: 'Exit code, or null when the program was killed' })),
  signal: Nullable(Type.String({ description: 'SIGKILL for a limit; the signal that killed the program; else null' })),
  message: Nullable(Type.String()),
  status: Nullable(Type.String({ description: 'RE runtime error, SG killed by a signal (or the memory limit), TO time limit, OL output limit; null when it exited 0' })),
  cpu_time: Nullable(Type.Integer({ description: 'ms' })),
  wall_time: Nullable(Type.Integer({ description: 'ms' })),
  memory: Nullable(Type.Integer({ description: 'bytes, peak' })),
});
export type Stage = Static<typeof Stage>;

export const ExecuteResponse = Type.Object({
  language: Type.String(),
  version: Type.String(),
  run: Type.Optional(Stage),
  compile: Type.Optional(Stage),
});
export type ExecuteResponse = Static<typeof ExecuteResponse>;

export const RuntimeList = Type.Array(Type.Object({ language: Type.String(), version: Type.String(), aliases: Type.Array(Type.String()) }));

export const PistonError = Type.Object(
  { message: Type.String() },
  { description: 'Piston\'s shape; codexec\'s stable code is in the Codexec-Error-Code header' },
);
