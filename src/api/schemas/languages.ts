import { Type, type Static } from '@sinclair/typebox';
import { Nullable } from './common.js';

const Int = (description: string) => Type.Integer({ minimum: 0, description });

export const LimitsJson = Type.Object({
  wall_time_ms: Int('Wall-clock time'),
  cpu_time_ms: Int('CPU time'),
  memory_bytes: Int('Memory (cgroup, no swap)'),
  processes: Int('Processes and threads'),
  stdout_bytes: Int('stdout kept'),
  stderr_bytes: Int('stderr kept'),
  file_size_bytes: Int('Largest file written'),
  tmpfs_bytes: Int('Size of the working directory'),
  open_files: Int('Open file descriptors'),
});
export type LimitsJson = Static<typeof LimitsJson>;

export const LanguageJson = Type.Object({
  id: Type.String({ description: 'What POST /code-sessions takes as language' }),
  name: Type.String(),
  version: Nullable(Type.String({ description: 'Probed from the toolchain at startup; null when it is missing' })),
  available: Type.Boolean({ description: 'Whether the toolchain is installed on this host; sessions in an unavailable language get 422' }),
  missing: Type.Array(Type.String(), { description: 'Toolchain binaries not found, when unavailable' }),
  aliases: Type.Array(Type.String()),
  extensions: Type.Array(Type.String()),
  compiled: Type.Boolean({ description: 'Has a compile step (compile_output and compile_time_ms are set)' }),
  limits: Type.Object({
    default: LimitsJson,
    maximum: Type.Object(LimitsJson.properties, { description: 'time_limit_ms and memory_limit_bytes on a run are clamped to these' }),
  }),
});
export type LanguageJson = Static<typeof LanguageJson>;

export const LanguageListResponse = Type.Array(LanguageJson);
export type LanguageListResponse = Static<typeof LanguageListResponse>;
