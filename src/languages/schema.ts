import { Type, type Static } from '@sinclair/typebox';
import { ENTRY_POINT_DETECTORS } from './entry-point.js';

// JSON schema of a language profile file (sandbox-profiles/languages/*.json). The TypeScript type
// in profile.ts mirrors it; a test checks that every shipped profile validates.
const LimitsPartial = Type.Partial(
  Type.Object(
    {
      wallTimeMs: Type.Integer({ minimum: 1 }),
      cpuTimeMs: Type.Integer({ minimum: 1 }),
      memoryBytes: Type.Integer({ minimum: 1024 * 1024 }),
      processes: Type.Integer({ minimum: 1 }),
      stdoutBytes: Type.Integer({ minimum: 1 }),
      stderrBytes: Type.Integer({ minimum: 1 }),
      fileSizeBytes: Type.Integer({ minimum: 0 }),
      tmpfsBytes: Type.Integer({ minimum: 1024 * 1024 }),
      openFiles: Type.Integer({ minimum: 16 }),
    },
    { additionalProperties: false },
  ),
);

const Command = Type.Array(Type.String({ minLength: 1 }), { minItems: 1 });

export const LanguageProfileSchema = Type.Object(
  {
    $schema: Type.Optional(Type.String()),
    id: Type.String({ pattern: '^[a-z][a-z0-9_+-]{0,31}$' }),
    name: Type.String({ minLength: 1 }),
    aliases: Type.Optional(Type.Array(Type.String({ pattern: '^[a-z][a-z0-9_+.-]{0,31}$' }))),
    extensions: Type.Array(Type.String({ pattern: '^\\.[A-Za-z0-9]+$' }), { minItems: 1 }),
    sourceFile: Type.String({ pattern: '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$' }),
    toolchain: Type.Record(Type.String({ pattern: '^[a-z][a-z0-9_]*$' }), Type.Array(Type.String({ pattern: '^/' }), { minItems: 1 })),
    version: Type.Object({ command: Command, pattern: Type.String() }, { additionalProperties: false }),
    compile: Type.Optional(Type.Object({ command: Command, limits: Type.Optional(LimitsPartial) }, { additionalProperties: false })),
    run: Type.Object({ command: Command }, { additionalProperties: false }),
    env: Type.Optional(Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }), Type.String())),
    binds: Type.Optional(Type.Array(Type.String({ pattern: '^/(?!(dev|proc)(/|$))', description: 'Host paths bound read-only; not /dev or /proc (the sandbox builds its own: native/args.c)' }))),
    seccomp: Type.String({ pattern: '^[a-z0-9-]+$' }),
    entryPoint: Type.Optional(
      Type.Object(
        { detect: Type.Union(ENTRY_POINT_DETECTORS.map((d) => Type.Literal(d)), { description: 'Find the file and main class the source names (java_class: a public class HelloWorld is saved as HelloWorld.java and run as HelloWorld)' }) },
        { additionalProperties: false },
      ),
    ),
    template: Type.String(),
    limits: Type.Optional(
      Type.Object({ default: Type.Optional(LimitsPartial), maximum: Type.Optional(LimitsPartial) }, { additionalProperties: false }),
    ),
  },
  { additionalProperties: false },
);

export type LanguageProfileJson = Static<typeof LanguageProfileSchema>;
